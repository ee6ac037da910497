//! `mynasim`: serve virtual My Number cards to PC/SC programs, inspect them, send APDUs.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad input (profile, arguments).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::{load_card, LoadError, LoadedCard};
use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};
use mynasim_harness::{transcript, vpcd};
use mynasim_simulator::applets::{jpki, AppletId};
use mynasim_simulator::pins::PinId;
use mynasim_simulator::profile::ProfileError;

#[path = "../cli/run.rs"]
mod scenario_run;

#[derive(Parser)]
#[command(name = "mynasim", version, about = "A virtual Japanese My Number card for PC/SC, and a conformance harness")]
struct Cli {
    /// Log level or tracing filter (e.g. `info`, `debug`, `mynasim::apdu=debug` for the APDU transcript).
    #[arg(long, global = true, default_value = "info", env = "MYNASIM_LOG")]
    log: String,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Serve cards through vpcd: to the system pcscd (default) or a private one (--private).
    ///
    /// System mode connects card n to the vpcd slot at 127.0.0.1:35963+n (Debian's vpcd
    /// listens there by default). Private mode starts an isolated pcscd and prints the
    /// PCSCLITE_CSOCK_NAME to export; clients then see only these cards.
    Serve {
        /// Card profiles (YAML); none = one default card.
        profiles: Vec<PathBuf>,
        /// Start a private pcscd in its own mount and network namespace.
        #[arg(long)]
        private: bool,
        /// vpcd address of the first card (HOST:PORT); card n uses PORT+n.
        #[arg(long, default_value = "127.0.0.1:35963", conflicts_with = "private")]
        vpcd: String,
        /// Write the APDU transcript (`> command` / `< response`, PINs masked) to this file.
        #[arg(long)]
        transcript: Option<PathBuf>,
        /// Create this file once pcscd has powered the card (used by the sandbox).
        #[arg(long, hide = true)]
        ready_file: Option<PathBuf>,
        /// Serve a trivial card answering 90 00 to everything (benchmark baseline).
        #[arg(long, hide = true)]
        null_card: bool,
        /// Leave TCP_NODELAY/TCP_QUICKACK off (to measure the 44 ms stall they remove).
        #[arg(long, hide = true)]
        no_socket_fix: bool,
    },
    /// Print a card's state: PIN counters and locks, certificate validity.
    Inspect {
        /// Card profile (YAML); none = the default card.
        profile: Option<PathBuf>,
        /// Also print every PIN's value (a test card's, but still: only when asked).
        #[arg(long)]
        show_pins: bool,
    },
    /// Write a card's certificates (PEM) and the common AP's internal-authentication public
    /// key to a folder: auth.pem, sign.pem, auth-ca.pem, sign-ca.pem, common-internal-auth.pub.pem.
    Export {
        /// Card profile (YAML); none = the default card.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Output folder (created if missing).
        out: PathBuf,
    },
    /// Measure the APDU and signing paths against their ceilings, side by side in one run.
    ///
    /// In process: SELECT + READ BINARY per APDU, and signatures per second for each
    /// COMPUTE DIGITAL SIGNATURE P1 against OpenSSL's own RSA-2048 signing. With --pcsc:
    /// the READ BINARY round trip through a private pcscd, the card against a trivial
    /// 90 00 card (needs root or user namespaces, pcscd and vsmartcard-vpcd).
    Bench {
        /// Seconds per signing measurement.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Also measure through a private pcscd.
        #[arg(long)]
        pcsc: bool,
        /// Round trips per card through pcscd.
        #[arg(long, default_value_t = 2000)]
        rounds: usize,
        /// Serve the cards without TCP_NODELAY/TCP_QUICKACK, to see the stall they remove
        /// (use few --rounds: about 44 ms each).
        #[arg(long)]
        no_socket_fix: bool,
    },
    /// Run the real-client checks (OpenSC, pkcs11-tool + openssl, jpki-cli) against a card in
    /// a private pcscd and print a summary. Exit code 1 if any check fails.
    ///
    /// The last check locks the card's auth PIN (the card is thrown away afterwards).
    Check {
        /// Card profile (YAML); none = the default card.
        profile: Option<PathBuf>,
    },
    /// Run scenarios: YAML files that drive clients against cards in private pcscds, check
    /// the cards' state and inject faults. Prints a line per scenario and a summary.
    ///
    /// Folders are searched for *.yaml (profiles/ folders skipped). Every file is checked
    /// before anything runs; a bad file is an error naming its line and column (exit 2).
    /// Each pcscd scenario runs in its own mount, network and PID namespaces; scenarios with
    /// APDU steps only run in process when pcscd is unavailable (or with --in-process).
    /// Exit codes: 0 all passed, 1 a scenario failed, 2 bad input.
    Run {
        /// Scenario files or folders (default: scenarios/).
        paths: Vec<PathBuf>,
        /// Scenarios at once (default: the number of cores).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Run every scenario in process, without pcscd (those that need it are skipped).
        #[arg(long)]
        in_process: bool,
        /// Write a JUnit XML report to this file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Print the results as JSON on standard output (the summary goes to standard error).
        #[arg(long)]
        json: bool,
        /// Write one APDU transcript per scenario into this folder (replayable with scriptor).
        #[arg(long, value_name = "DIR")]
        transcript_dir: Option<PathBuf>,
        /// Show PIN bytes in transcripts and reports.
        #[arg(long)]
        show_pins: bool,
        /// Only check the files: parse them, resolve cards and variables, run nothing.
        #[arg(long)]
        check: bool,
        /// Run one scenario inside the current namespaces and print its result as JSON
        /// (what `mynasim run` starts for each scenario).
        #[arg(long, hide = true, value_name = "FILE")]
        worker: Option<PathBuf>,
    },
    /// List the PC/SC readers of the pcscd in PCSCLITE_CSOCK_NAME (or the system's), one
    /// line each: `present <reader>` or `empty <reader>`.
    PcscStatus,
    /// Send APDUs (hex) to a card in process and print the responses.
    Apdu {
        /// Card profile (YAML).
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Command APDUs in hex, e.g. 00A4040C0AD392F000260100000001.
        apdus: Vec<String>,
    },
}

