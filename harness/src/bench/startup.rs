//! Start-up: how long until a user's first APDU is answered.
//!
//! - `mynasim serve --private` to the first APDU answered through its pcscd: from the
//!   spawn of `serve` to a client (a `bench-drive` child, started once `serve` prints its
//!   `export PCSCLITE_CSOCK_NAME=`) having its SELECT answered. Cold: an empty key cache
//!   (`MYNASIM_KEY_CACHE` a fresh folder, so the card's keys are generated); warm: the
//!   same folder again. The client's own process start (a few ms) is included.
//! - In process: `load_card` (issue) to the first SELECT answered, cold and warm, in a
//!   fresh process each (`mynasim bench-first-apdu`, timed inside it): a process that has
//!   issued the card before gets a duplicate from `load`'s issue cache instead, which is
//!   measured too (how a program holding many cards gets one more).
//! - `mynasim run` to its first scenario step: the step is a `shell` that writes the
//!   clock; from the spawn of `mynasim run` to that clock.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use super::drive::{Driver, Mode, Op};
use crate::keycache::DirKeyCache;

/// Seconds from spawning `mynasim serve --private` with `key_cache` to a client's first
/// APDU answered.
pub fn serve_to_first_apdu(mynasim: &Path, key_cache: &Path) -> Result<f64> {
    let start = Instant::now();
    let mut serve = Command::new(mynasim)
        .args(["--log", "warn", "serve", "--private"])
        .env("MYNASIM_KEY_CACHE", key_cache)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start mynasim serve --private")?;
    let result = (|| {
        let stdout = serve.stdout.take().context("no output from serve")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let socket = loop {
            match lines.next() {
                Some(line) => {
                    if let Some(s) = line?.strip_prefix("export PCSCLITE_CSOCK_NAME=") {
                        break s.to_owned();
                    }
                }
                None => bail!("mynasim serve --private ended before it was ready"),
            }
        };
        let driver = Driver::start(mynasim, Path::new(&socket), &[Op::Read], &Mode::Alternate { rounds: 0, every: vec![] })?;
        let took = start.elapsed().as_secs_f64();
        drop(driver);
        Ok(took)
    })();
    // serve tears its sandbox down on SIGTERM.
    if let Ok(pid) = i32::try_from(serve.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    }
    let _ = serve.wait();
    result
}

/// Seconds from `load_card` with the cache in `key_cache` to the first SELECT answered.
pub fn in_process_to_first_apdu(key_cache: &Path) -> Result<f64> {
    let start = Instant::now();
    let mut loaded = crate::load::load_card(None, &mut DirKeyCache::new(key_cache))?;
    let answer = loaded.card.transmit(&super::SELECT_JPKI);
    let took = start.elapsed().as_secs_f64();
    if answer != [0x90, 0x00] {
        bail!("the card refused SELECT: {answer:02X?}");
    }
    Ok(took)
}

/// Seconds from `load_card` to the first SELECT answered in a fresh process
/// (`mynasim bench-first-apdu`) whose key cache is `key_cache`.
pub fn fresh_process_to_first_apdu(mynasim: &Path, key_cache: &Path) -> Result<f64> {
    let output = Command::new(mynasim)
        .args(["--log", "warn", "bench-first-apdu"])
        .env("MYNASIM_KEY_CACHE", key_cache)
        .stdin(Stdio::null())
        .output()
        .context("cannot start mynasim bench-first-apdu")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("mynasim bench-first-apdu failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    text.trim().parse().with_context(|| format!("bad bench-first-apdu output {text:?}"))
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Seconds from spawning `mynasim run SCENARIO` to its first step (a pcscd scenario).
pub fn run_to_first_step(mynasim: &Path) -> Result<f64> {
    let dir = tempfile::Builder::new().prefix("mynasim-bench-run-").tempdir()?;
    let stamp = dir.path().join("first-step");
    let scenario = dir.path().join("first-step.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: first step\nsteps:\n  - shell: date +%s%N > {}\n  - apdu: 00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01\n",
            stamp.display()
        ),
    )?;
    let spawned = now_ns();
    let output = Command::new(mynasim).args(["--log", "warn", "run"]).arg(&scenario).stdin(Stdio::null()).output()?;
    if !output.status.success() {
        bail!("mynasim run failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stamped: u128 = std::fs::read_to_string(&stamp)?.trim().parse().context("bad clock from the first step")?;
    Ok(stamped.saturating_sub(spawned) as f64 / 1e9)
}
