//! `mynasim ctl`: change and watch the cards of a running `mynasim serve`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mynasim_harness::control::client::ControlClient;
use mynasim_harness::control::discover;
use mynasim_harness::control::protocol::{CardStatus, Done, Event, Request, Snapshot, StatusReply};
use mynasim_harness::scenario::format::{FaultSpec, HexPatternValue, LatencySpec, PinName};
use mynasim_harness::scenario::matchers::HexPattern;

/// Change and watch the cards of a running `mynasim serve` while a program uses them:
/// lock a PIN, leave one try, reset it as the municipal office does, pull the card out,
/// add latency or a status word, watch the APDUs decoded.
///
/// The serve is found by itself when exactly one runs for this user; otherwise name it
/// with --serve PID (`ctl list` shows them) or --control PATH. With several cards, name
/// one with --card (a name or slot number, as `ctl status` shows them).
#[derive(clap::Args)]
pub struct Args {
    /// The control socket (printed by `serve`).
    #[arg(long, global = true, value_name = "PATH", env = "MYNASIM_CONTROL")]
    control: Option<PathBuf>,
    /// The serve process, by pid.
    #[arg(long, global = true, value_name = "PID", conflicts_with = "control")]
    serve: Option<u32>,
    /// Which card of the serve (name or slot number).
    #[arg(long, global = true)]
    card: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// The running serve processes and their cards.
    List,
    /// Every card: presence, PIN counters, locks, verified PINs, current application and
    /// EF, secure messaging, faults, certificates.
    Status {
        /// As the protocol's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a PIN's tries left and/or its value (`ctl pin auth --remaining 1`: one try left).
    Pin {
        /// auth, sign, text, text_code_a, text_code_b, surface_birth_date, surface_code_a,
        /// surface_code_b, common or juki.
        #[arg(value_parser = pin_name)]
        pin: PinName,
        /// Tries left (0 locks it).
        #[arg(long)]
        remaining: Option<u8>,
        /// A new value.
        #[arg(long)]
        value: Option<String>,
    },
    /// Lock a PIN (no tries left): the next VERIFY answers 69 84.
    Lock {
        /// Which PIN (see `ctl pin --help`).
        #[arg(value_parser = pin_name)]
        pin: PinName,
    },
    /// Give a PIN all its tries back, its value unchanged.
    Unlock {
        /// Which PIN.
        #[arg(value_parser = pin_name)]
        pin: PinName,
    },
    /// Reset a PIN as the municipal office does (a kiosk, for `sign`): all tries back and,
    /// with --new-pin, a new value.
    OfficeReset {
        /// Which PIN.
        #[arg(value_parser = pin_name)]
        pin: PinName,
        /// The new value.
        #[arg(long)]
        new_pin: Option<String>,
    },
    /// Pull the card out of the reader (PC/SC clients see it removed).
    Remove,
    /// Put the card back.
    Insert,
    /// A warm reset of the card alone, unseen by pcscd (the profile's `reset: warm:` says
    /// whether the session survives).
    Reset,
    /// The card loses power for a moment, unseen by pcscd (as a contactless card leaving
    /// the field): its session is gone, the next command meets a fresh card.
    PowerCycle,
    /// Swap in another card from a profile (out, then in).
    Swap {
        /// The profile (YAML).
        profile: PathBuf,
    },
    /// Add a transport fault, or clear them.
    Fault {
        #[command(subcommand)]
        fault: FaultCommand,
    },
    /// Save every card's PINs and presence to FILE (mode 0600: it holds PIN values).
    Snapshot {
        /// Where.
        file: PathBuf,
    },
    /// Put back what `ctl snapshot` saved.
    Restore {
        /// The snapshot.
        file: PathBuf,
    },
    /// Print the APDU stream and state changes live, decoded, until Ctrl-C.
    Watch {
        /// The protocol's JSON event lines.
        #[arg(long)]
        json: bool,
        /// Stop after this many APDUs.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
}

#[derive(clap::Subcommand)]
enum FaultCommand {
    /// Wait before answering: a duration (`300ms`), or `contactless` / `contact` for a
    /// real card's timing per command.
    Latency {
        /// `300ms`, `2s`, `contactless` or `contact`.
        #[arg(value_parser = latency)]
        latency: LatencySpec,
        #[command(flatten)]
        which: Which,
    },
    /// Answer this status word instead (once unless --count).
    Sw {
        /// The status word, e.g. 6F00.
        #[arg(value_parser = hex_pattern)]
        sw: HexPatternValue,
        /// The card runs the command first (its effect stays, its answer is lost).
        #[arg(long)]
        executed: bool,
        #[command(flatten)]
        which: Which,
    },
    /// Pull the card out after the next matching command took effect, before its answer.
    Tear {
        #[command(flatten)]
        which: Which,
    },
    /// Close the vpcd connection now (the card reconnects, as after a glitch).
    DropConnection,
    /// Remove every fault.
    Clear,
}

/// Which commands a fault applies to, and how many.
#[derive(clap::Args)]
struct Which {
    /// Commands with this INS byte (`2A`).
    #[arg(long, value_parser = ins_byte, conflicts_with = "matches")]
    ins: Option<HexPatternValue>,
    /// Commands starting with these bytes, `x` for any digit (`00 20 xx 80`).
    #[arg(long = "match", value_name = "PATTERN", value_parser = hex_pattern)]
    matches: Option<HexPatternValue>,
    /// For this many matching commands (default: 1 for sw and tear, all for latency).
    #[arg(long)]
    count: Option<u32>,
}

fn pin_name(text: &str) -> Result<PinName, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        let names: Vec<&str> = PinName::ALL.iter().map(|p| p.as_str()).collect();
        format!("write one of: {}", names.join(", "))
    })
}