/// `println!` that reports a closed standard output as an error instead of panicking
/// (`mynasim inspect | head` must not panic).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => {
            // The reader of our output went away (`| head`): nothing left to say.
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mynasim: {e:#}");
            let bad_input = e.chain().any(|c| {
                c.downcast_ref::<ProfileError>().is_some()
                    || c.downcast_ref::<LoadError>().is_some_and(LoadError::is_bad_input)
                    || c.downcast_ref::<scenario_run::BadScenarios>().is_some()
            });
            if e.chain().any(|c| c.downcast_ref::<scenario_run::ScenariosFailed>().is_some()) {
                return ExitCode::from(1);
            }
            if bad_input {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn init_logging(filter: &str, transcript: Option<&PathBuf>) -> Result<()> {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_new(filter).context("bad --log filter")?;
    use std::io::IsTerminal;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter);
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Commands::Serve { profiles, private, vpcd, transcript, ready_file, null_card, no_socket_fix } => {
            init_logging(&cli.log, transcript.as_ref())?;
            if private {
                serve_private(profiles, transcript, &cli.log)
            } else {
                serve_system(profiles, &vpcd, ready_file, null_card, !no_socket_fix)
            }
        }
        Commands::Inspect { profile, show_pins } => {
            init_logging(&cli.log, None)?;
            let loaded = load_card(profile.as_deref(), &mut DirKeyCache::default_location())?;
            inspect(&loaded, show_pins)
        }
        Commands::Export { profile, out } => {
            init_logging(&cli.log, None)?;
            let loaded = load_card(profile.as_deref(), &mut DirKeyCache::default_location())?;
            export(&loaded, &out)
        }
        Commands::Bench { seconds, pcsc, rounds, no_socket_fix } => {
            init_logging(&cli.log, None)?;
            run_bench(seconds, pcsc, rounds, !no_socket_fix)
        }
        Commands::PcscStatus => pcsc_status(),
        Commands::Run { paths, jobs, in_process, junit, json, transcript_dir, show_pins, check, worker } => {
            init_logging(&cli.log, None)?;
            let options = scenario_run::RunArgs { paths, jobs, in_process, junit, json, transcript_dir, show_pins, check };
            match worker {
                Some(file) => scenario_run::worker(&file, show_pins),
                None => scenario_run::run(options),
            }
        }
        Commands::Check { profile } => {
            init_logging(&cli.log, None)?;
            run_checks(profile)
        }
        Commands::Apdu { profile, apdus } => {
            init_logging(&cli.log, None)?;
            let mut loaded = load_card(profile.as_deref(), &mut DirKeyCache::default_location())?;
            for text in apdus {
                let apdu = mynasim_simulator::apdu::parse_hex(&text).with_context(|| format!("{text:?} is not hex"))?;
                let response = loaded.card.transmit(&apdu);
                outln!("{}", transcript::command(&apdu));
                outln!("{}", transcript::response(&response));
                loaded.save_if_changed()?;
            }
            Ok(())
        }
    }
}

