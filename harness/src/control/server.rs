//! The control server: the cards of one `mynasim serve`, changed and watched from outside
//! through the [`protocol`](super::protocol).
//!
//! [`Controller`] is the protocol's meaning, transport-free: a request in, a reply out,
//! acting on the cards' [`Slot`]s exactly as a scenario's `set`, `fault` and `card` steps
//! do (one mechanism for both). [`ControlServer`] carries it over a unix socket, a thread
//! per connection; the web inspector carries the same requests over HTTP.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mynasim_simulator::power::PowerEvent;
use zeroize::Zeroizing;

use super::events::{Events, Next, Watch};
use super::protocol::{CardSnapshot, CardStatus, Done, Hello, Reply, Request, Snapshot, StatusReply, VERSION};
use super::status;
use crate::keycache::DirKeyCache;
use crate::load::LoadedCard;
use crate::scenario::format::PinName;
use crate::slot::{PinChange, Slot, Tries};

/// How long a swap leaves the reader empty: pcscd polls vpcd's readers every 400 ms, so it
/// sees the card go before the new one comes.
const SWAP_GAP: Duration = Duration::from_secs(1);

/// One card under control.
#[derive(Debug)]
struct ControlledCard {
    slot: Slot,
    /// The profile it was loaded from (`None`: the default card).
    profile: Option<PathBuf>,
}

/// The cards of one server and what the protocol does to them.
#[derive(Debug)]
pub struct Controller {
    cards: Vec<ControlledCard>,
    events: Events,
}

impl Controller {
    /// Puts each card in a slot of its own, watched through one event stream. Cards are
    /// named after their profile's file (`alice` for `cards/alice.yaml`), made unique with
    /// their slot number where two share a name.
    pub fn new(cards: Vec<(LoadedCard, Option<PathBuf>)>) -> Controller {
        let events = Events::new();
        let short =
            |card: &LoadedCard| Path::new(&card.name).file_stem().map_or_else(|| card.name.clone(), |s| s.to_string_lossy().into_owned());
        let names: Vec<String> = cards.iter().map(|(c, _)| short(c)).collect();
        let cards = cards
            .into_iter()
            .zip(&names)
            .enumerate()
            .map(|(n, ((card, profile), name))| {
                let name = if names.iter().filter(|m| *m == name).count() > 1 { format!("{name}-{n}") } else { name.clone() };
                ControlledCard { slot: Slot::watched(card, name, events.clone()), profile }
            })
            .collect();
        Controller { cards, events }
    }

    /// The slots, in order, for the transport to serve.
    pub fn slots(&self) -> Vec<Slot> {
        self.cards.iter().map(|c| c.slot.clone()).collect()
    }

    /// The event stream.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The line a connection starts with.
    pub fn hello(&self) -> Hello {
        Hello {
            mynasim_control: VERSION,
            server: format!("mynasim {}", env!("CARGO_PKG_VERSION")),
            pid: std::process::id(),
            cards: self.cards.iter().map(|c| c.slot.name().to_owned()).collect(),
        }
    }

    /// Every card's status.
    pub fn status(&self) -> StatusReply {
        StatusReply { cards: self.cards.iter().enumerate().map(|(n, c)| card_status(n, c)).collect() }
    }

    /// Carries out one request line; `Err` is a reply's `error`. A change is durable when
    /// this returns. (`watch` is the transport's: here it only checks there is a stream.)
    pub fn handle(&self, request: Request) -> Result<serde_json::Value, String> {
        let value = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(|e| format!("internal: {e}"));
        match request {
            Request::Status => value(serde_json::to_value(self.status())),
            Request::Snapshot => value(serde_json::to_value(self.snapshot())),
            Request::Restore { snapshot } => {
                self.restore(&snapshot)?;
                value(serde_json::to_value(Done { card: "all".into(), done: format!("restored {} card(s)", snapshot.cards.len()) }))
            }
            Request::Watch => value(Ok(serde_json::json!({ "watching": self.cards.iter().map(|c| c.slot.name()).collect::<Vec<_>>() }))),
            request => {
                let (card, done) = self.change(request)?;
                card.slot.announce(&done);
                value(serde_json::to_value(Done { card: card.slot.name().to_owned(), done }))
            }
        }
    }

    /// The card a request names (see the protocol's module docs).
    fn card(&self, which: Option<&str>) -> Result<&ControlledCard, String> {
        let names = || self.cards.iter().map(|c| c.slot.name()).collect::<Vec<_>>().join(", ");
        match which {
            None if self.cards.len() == 1 => Ok(&self.cards[0]),
            None => Err(format!("this server has {} cards ({}); name one with `card`", self.cards.len(), names())),
            Some(name) => self
                .cards
                .iter()
                .find(|c| c.slot.name() == name)
                .or_else(|| name.parse::<usize>().ok().and_then(|n| self.cards.get(n)))
                .ok_or_else(|| format!("no card {name:?} here; the cards are: {} (or their slot numbers)", names())),
        }
    }