fn latency(text: &str) -> Result<LatencySpec, String> {
    LatencySpec::try_from(text.to_owned())
}

fn hex_pattern(text: &str) -> Result<HexPatternValue, String> {
    HexPattern::parse(text).map(HexPatternValue)
}

fn ins_byte(text: &str) -> Result<HexPatternValue, String> {
    match HexPattern::parse(text) {
        Ok(p) if p.len() == 1 && p.nibbles().iter().all(Option::is_some) => Ok(HexPatternValue(p)),
        _ => Err("write one INS byte in hex, such as 2A (for a longer prefix: --match \"80 2A\")".into()),
    }
}

/// Runs `ctl`.
pub fn run(args: Args) -> Result<()> {
    if let Command::List = args.command {
        return list();
    }
    let path = match args.control {
        Some(path) => path,
        None => discover::find(args.serve)?,
    };
    let mut client = ControlClient::connect(&path)?;
    let card = args.card;
    let request = match args.command {
        Command::List => return list(),
        Command::Status { json } => {
            let status: StatusReply = client.call(&Request::Status)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                for card in &status.cards {
                    print_status(card)?;
                }
            }
            return Ok(());
        }
        Command::Pin { pin, remaining, value } => {
            if remaining.is_none() && value.is_none() {
                bail!("say what to set: --remaining N, --value V or both");
            }
            Request::Pin { card, pin, remaining, value }
        }
        Command::Lock { pin } => Request::Lock { card, pin },
        Command::Unlock { pin } => Request::Unlock { card, pin },
        Command::OfficeReset { pin, new_pin } => Request::OfficeReset { card, pin, new_pin },
        Command::Remove => Request::Remove { card },
        Command::Insert => Request::Insert { card },
        Command::Reset => Request::Reset { card },
        Command::PowerCycle => Request::PowerCycle { card },
        Command::Swap { profile } => {
            let profile = std::fs::canonicalize(&profile).with_context(|| format!("cannot find profile {}", profile.display()))?;
            Request::Swap { card, profile: profile.display().to_string() }
        }
        Command::Fault { fault } => Request::Fault { card, fault: fault_spec(fault) },
        Command::Snapshot { file } => {
            let snapshot: Snapshot = client.call(&Request::Snapshot)?;
            write_private(&file, &serde_json::to_vec_pretty(&snapshot)?)?;
            outln!("saved {} card(s) to {}", snapshot.cards.len(), file.display());
            return Ok(());
        }
        Command::Restore { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let snapshot: Snapshot = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a snapshot written by `mynasim ctl snapshot`", file.display()))?;
            Request::Restore { snapshot }
        }
        Command::Watch { json, count } => return watch(client, json, count),
    };
    let done: Done = client.call(&request)?;
    outln!("{}: {}", done.card, done.done);
    Ok(())
}

fn fault_spec(fault: FaultCommand) -> FaultSpec {
    let which = |w: Which| (w.ins.or(w.matches), w.count);
    match fault {
        FaultCommand::Latency { latency, which: w } => {
            let (matches, count) = which(w);
            FaultSpec { latency: Some(latency), matches, count, ..FaultSpec::default() }
        }
        FaultCommand::Sw { sw, executed, which: w } => {
            let (matches, count) = which(w);
            FaultSpec { sw: Some(sw), executed, matches, count, ..FaultSpec::default() }
        }
        FaultCommand::Tear { which: w } => {
            let (matches, count) = which(w);
            FaultSpec { tear: true, matches, count, ..FaultSpec::default() }
        }
        FaultCommand::DropConnection => FaultSpec { drop_connection: true, ..FaultSpec::default() },
        FaultCommand::Clear => FaultSpec { clear: true, ..FaultSpec::default() },
    }
}

