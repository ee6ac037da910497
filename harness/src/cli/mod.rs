//! The subcommands of `mynasim`, one module each. `bin/mynasim.rs` parses the arguments and
//! dispatches here; errors are `anyhow` messages for people (this is the binary's edge).

use std::path::PathBuf;

use anyhow::{Context, Result};

/// `println!` that reports a closed standard output as an error instead of panicking
/// (`mynasim inspect | head` must not panic).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

pub mod apdu;
pub mod bench;
pub mod ctl;
pub mod export;
pub mod inspect;
pub mod pcsc_status;
pub mod run;
pub mod serve;

/// Logs to standard error (no colour codes unless it is a terminal), and the APDU
/// transcript to `transcript` if given.
pub fn init_logging(filter: &str, transcript: Option<&PathBuf>) -> Result<()> {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_new(filter).context("bad --log filter")?;
    let stderr =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).with_filter(filter);
    let file_layer = match transcript {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .with_target(false)
                    .with_filter(tracing_subscriber::filter::Targets::new().with_target("mynasim::apdu", tracing::Level::DEBUG)),
            )
        }
        None => None,
    };
    tracing_subscriber::registry().with(stderr).with(file_layer).init();
    Ok(())
}
