//! `mynasim serve`: cards through vpcd, to the system pcscd or a private one.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use mynasim_harness::control::discover::{self, Registration};
use mynasim_harness::control::server::{ControlServer, Controller};
use mynasim_harness::inspector::{Inspector, InspectorError};
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;
use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxLogs, SandboxOptions, DEFAULT_PROFILE};
use mynasim_harness::vpcd;

use super::pcsc_status::wait_for_cards;

/// Serve cards through vpcd: to the system pcscd (default) or a private one (--private).
///
/// System mode connects card n to the vpcd slot at 127.0.0.1:35963+n (Debian's vpcd
/// listens there by default). Private mode starts an isolated pcscd and prints the
/// PCSCLITE_CSOCK_NAME to export; clients then see only these cards.
///
/// Either way, `mynasim ctl` changes and watches the running cards (lock a PIN, pull the
/// card, add latency, see the APDUs) through a control socket, found by itself when one
/// serve runs; --inspect shows the same in a web page.
#[derive(clap::Args)]
pub struct Args {
    /// Card profiles (YAML); none = one default card (`@default` names it among others).
    profiles: Vec<PathBuf>,
    /// Start a private pcscd in its own mount and network namespace.
    #[arg(long)]
    private: bool,
    /// vpcd address of the first card (HOST:PORT); card n uses PORT+n.
    #[arg(long, default_value = "127.0.0.1:35963", conflicts_with = "private", value_parser = vpcd_address)]
    vpcd: String,
    /// Write the APDU transcript (`> command` / `< response`, PINs masked) to this file.
    #[arg(long)]
    pub transcript: Option<PathBuf>,
    /// With --private: append pcscd's and the cards' logs to this file instead of standard
    /// error.
    #[arg(long, value_name = "FILE", requires = "private")]
    log_file: Option<PathBuf>,
    /// The control socket for `mynasim ctl` (mode 0600). Default: `serve-<pid>.sock` in
    /// $XDG_RUNTIME_DIR/mynasim (or TEMP/mynasim-UID), where `ctl` looks.
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// Serve the web inspector on this machine: every card live, the APDUs decoded, buttons
    /// for the control operations. The URL to open (with its access token) is printed once
    /// it listens. Default address 127.0.0.1 on a free port; `--inspect=127.0.0.1:8080`
    /// picks one (loopback addresses only).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true, default_missing_value = "127.0.0.1:0", value_parser = loopback_address)]
    inspect: Option<SocketAddr>,
    /// Create this file once pcscd has powered the card (used by the sandbox); `{slot}`
    /// becomes each card's slot number.
    #[arg(long, hide = true)]
    ready_file: Option<PathBuf>,
    /// Serve a trivial card answering 90 00 to everything (benchmark baseline).
    #[arg(long, hide = true)]
    null_card: bool,
    /// Leave TCP_NODELAY/TCP_QUICKACK off (to measure the 44 ms stall they remove).
    #[arg(long, hide = true)]
    no_socket_fix: bool,
}

/// Prints a line for the user. A server goes on serving when nobody reads its output any
/// more (`serve --private | head -1`, a test that stops reading at the line it wanted), so
/// a closed standard output is not an error here, unlike in the one-shot commands.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(line).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
}

/// `--vpcd HOST:PORT`, checked while the arguments are parsed (a wrong one exits 2).
fn vpcd_address(text: &str) -> Result<String, String> {
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(text.to_owned()),
        _ => Err("write HOST:PORT, such as 127.0.0.1:35963".to_owned()),
    }
}

/// `--inspect=ADDR`: an IP address and port of this machine (checked while the arguments
/// are parsed).
fn loopback_address(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text.parse().map_err(|_| "write IP:PORT, such as 127.0.0.1:8080 (port 0: a free one)".to_owned())?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(InspectorError::NotLoopback(addr).to_string())
    }
}

/// Runs `serve`; `log` is the log filter, passed on to the cards of a private sandbox.
pub fn run(args: Args, log: &str) -> Result<()> {
    if args.private && args.profiles.len() > mynasim_harness::sandbox::MAX_CARDS {
        // Bad input, refused before anything starts (exit code 2, as for any argument error).
        clap::Error::raw(
            clap::error::ErrorKind::TooManyValues,
            format!(
                "--private serves at most {} cards (vpcd 3.3 serves two slots per pcscd), {} given; start another `serve --private` for more\n",
                mynasim_harness::sandbox::MAX_CARDS,
                args.profiles.len()
            ),
        )
        .exit();
    }
    if args.private {
        serve_private(args.profiles, args.transcript, args.log_file, args.control, args.inspect, log)
    } else {
        serve_system(args.profiles, &args.vpcd, args.ready_file, args.null_card, !args.no_socket_fix, args.control, args.inspect)
    }
}

/// Ends the process on SIGINT, SIGTERM and SIGHUP alike, even when the shell that started
/// it in the background made it ignore SIGINT (handlers replace an inherited "ignore").
/// `on_signal` runs in the handler's thread.
fn on_termination(on_signal: impl FnMut() + Send + 'static) -> Result<()> {
    ctrlc::set_handler(on_signal).context("cannot install the signal handler")
}