/// Writes `data` to `path` readable by its owner only, replacing it whole or not at all.
fn write_private(path: &std::path::Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    file.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(data)?;
    file.as_file().sync_all()?;
    file.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn list() -> Result<()> {
    let running = discover::running().context("cannot read the runtime folder")?;
    if running.is_empty() {
        outln!("no mynasim serve is running");
    }
    for (pid, path) in running {
        match ControlClient::connect(&path) {
            Ok(client) => outln!("{pid}  {}  cards: {}", path.display(), client.hello().cards.join(", ")),
            Err(e) => outln!("{pid}  {}  not answering: {e}", path.display()),
        }
    }
    Ok(())
}

fn print_status(card: &CardStatus) -> Result<()> {
    let s = &card.state;
    let presence = match (s.inserted, s.connected) {
        (false, _) => "removed",
        (true, true) => "inserted, connected",
        (true, false) => "inserted, waiting for the reader",
    };
    outln!("{} (slot {}): {}, {}; {}", card.card, card.slot, card.holder, card.kind, presence);
    let selection = match (&s.applet_label, &s.ef) {
        (None, _) => "MF level".to_owned(),
        (Some(applet), None) => applet.clone(),
        (Some(applet), Some(ef)) => format!("{applet}, EF {ef}{}", s.ef_label.as_ref().map(|l| format!(" ({l})")).unwrap_or_default()),
    };
    outln!("  selected: {selection}{}", if s.sm { "; secure messaging open" } else { "" });
    for pin in &s.pins {
        let flags = match (pin.blocked, pin.verified) {
            (true, _) => "  LOCKED",
            (false, true) => "  verified",
            _ => "",
        };
        outln!("  {:<20} {}/{} tries{flags}   {}", pin.pin.as_str(), pin.remaining, pin.max_tries, pin.label);
    }
    for fault in &s.faults {
        outln!("  fault: {fault}");
    }
    for cert in &card.certificates {
        let valid = if cert.valid_now { "valid" } else { "NOT VALID NOW" };
        outln!(
            "  certificate {:<8} {valid} {} .. {}",
            cert.which,
            &cert.not_before[..10.min(cert.not_before.len())],
            &cert.not_after[..10.min(cert.not_after.len())]
        );
    }
    Ok(())
}

fn watch(client: ControlClient, json: bool, count: Option<u64>) -> Result<()> {
    let cards = client.hello().cards.len();
    let mut stream = client.watch()?;
    if !json {
        eprintln!("# watching {} card(s); Ctrl-C to stop", cards);
    }
    let mut apdus = 0;
    // The newest state shown per card: an older one arriving late (from another thread of
    // the server, see the protocol's `seq`) is not printed as if it were news.
    let mut newest_state: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    while let Some(line) = stream.next_line()? {
        let event: Event = serde_json::from_str(&line).with_context(|| format!("unexpected event line {line}"))?;
        if json {
            outln!("{line}");
        } else if let Event::State { card, state } = &event {
            let newest = newest_state.entry(card.clone()).or_default();
            if state.seq > *newest {
                *newest = state.seq;
                print_event(&event, cards > 1)?;
            }
        } else {
            print_event(&event, cards > 1)?;
        }
        if matches!(event, Event::Apdu { .. }) {
            apdus += 1;
            if count.is_some_and(|n| apdus >= n) {
                break;
            }
        }
    }
    Ok(())
}

/// `hh:mm:ss.mmm` (UTC) of a Unix time in milliseconds.
fn clock(at_ms: u64) -> String {
    let ms = at_ms % 86_400_000;
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

fn print_event(event: &Event, several: bool) -> Result<()> {
    let who = |card: &str| if several { format!("[{card}] ") } else { String::new() };
    match event {
        Event::Apdu { card, at_ms, command, name, response, meaning, micros } => {
            outln!("{} {}> {name}", clock(*at_ms), who(card));
            outln!("               {command}");
            let took = Duration::from_micros(*micros);
            match (response, meaning) {
                (Some(response), Some(meaning)) => outln!("             < {meaning}  ({:.1} ms)  {response}", took.as_secs_f64() * 1e3),
                _ => outln!("             < (no answer: the card was torn out)"),
            }
        }
        Event::State { card, state } => {
            let pins: Vec<String> = state
                .pins
                .iter()
                .filter(|p| matches!(p.pin, PinName::Auth | PinName::Sign) || p.remaining < p.max_tries || p.verified)
                .map(|p| format!("{} {}/{}{}", p.pin.as_str(), p.remaining, p.max_tries, if p.verified { " verified" } else { "" }))
                .collect();
            outln!("             {}state: {}; {}", who(card), if state.inserted { "inserted" } else { "removed" }, pins.join(", "));
        }
        Event::Power { card, what } => outln!("             {}{what}", who(card)),
        Event::Connected { card } => outln!("             {}connected to the reader", who(card)),
        Event::Inserted { card } => outln!("             {}card inserted", who(card)),
        Event::Removed { card } => outln!("             {}card removed", who(card)),
        Event::Control { card, done } => outln!("             {}ctl: {done}", who(card)),
        Event::Dropped { count } => outln!("             ({count} events lost: this watcher fell behind)"),
    }
    Ok(())
}