fn serve_system(profiles: Vec<PathBuf>, vpcd: &str, ready_file: Option<PathBuf>, null_card: bool, socket_fix: bool) -> Result<()> {
    let (host, port) = vpcd.rsplit_once(':').context("--vpcd must be HOST:PORT")?;
    let port: u16 = port.parse().context("--vpcd port must be a number")?;
    let profiles: Vec<Option<PathBuf>> = if profiles.is_empty() { vec![None] } else { profiles.into_iter().map(Some).collect() };
    let mut cache = DirKeyCache::default_location();
    let mut cards: Vec<Box<dyn vpcd::VirtualCard + Send>> = Vec::new();
    if null_card {
        cards.push(Box::new(vpcd::NullCard));
    } else {
        for profile in &profiles {
            cards.push(Box::new(load_card(profile.as_deref(), &mut cache)?));
        }
    }
    let count = cards.len();
    let mut threads = Vec::new();
    for (n, mut card) in cards.into_iter().enumerate() {
        let addr = format!("{host}:{}", port + n as u16);
        let ready = ready_file.clone();
        threads.push(std::thread::spawn(move || vpcd::serve(card.as_mut(), &addr, ready.as_deref(), socket_fix)));
    }
    if ready_file.is_none() {
        // Standing alone (not inside a sandbox): say when clients can use the cards.
        match wait_for_cards(count, std::time::Duration::from_secs(30)) {
            Ok(readers) => outln!("ready: {} in {}", if count == 1 { "card" } else { "cards" }, readers.join(", ")),
            Err(e) => eprintln!("mynasim: {e:#} (the cards keep waiting for vpcd)"),
        }
    }
    for thread in threads {
        match thread.join() {
            Ok(result) => result?,
            Err(_) => anyhow::bail!("a card thread panicked"),
        }
    }
    Ok(())
}

fn serve_private(profiles: Vec<PathBuf>, transcript: Option<PathBuf>, log: &str) -> Result<()> {
    let mut options = SandboxOptions::new(std::env::current_exe().context("cannot find the mynasim binary")?);
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
    ctrlc::set_handler(move || {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = tx.send(());
    })
    .context("cannot install the Ctrl-C handler")?;
    options.cancel = Some(cancel);
    let sandbox = Sandbox::start(&options)?;
    outln!("export PCSCLITE_CSOCK_NAME={}", sandbox.socket().display());
    outln!("# ready: {} card(s) in a private pcscd; press Ctrl-C to stop", options.cards.len());
    let _ = rx.recv();
    drop(sandbox);
    Ok(())
}