    /// The requests that change one card: which card, and what was done in words.
    fn change(&self, request: Request) -> Result<(&ControlledCard, String), String> {
        let tries = |card: &ControlledCard, pin: PinName| {
            card.slot.with_card(|l| {
                let r = l.card.pin(pin.id());
                format!("{} of {} tries left", r.remaining, r.max_tries)
            })
        };
        let pins = |card: &ControlledCard, change: PinChange| card.slot.change_pins(std::slice::from_ref(&change));
        match request {
            Request::Pin { card, pin, remaining, value } => {
                let card = self.card(card.as_deref())?;
                if remaining.is_none() && value.is_none() {
                    return Err("a `pin` request sets `remaining`, `value` or both".into());
                }
                let changed_value = value.is_some();
                pins(card, PinChange { pin, tries: remaining.map(Tries::Exactly), value: value.map(Zeroizing::new) })?;
                let value = if changed_value { ", new value" } else { "" };
                Ok((card, format!("{} PIN: {}{value}", pin.as_str(), tries(card, pin))))
            }
            Request::Lock { card, pin } => {
                let card = self.card(card.as_deref())?;
                pins(card, PinChange { pin, tries: Some(Tries::Exactly(0)), value: None })?;
                Ok((card, format!("{} PIN locked ({})", pin.as_str(), tries(card, pin))))
            }
            Request::Unlock { card, pin } => {
                let card = self.card(card.as_deref())?;
                pins(card, PinChange { pin, tries: Some(Tries::All), value: None })?;
                Ok((card, format!("{} PIN unlocked ({})", pin.as_str(), tries(card, pin))))
            }
            Request::OfficeReset { card, pin, new_pin } => {
                let card = self.card(card.as_deref())?;
                let new = if new_pin.is_some() { ", new value" } else { ", value unchanged" };
                pins(card, PinChange { pin, tries: Some(Tries::All), value: new_pin.map(Zeroizing::new) })?;
                Ok((card, format!("{} PIN reset ({}{new})", pin.as_str(), tries(card, pin))))
            }
            Request::Remove { card } => {
                let card = self.card(card.as_deref())?;
                card.slot.remove();
                Ok((card, "removed".into()))
            }
            Request::Insert { card } => {
                let card = self.card(card.as_deref())?;
                card.slot.insert();
                Ok((card, "inserted".into()))
            }
            Request::Reset { card } => {
                let card = self.card(card.as_deref())?;
                card.slot.power(PowerEvent::WarmReset);
                Ok((card, "warm reset".into()))
            }
            Request::PowerCycle { card } => {
                let card = self.card(card.as_deref())?;
                card.slot.power(PowerEvent::Off);
                card.slot.power(PowerEvent::On);
                Ok((card, "power cycled".into()))
            }
            Request::Swap { card, profile } => {
                let card = self.card(card.as_deref())?;
                let path = PathBuf::from(&profile);
                let loaded = crate::load::load_card(Some(&path), &mut DirKeyCache::default_location())
                    .map_err(|e| format!("cannot load {profile}: {e}"))?;
                let holder = loaded.holder.name.clone();
                if card.slot.is_inserted() {
                    card.slot.remove();
                    std::thread::sleep(SWAP_GAP);
                }
                card.slot.replace(loaded);
                card.slot.insert();
                Ok((card, format!("swapped in {profile} ({holder})")))
            }
            Request::Fault { card, fault } => {
                let card = self.card(card.as_deref())?;
                crate::scenario::format::validate_fault(&fault)?;
                if fault.kill_pcscd {
                    return Err("kill_pcscd is a scenario's fault; a server does not own its pcscd".into());
                }
                let done = card.slot.inject_fault(&fault).to_string();
                Ok((card, done))
            }
            Request::Status | Request::Snapshot | Request::Restore { .. } | Request::Watch => Err("internal: not a change".into()),
        }
    }

    /// Every card's PINs and presence.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            mynasim_control: VERSION,
            cards: self
                .cards
                .iter()
                .map(|c| CardSnapshot {
                    card: c.slot.name().to_owned(),
                    inserted: c.slot.is_inserted(),
                    state: c.slot.with_card(|l| l.card.persistent_state()),
                })
                .collect(),
        }
    }

    /// Puts a snapshot back: every card it names must be here and be the same card.
    pub fn restore(&self, snapshot: &Snapshot) -> Result<(), String> {
        let mut plan = Vec::new();
        for saved in &snapshot.cards {
            let card = self.card(Some(&saved.card))?;
            let id = card.slot.with_card(|l| l.card.card_id().to_owned());
            if saved.state.card_id != id {
                return Err(format!(
                    "the snapshot's card {:?} is card {}, but this server's is card {id}",
                    saved.card, saved.state.card_id
                ));
            }
            plan.push((card, saved));
        }
        for (card, saved) in plan {
            card.slot
                .modify_card(|l| {
                    for pin in &saved.state.pins {
                        l.card.set_pin(pin.pin, pin.record.clone());
                    }
                })
                .map_err(|e| format!("cannot save the card's state: {e}"))?;
            match (saved.inserted, card.slot.is_inserted()) {
                (true, false) => card.slot.insert(),
                (false, true) => card.slot.remove(),
                _ => {}
            }
            card.slot.announce("restored from a snapshot");
        }
        Ok(())
    }
}