fn serve_system(
    profiles: Vec<PathBuf>,
    vpcd: &str,
    ready_file: Option<PathBuf>,
    null_card: bool,
    socket_fix: bool,
    control: Option<PathBuf>,
    inspect: Option<SocketAddr>,
) -> Result<()> {
    let (host, port) = vpcd.rsplit_once(':').context("--vpcd must be HOST:PORT")?;
    let port: u16 = port.parse().context("--vpcd port must be a number")?;
    // Card n's ready file: `{slot}` is its vpcd slot (port - 35963).
    let ready = |n: usize| {
        let slot = usize::from(port.saturating_sub(vpcd::FIRST_PORT)) + n;
        ready_file.as_ref().map(|p| PathBuf::from(p.display().to_string().replace("{slot}", &slot.to_string())))
    };
    if null_card {
        on_termination(|| std::process::exit(0))?;
        let addr = format!("{host}:{port}");
        return Ok(vpcd::serve(&mut vpcd::NullCard, &addr, ready(0).as_deref(), socket_fix)?);
    }
    let profiles: Vec<Option<PathBuf>> = if profiles.is_empty() {
        vec![None]
    } else {
        profiles.into_iter().map(|p| Some(p).filter(|p| p.as_os_str() != DEFAULT_PROFILE)).collect()
    };
    let mut cache = DirKeyCache::default_location();
    let mut cards = Vec::new();
    for profile in profiles {
        let card = load_card(profile.as_deref(), &mut cache)?;
        let profile = profile.map(std::path::absolute).transpose()?;
        cards.push((card, profile));
    }
    let controller = std::sync::Arc::new(Controller::new(cards));
    let control = match control {
        Some(path) => path,
        None => discover::own_entry().context("cannot create the folder for the control socket")?,
    };
    let server = ControlServer::start(std::sync::Arc::clone(&controller), &control)
        .with_context(|| format!("cannot listen on the control socket {}", control.display()))?;
    say(format_args!("# control: mynasim ctl status (socket {})", server.path().display()));
    // Serving at once, while the cards wait for pcscd too.
    let inspector = inspect.map(|addr| Inspector::start(addr, server.path())).transpose()?;
    if let Some(inspector) = &inspector {
        say(format_args!("# inspector: {}", inspector.url()));
    }
    // Each command's state is on disk before its answer leaves, so stopping at any moment
    // loses nothing; only the control socket is to be removed.
    let socket = server.path().to_path_buf();
    on_termination(move || {
        let _ = std::fs::remove_file(&socket);
        std::process::exit(0)
    })?;
    let slots = controller.slots();
    let count = slots.len();
    let mut threads = Vec::new();
    for (n, slot) in slots.into_iter().enumerate() {
        let addr = format!("{host}:{}", port + n as u16);
        let ready = ready(n);
        threads.push(std::thread::spawn(move || slot.serve(&addr, ready.as_deref(), socket_fix)));
    }
    if ready_file.is_none() {
        // Standing alone (not inside a sandbox): say when clients can use the cards.
        match wait_for_cards(count, std::time::Duration::from_secs(30)) {
            Ok(readers) => say(format_args!("ready: {} in {}", if count == 1 { "card" } else { "cards" }, readers.join(", "))),
            Err(e) => eprintln!("mynasim: {e:#} (the cards keep waiting for vpcd)"),
        }
    }
    for thread in threads {
        match thread.join() {
            Ok(result) => result?,
            Err(_) => anyhow::bail!("a card thread panicked"),
        }
    }
    drop(server);
    Ok(())
}

fn serve_private(
    profiles: Vec<PathBuf>,
    transcript: Option<PathBuf>,
    log_file: Option<PathBuf>,
    control: Option<PathBuf>,
    inspect: Option<SocketAddr>,
    log: &str,
) -> Result<()> {
    let mut options = SandboxOptions::new(std::env::current_exe().context("cannot find the mynasim binary")?);
    options.logs = match log_file {
        Some(path) => SandboxLogs::File(std::path::absolute(path)?),
        None => SandboxLogs::Inherit,
    };
    if !profiles.is_empty() {
        // Check the profiles here, so errors show before the sandbox starts.
        let mut cache = DirKeyCache::default_location();
        for p in &profiles {
            load_card(Some(p), &mut cache)?;
        }
        options.cards = profiles.into_iter().map(|p| CardSource::Profile(Some(p))).collect();
    }
    options.serve_args = vec!["--log".into(), log.into()];
    if let Some(path) = transcript {
        options.serve_args.extend(["--transcript".into(), std::path::absolute(path)?.display().to_string()]);
    }
    // The handler is in place before the sandbox starts, so Ctrl-C (or SIGTERM) during the
    // start tears down what was started, too.
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = std::sync::Arc::clone(&cancel);
    on_termination(move || {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = tx.send(());
    })?;
    options.cancel = Some(cancel);
    let sandbox = Sandbox::start(&options)?;
    let socket = sandbox.control_socket().context("the sandbox's cards opened no control socket")?;
    // `ctl` finds this serve by its entry in the runtime folder, and by --control PATH.
    let _registration = Registration::link(&socket).context("cannot register the control socket")?;
    let _named = control.map(|path| Registration::link_at(&path, &socket)).transpose().context("cannot create the --control link")?;
    say(format_args!("export PCSCLITE_CSOCK_NAME={}", sandbox.socket().display()));
    say(format_args!("# control: mynasim ctl status (socket {})", socket.display()));
    // Here, not in the sandbox: its 127.0.0.1 is its own network namespace's.
    let inspector = inspect.map(|addr| Inspector::start(addr, &socket)).transpose()?;
    if let Some(inspector) = &inspector {
        say(format_args!("# inspector: {}", inspector.url()));
    }
    // Last: whoever waits for it has every line above.
    say(format_args!("# ready: {} card(s) in a private pcscd; press Ctrl-C to stop", options.cards.len()));
    // Until a signal, or until part of the sandbox dies (which ends it): then say which.
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Some(died) = sandbox.died() {
                    anyhow::bail!("{died} died, and the sandbox with it; clients lost their cards");
                }
            }
        }
    }
    drop(sandbox);
    Ok(())
}