fn run_bench(seconds: f64, pcsc: bool, rounds: usize, socket_fix: bool) -> Result<()> {
    use mynasim_harness::bench;
    if !(seconds > 0.0 && seconds.is_finite()) {
        anyhow::bail!("--seconds must be a positive number");
    }
    let duration = std::time::Duration::from_secs_f64(seconds);
    let mut loaded = load_card(None, &mut DirKeyCache::default_location())?;
    let card = &mut loaded.card;
    bench::apdu_ns(card, 100_000);
    outln!("in process, SELECT EF + READ BINARY: {:.0} ns per APDU", bench::apdu_ns(card, 1_000_000));
    bench::prepare_for_signing(card, b"1234")?;
    let speed = bench::openssl_speed_signs_per_second(seconds.ceil() as u32)?;
    outln!("`openssl speed rsa2048`: {speed:.0} signs/s");
    let rates = bench::signing_side_by_side(card, duration)?;
    outln!(
        "OpenSSL RSA-2048 PKCS#1 sign in this process (ceiling): {:.0} signs/s = {:.2} x openssl speed",
        rates.ceiling,
        rates.ceiling / speed
    );
    for (mode, rate) in &rates.modes {
        outln!(
            "80 2A P1={:02X} ({mode:?}): {rate:.0} signs/s = {:.2} x the ceiling, {:.2} x openssl speed",
            mode.p1(),
            rate / rates.ceiling,
            rate / speed
        );
    }
    if pcsc {
        let exe = std::env::current_exe()?;
        let result = bench::through_pcscd(&exe, rounds, socket_fix)?;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let fix = if socket_fix { "" } else { " (cards without TCP_NODELAY/QUICKACK)" };
        outln!("through pcscd + vpcd{fix}, READ BINARY round trip over {rounds} APDUs each, alternating:");
        outln!("  mynasim card: median {:.3} ms, p99 {:.3} ms", ms(result.card.median), ms(result.card.p99));
        outln!("  90 00 card:   median {:.3} ms, p99 {:.3} ms", ms(result.null.median), ms(result.null.p99));
        outln!("  ratio (card / null): median {:.2}, p99 {:.2}", ms(result.card.median) / ms(result.null.median), ms(result.card.p99) / ms(result.null.p99));
        outln!(
            "  80 2A P1=00 through pcscd ({} signatures): median {:.3} ms ({:.0} signs/s), p99 {:.3} ms",
            rounds / 10 + 1,
            ms(result.sign.median),
            1e3 / ms(result.sign.median),
            ms(result.sign.p99)
        );
    }
    Ok(())
}

fn run_checks(profile: Option<PathBuf>) -> Result<()> {
    use mynasim_harness::checks::{CheckContext, CHECKS};
    let twin = load_card(profile.as_deref(), &mut DirKeyCache::default_location())?;
    let mut options = SandboxOptions::new(std::env::current_exe().context("cannot find the mynasim binary")?);
    options.cards = vec![CardSource::Profile(profile)];
    let started = std::time::Instant::now();
    let sandbox = Sandbox::start(&options)?;
    outln!("card {} in a private pcscd, ready in {:.2} s", twin.name, started.elapsed().as_secs_f64());
    let cx = CheckContext { sandbox: &sandbox, card: &twin, work: tempfile::tempdir()? };
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in CHECKS {
        match check(&cx) {
            Ok(detail) => {
                passed += 1;
                outln!("  ok    {name}: {detail}");
            }
            Err(e) => {
                failed += 1;
                outln!("  FAIL  {name}: {e:#}");
            }
        }
    }
    outln!("{passed} passed, {failed} failed");
    if failed > 0 {
        anyhow::bail!("{failed} real-client check(s) failed");
    }
    Ok(())
}

/// The readers holding a card, once at least `count` do, asked of pcscd (the system's, or
/// the one in PCSCLITE_CSOCK_NAME).
fn wait_for_cards(count: usize, timeout: std::time::Duration) -> Result<Vec<String>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let present = reader_states().map(|states| states.into_iter().filter(|(_, p)| *p).map(|(r, _)| r).collect::<Vec<_>>());
        match present {
            Ok(readers) if readers.len() >= count => return Ok(readers),
            Ok(_) | Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(50)),
            Ok(readers) => anyhow::bail!("pcscd shows {} card(s) after {timeout:?}, expected {count}; is vpcd configured for these ports?", readers.len()),
            Err(e) => return Err(e).context("pcscd does not answer; is it running?"),
        }
    }
}