fn card_status(n: usize, card: &ControlledCard) -> CardStatus {
    let state = card.slot.state();
    card.slot.with_card(|l| CardStatus {
        card: card.slot.name().to_owned(),
        slot: n,
        profile: card.profile.as_ref().map(|p| p.display().to_string()),
        kind: l.card.kind().name().to_owned(),
        holder: l.holder.name.clone(),
        expires: l.expires.to_string(),
        state_file: l.state_file.as_ref().map(|p| p.display().to_string()),
        certificates: status::certificates(l),
        state,
    })
}

/// Parses one request line into its `id` and request, or the reply refusing it.
pub fn parse_request(line: &str) -> Result<(Option<serde_json::Value>, Request), Reply> {
    let refuse = |id, error: String| Reply { id, ok: false, result: None, error: Some(error) };
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
        .map_err(|e| refuse(None, format!("not a JSON object ({e}); send one object per line, e.g. {{\"op\":\"status\"}}")))?;
    let id = object.remove("id");
    if let Some(v) = object.remove("v") {
        if v != serde_json::json!(VERSION) {
            return Err(refuse(id, format!("this server speaks version {VERSION} of the control protocol, not {v}")));
        }
    }
    serde_json::from_value(serde_json::Value::Object(object))
        .map(|request| (id.clone(), request))
        .map_err(|e| refuse(id, format!("{e} (see docs/control-protocol.md)")))
}

/// The reply to a handled request.
pub fn reply(id: Option<serde_json::Value>, outcome: Result<serde_json::Value, String>) -> Reply {
    match outcome {
        Ok(result) => Reply { id, ok: true, result: Some(result), error: None },
        Err(error) => Reply { id, ok: false, result: None, error: Some(error) },
    }
}

/// A [`Controller`] on a unix socket (mode 0600), until dropped (the socket is removed).
pub struct ControlServer {
    path: PathBuf,
}

impl ControlServer {
    /// Listens at `path` (a stale socket there is replaced) and serves each connection on
    /// a thread of its own.
    pub fn start(controller: Arc<Controller>, path: &Path) -> std::io::Result<ControlServer> {
        use std::os::unix::fs::PermissionsExt;
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is the control socket of a running server; stop it or give another --control path", path.display()),
            ));
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let controller = Arc::clone(&controller);
                std::thread::spawn(move || {
                    if let Err(e) = serve_connection(&controller, stream) {
                        tracing::debug!("control connection ended: {e}");
                    }
                });
            }
        });
        Ok(ControlServer { path: path.to_path_buf() })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_line(stream: &mut impl Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)
}

fn serve_connection(controller: &Controller, stream: UnixStream) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    write_line(&mut out, &controller.hello())?;
    let mut lines = BufReader::new(stream).lines();
    while let Some(line) = lines.next() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let (id, request) = match parse_request(&line) {
            Ok(parsed) => parsed,
            Err(refusal) => {
                write_line(&mut out, &refusal)?;
                continue;
            }
        };
        if matches!(request, Request::Watch) {
            let watch = controller.events().watch();
            write_line(&mut out, &reply(id, controller.handle(request)))?;
            // The stream from here on; the client's closing (end of its input) ends it.
            let closed = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&closed);
            std::thread::spawn(move || {
                for _ in lines.by_ref() {}
                flag.store(true, Ordering::Relaxed);
            });
            return stream_events(&watch, &mut out, &closed);
        }
        write_line(&mut out, &reply(id, controller.handle(request)))?;
    }
    Ok(())
}

/// How often a watcher's queue is drained. Draining on a clock rather than on each event
/// means the card's thread never wakes the writer: publishing an event is a queue push,
/// and a burst of events goes out in one write, a few milliseconds later.
const DRAIN_EVERY: Duration = Duration::from_millis(10);

/// Sends event lines until the client goes away.
pub fn stream_events(watch: &Watch, out: &mut impl Write, closed: &AtomicBool) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    loop {
        let mut wrote = false;
        loop {
            match watch.next(Duration::ZERO) {
                Next::Line(line) => {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                    wrote = true;
                }
                Next::Idle => break,
                Next::Closed => return out.flush(),
            }
        }
        if wrote {
            out.flush()?;
        }
        if closed.load(Ordering::Relaxed) {
            return Ok(());
        }
        std::thread::sleep(DRAIN_EVERY);
    }
}