/// Every reader of pcscd with whether it holds a card.
fn reader_states() -> Result<Vec<(String, bool)>> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).context("cannot reach pcscd")?;
    let mut names = [0u8; 4096];
    let readers: Vec<std::ffi::CString> = match ctx.list_readers(&mut names) {
        Ok(readers) => readers.map(|r| r.to_owned()).collect(),
        Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
        Err(e) => return Err(e).context("cannot list readers"),
    };
    let mut states: Vec<pcsc::ReaderState> =
        readers.iter().map(|r| pcsc::ReaderState::new(r.as_c_str(), pcsc::State::UNAWARE)).collect();
    if !states.is_empty() {
        ctx.get_status_change(std::time::Duration::ZERO, &mut states).context("cannot read reader states")?;
    }
    Ok(states
        .iter()
        .map(|s| (s.name().to_string_lossy().into_owned(), s.event_state().contains(pcsc::State::PRESENT)))
        .collect())
}

fn pcsc_status() -> Result<()> {
    for (reader, present) in reader_states()? {
        outln!("{} {reader}", if present { "present" } else { "empty" });
    }
    Ok(())
}

fn export(loaded: &LoadedCard, out: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let applet = loaded.card.applet(AppletId::Jpki).context("the card has no JPKI AP")?;
    for (file, fid) in [
        ("auth.pem", jpki::AUTH_CERTIFICATE),
        ("sign.pem", jpki::SIGNATURE_CERTIFICATE),
        ("auth-ca.pem", jpki::AUTH_CA_CERTIFICATE),
        ("sign-ca.pem", jpki::SIGNATURE_CA_CERTIFICATE),
    ] {
        let Some(der) = applet.binary(fid) else {
            outln!("{file}: absent on this card");
            continue;
        };
        let pem = openssl::x509::X509::from_der(der)?.to_pem()?;
        let path = out.join(file);
        std::fs::write(&path, pem).with_context(|| format!("cannot write {}", path.display()))?;
        outln!("{}", path.display());
    }
    if let Some(key) = loaded.card.applet(AppletId::Common).and_then(|a| a.key_at(mynasim_simulator::applets::common::INTERNAL_AUTH_KEY)) {
        let path = out.join("common-internal-auth.pub.pem");
        std::fs::write(&path, key.public_key_pem()?).with_context(|| format!("cannot write {}", path.display()))?;
        outln!("{}", path.display());
    }
    Ok(())
}

fn inspect(loaded: &LoadedCard, show_pins: bool) -> Result<()> {
    let card = &loaded.card;
    let holder = &loaded.holder;
    outln!("card {} ({})", card.card_id(), loaded.name);
    outln!("holder: {}, born {}, {:?}, My Number {}", holder.name, holder.birth_date, holder.sex, holder.my_number);
    outln!("address: {} (municipality {})", holder.address, holder.municipality_code);
    outln!("card expires: {}", loaded.expires);
    if let Some(path) = &loaded.state_file {
        outln!("state file: {}", path.display());
    }
    outln!("PINs:");
    for pin in PinId::ALL {
        let record = card.pin(pin);
        let status = if record.is_blocked() { "LOCKED" } else { "ok" };
        let value = if show_pins && pin != PinId::TextReserved {
            format!("  value {}", String::from_utf8_lossy(&record.value))
        } else {
            String::new()
        };
        outln!("  {:<40} {}/{} tries left  {status}{value}", pin.describe(), record.remaining, record.max_tries);
    }
    outln!("certificates:");
    let now = openssl::asn1::Asn1Time::days_from_now(0).ok();
    if let Some(applet) = card.applet(AppletId::Jpki) {
        for (label, fid) in [
            ("auth (000A)", jpki::AUTH_CERTIFICATE),
            ("signature (0001)", jpki::SIGNATURE_CERTIFICATE),
            ("auth CA (000B)", jpki::AUTH_CA_CERTIFICATE),
            ("signature CA (0002)", jpki::SIGNATURE_CA_CERTIFICATE),
        ] {
            match applet.binary(fid).map(openssl::x509::X509::from_der) {
                Some(Ok(cert)) => {
                    let state = match &now {
                        Some(now) if cert.not_after() < now => "EXPIRED",
                        Some(now) if cert.not_before() > now => "NOT YET VALID",
                        _ => "valid",
                    };
                    outln!("  {label:<20} {} → {}  {state}", cert.not_before(), cert.not_after());
                }
                _ => outln!("  {label:<20} absent"),
            }
        }
    }
    Ok(())
}
