//! A card in a reader slot, shared between the transport that serves it and whoever
//! controls it from outside (a scenario's steps, the control server): insert and remove
//! it, reload it from its profile, read and change its state, and inject transport faults
//! (latency, status-word overrides, tear-out). What happens in the slot goes to its
//! [`Events`] stream, built only while someone watches.
//!
//! Faults act where a real reader's would: between the card and the wire. A status word
//! override that is "not executed" answers without the card seeing the command; an
//! "executed" one lets the card run it and replaces the answer; a tear-out lets the card
//! run the command (a VERIFY has spent its try, persisted) and pulls the card before the
//! answer leaves.

use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mynasim_simulator::card::Session;
use mynasim_simulator::decode::Decoder;
use mynasim_simulator::pins::{PinId, PinRecord};
use mynasim_simulator::power::PowerEvent;
use zeroize::Zeroizing;

use crate::control::events::Events;
use crate::control::protocol::{CardState, Event};
use crate::control::status::card_state;
use crate::load::LoadedCard;
use crate::scenario::format::{FaultSpec, LatencySpec, PinName};
use crate::scenario::matchers::HexPattern;
use crate::vpcd::{Delivery, VirtualCard};

/// Which commands a fault applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandMatch {
    /// Every command.
    Any,
    /// Commands with this INS byte.
    Ins(u8),
    /// Commands starting with these bytes (`x` nibbles match anything).
    Prefix(HexPattern),
}

impl CommandMatch {
    /// Whether `apdu` matches.
    pub fn matches(&self, apdu: &[u8]) -> bool {
        match self {
            CommandMatch::Any => true,
            CommandMatch::Ins(ins) => apdu.get(1) == Some(ins),
            CommandMatch::Prefix(pattern) => pattern.matches_prefix(apdu),
        }
    }

    /// A scenario's or a control request's `match`: one byte is an INS, more a prefix.
    pub fn of(pattern: Option<&HexPattern>) -> CommandMatch {
        match pattern {
            None => CommandMatch::Any,
            Some(p) if p.len() == 1 => CommandMatch::Ins(p.bytes_or_zero()[0]),
            Some(p) => CommandMatch::Prefix(p.clone()),
        }
    }
}

impl std::fmt::Display for CommandMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandMatch::Any => f.write_str("every command"),
            CommandMatch::Ins(ins) => write!(f, "INS {ins:02X}"),
            CommandMatch::Prefix(p) => write!(f, "commands {p}"),
        }
    }
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Wait this long before answering.
    Latency(Duration),
    /// Answer this status word; `executed`: the card ran the command first.
    Sw {
        /// The status word answered.
        sw: [u8; 2],
        /// Whether the card executed the command.
        executed: bool,
    },
    /// The card runs the command and is pulled out before answering.
    Tear,
}

/// A fault on the slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What it does.
    pub kind: FaultKind,
    /// Which commands.
    pub matches: CommandMatch,
    /// How many more matching commands it applies to (`None`: all).
    pub remaining: Option<u32>,
}

/// `latency 300ms on INS 2A`, `answer 6A82 without executing on every command (1 more)`.
impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            FaultKind::Latency(d) => write!(f, "latency {}", humantime::format_duration(*d))?,
            FaultKind::Sw { sw, executed } => {
                write!(f, "answer {:02X}{:02X} {}", sw[0], sw[1], if *executed { "after executing" } else { "without executing" })?
            }
            FaultKind::Tear => f.write_str("tear out after executing")?,
        }
        write!(f, " on {}", self.matches)?;
        match self.remaining {
            Some(n) => write!(f, " ({n} more)"),
            None => Ok(()),
        }
    }
}

/// What [`Slot::inject_fault`] did, in words for a control reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultChange {
    /// Every fault was removed.
    Cleared,
    /// The vpcd connection was cut.
    ConnectionDropped,
    /// These faults were added (a timing profile adds one per INS).
    Added(Vec<String>),
}

impl std::fmt::Display for FaultChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultChange::Cleared => f.write_str("faults cleared"),
            FaultChange::ConnectionDropped => f.write_str("vpcd connection dropped"),
            FaultChange::Added(faults) => write!(f, "fault added: {}", faults.join("; ")),
        }
    }
}

/// How many tries a PIN change leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tries {
    /// Exactly this many (0 blocks the PIN).
    Exactly(u8),
    /// All of them (an office or kiosk reset, an unlock).
    All,
}

/// A change to one PIN from outside the card (a scenario's `set`, a control request).
#[derive(Clone, Debug)]
pub struct PinChange {
    /// Which PIN.
    pub pin: PinName,
    /// Tries left afterwards (`None`: unchanged).
    pub tries: Option<Tries>,
    /// A new value (`None`: unchanged).
    pub value: Option<Zeroizing<String>>,
}

struct SlotState {
    card: LoadedCard,
    inserted: bool,
    faults: Vec<Fault>,
    /// The live vpcd connection, to cut it on removal.
    connection: Option<TcpStream>,
    /// Counts connections to vpcd (a new one after every insertion or reconnect).
    connections: u64,
    /// What the last state taken (sent to watchers, or in a status) was made of, to send
    /// only changes.
    last_taken: Option<Fingerprint>,
    /// How many different states were taken (the `seq` of [`CardState`]).
    seq: u64,
}

/// What a [`CardState`] is made of, cheap to take and compare on every command.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    session: Session,
    tries: [u8; PinId::ALL.len()],
    inserted: bool,
    connected: bool,
    faults: Vec<Fault>,
}

impl SlotState {
    fn card_state(&self) -> CardState {
        card_state(&self.card, self.inserted, self.connection.is_some(), &self.faults, self.seq)
    }

    /// Counts a change if the state differs from the last one taken; says whether it did.
    fn count_change(&mut self) -> bool {
        let now = self.fingerprint();
        if self.last_taken.as_ref() == Some(&now) {
            return false;
        }
        self.last_taken = Some(now);
        self.seq += 1;
        true
    }

    fn fingerprint(&self) -> Fingerprint {
        let card = &self.card.card;
        Fingerprint {
            session: card.session(),
            tries: PinId::ALL.map(|p| card.pin(p).remaining),
            inserted: self.inserted,
            connected: self.connection.is_some(),
            faults: self.faults.clone(),
        }
    }

    /// The state, if watched and different from what watchers saw last.
    fn changed_state(&mut self, events: &Events) -> Option<CardState> {
        if !events.is_watched() {
            return None;
        }
        self.count_change().then(|| self.card_state())
    }
}

/// A shared card slot (cheap to clone: all clones are one slot).
#[derive(Clone)]
pub struct Slot {
    inner: Arc<(Mutex<SlotState>, Condvar)>,
    name: String,
    events: Events,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("name", &self.name).finish_non_exhaustive()
    }
}

/// What the card answered in process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The R-APDU.
    Response(Vec<u8>),
    /// The card was torn out (or is not inserted): no answer.
    NoCard,
}

impl Slot {
    /// A slot holding `card`, inserted, that nobody watches.
    pub fn new(card: LoadedCard) -> Slot {
        let name = card.name.clone();
        Slot::watched(card, name, Events::new())
    }

    /// A slot holding `card`, inserted, named `name` in `events`.
    pub fn watched(card: LoadedCard, name: String, events: Events) -> Slot {
        let state = SlotState { card, inserted: true, faults: Vec::new(), connection: None, connections: 0, last_taken: None, seq: 0 };
        Slot { inner: Arc::new((Mutex::new(state), Condvar::new())), name, events }
    }

    /// The card's name in logs and events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The card's changing state, as the control protocol shows it.
    pub fn state(&self) -> CardState {
        let mut slot = self.lock();
        slot.count_change();
        slot.card_state()
    }

    /// Changes the slot under one lock; then tells watchers the state the change left (if
    /// it differs from the last one they were sent).
    fn change<T>(&self, f: impl FnOnce(&mut SlotState) -> T) -> T {
        self.change_telling(None, f)
    }

    /// [`Slot::change`], telling watchers what `happened` before the state it left.
    fn change_telling<T>(&self, happened: Option<&dyn Fn(String) -> Event>, f: impl FnOnce(&mut SlotState) -> T) -> T {
        let (out, state) = {
            let mut slot = self.lock();
            let out = f(&mut slot);
            (out, slot.changed_state(&self.events))
        };
        if let Some(happened) = happened {
            self.publish(happened);
        }
        if let Some(state) = state {
            self.events.publish(&Event::State { card: self.name.clone(), state });
        }
        out
    }

    fn publish(&self, event: impl FnOnce(String) -> Event) {
        if self.events.is_watched() {
            self.events.publish(&event(self.name.clone()));
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // A panic while holding the lock leaves the card as it was after its last command.
        self.inner.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the card (state, PINs, files) under the lock.
    pub fn with_card<T>(&self, f: impl FnOnce(&LoadedCard) -> T) -> T {
        f(&self.lock().card)
    }

    /// Changes the card under the lock and persists its state if it changed.
    pub fn modify_card<T>(&self, f: impl FnOnce(&mut LoadedCard) -> T) -> Result<T, crate::load::LoadError> {
        self.change(|slot| {
            let out = f(&mut slot.card);
            slot.card.save_if_changed().map(|()| out)
        })
    }

    /// Changes PINs as the issuer does from outside the card, all or none, durable when
    /// this returns. Errors say what to write instead.
    pub fn change_pins(&self, changes: &[PinChange]) -> Result<(), String> {
        self.modify_card(|loaded| -> Result<(), String> {
            let mut records = Vec::new();
            for change in changes {
                let pin = change.pin;
                let old = loaded.card.pin(pin.id()).clone();
                let value = match &change.value {
                    Some(v) if !pin.id().format().accepts(v.as_bytes()) => {
                        return Err(format!(
                            "{:?} is not a valid value for the {} PIN: it must be {}",
                            v.as_str(),
                            pin.as_str(),
                            pin.id().format().describe()
                        ))
                    }
                    Some(v) => Zeroizing::new(v.as_bytes().to_vec()),
                    None => old.value.clone(),
                };
                let remaining = match change.tries {
                    Some(Tries::All) => old.max_tries,
                    Some(Tries::Exactly(n)) if n > old.max_tries => {
                        return Err(format!("the {} PIN has at most {} tries, not {n}", pin.as_str(), old.max_tries))
                    }
                    Some(Tries::Exactly(n)) => n,
                    None => old.remaining,
                };
                records.push((pin, PinRecord { value, max_tries: old.max_tries, remaining }));
            }
            for (pin, record) in records {
                loaded.card.set_pin(pin.id(), record);
            }
            Ok(())
        })
        .map_err(|e| format!("cannot save the card's state: {e}"))?
    }

    /// Adds the fault a scenario's `fault` step or a control request describes, or clears
    /// the faults, or cuts the vpcd connection, and says which. (`kill_pcscd` is the
    /// caller's: the slot has no pcscd.)
    pub fn inject_fault(&self, spec: &FaultSpec) -> FaultChange {
        if spec.clear {
            self.clear_faults();
            return FaultChange::Cleared;
        }
        if spec.drop_connection {
            self.drop_connection();
            return FaultChange::ConnectionDropped;
        }
        let matches = CommandMatch::of(spec.matches.as_ref().map(|p| &p.0));
        let faults: Vec<Fault> = match spec.latency {
            Some(LatencySpec::Profile(profile)) => profile
                .table()
                .iter()
                .map(|&(ins, millis)| Fault {
                    kind: FaultKind::Latency(Duration::from_millis(millis)),
                    matches: ins.map_or(CommandMatch::Any, CommandMatch::Ins),
                    remaining: spec.count,
                })
                .collect(),
            Some(LatencySpec::Fixed(latency)) => vec![Fault { kind: FaultKind::Latency(latency), matches, remaining: spec.count }],
            None => {
                let kind = match &spec.sw {
                    Some(sw) => {
                        let bytes = sw.0.bytes_or_zero();
                        FaultKind::Sw { sw: [bytes[0], bytes[1]], executed: spec.executed }
                    }
                    None => FaultKind::Tear,
                };
                vec![Fault { kind, matches, remaining: spec.count.or(Some(1)) }]
            }
        };
        let added = faults.iter().map(Fault::to_string).collect();
        self.change(|slot| slot.faults.extend(faults));
        FaultChange::Added(added)
    }

    /// A power event on the card alone, unseen by pcscd (a control request's warm reset
    /// or power glitch).
    pub fn power(&self, event: PowerEvent) {
        let what = power_name(event);
        self.change_telling(Some(&|card| Event::Power { card, what: what.to_owned() }), |slot| slot.card.card.power(event));
    }

    /// Tells watchers a control request changed the card.
    pub fn announce(&self, done: &str) {
        self.publish(|card| Event::Control { card, done: done.to_owned() });
    }

    /// Puts another card in the slot (removing the current one first if inserted).
    pub fn replace(&self, card: LoadedCard) {
        let was_inserted = self.lock().inserted;
        self.remove();
        self.lock().card = card;
        if was_inserted {
            self.insert();
        }
    }

    /// Pulls the card out: the vpcd connection closes, and stays closed until [`Slot::insert`].
    pub fn remove(&self) {
        tracing::debug!(card = %self.name, "removed from the reader");
        self.change_telling(Some(&|card| Event::Removed { card }), |slot| {
            slot.inserted = false;
            slot.card.card.power(PowerEvent::Off);
            if let Some(connection) = slot.connection.take() {
                let _ = connection.shutdown(std::net::Shutdown::Both);
            }
            self.inner.1.notify_all();
        });
    }

    /// Puts the card back.
    pub fn insert(&self) {
        tracing::debug!(card = %self.name, "inserted");
        self.change_telling(Some(&|card| Event::Inserted { card }), |slot| slot.inserted = true);
        self.inner.1.notify_all();
    }

    /// Cuts the vpcd connection without removing the card (it reconnects).
    pub fn drop_connection(&self) {
        self.change(|slot| {
            if let Some(connection) = slot.connection.take() {
                let _ = connection.shutdown(std::net::Shutdown::Both);
            }
        });
    }

    /// Whether the card is in the reader.
    pub fn is_inserted(&self) -> bool {
        self.lock().inserted
    }

    /// How many times the card has connected to vpcd.
    pub fn connections(&self) -> u64 {
        self.lock().connections
    }

    /// Adds a fault.
    pub fn add_fault(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.change(|slot| slot.faults.clear());
    }

    /// The faults in force.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// Sends one APDU to the card in process (no pcscd), faults applied.
    pub fn transmit(&self, apdu: &[u8]) -> Answer {
        if !self.is_inserted() {
            return Answer::NoCard;
        }
        let mut response = Vec::new();
        match self.answer(apdu, &mut response) {
            Delivery::Send => Answer::Response(response),
            Delivery::TearOut => {
                self.remove();
                Answer::NoCard
            }
        }
    }

    /// The card's answer to `apdu` with the faults applied; the state is persisted before
    /// this returns, so a caller that sends the answer sends it after the state is durable.
    fn answer(&self, apdu: &[u8], response: &mut Vec<u8>) -> Delivery {
        let mut latency = Duration::ZERO;
        let mut delivery = Delivery::Send;
        // Watched: the command named at the card's own selection, before it runs.
        let mut watched: Option<(Instant, Decoder, String)> = None;
        let changed;
        {
            let mut state = self.lock();
            if self.events.is_watched() {
                let mut decoder = Decoder::at(&state.card.card);
                let name = decoder.command(apdu);
                watched = Some((Instant::now(), decoder, name));
            }
            let mut override_sw = None;
            let mut execute = true;
            let mut tear = false;
            for fault in state.faults.iter_mut().filter(|f| f.remaining != Some(0) && f.matches.matches(apdu)) {
                match fault.kind {
                    FaultKind::Latency(d) => latency += d,
                    FaultKind::Sw { sw, executed } if override_sw.is_none() && !tear => {
                        override_sw = Some(sw);
                        execute = executed;
                    }
                    FaultKind::Tear if override_sw.is_none() && !tear => tear = true,
                    _ => continue,
                }
                if let Some(n) = fault.remaining.as_mut() {
                    *n -= 1;
                }
            }
            state.faults.retain(|f| f.remaining != Some(0));
            if execute {
                state.card.answer(apdu, response);
            }
            if let Some(sw) = override_sw {
                response.clear();
                response.extend_from_slice(&sw);
            }
            if tear {
                delivery = Delivery::TearOut;
            }
            changed = if watched.is_some() { state.changed_state(&self.events) } else { None };
        }
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        if let Some((started, mut decoder, name)) = watched {
            let torn = delivery == Delivery::TearOut;
            self.events.publish(&Event::Apdu {
                card: self.name.clone(),
                at_ms: unix_millis(),
                command: crate::transcript::masked_hex(apdu),
                name,
                response: (!torn).then(|| crate::scenario::template::hex(response)),
                meaning: (!torn).then(|| decoder.response(response)),
                micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            });
            if let Some(state) = changed {
                self.events.publish(&Event::State { card: self.name.clone(), state });
            }
        }
        delivery
    }

    /// Serves this slot to the vpcd at `addr` until the process ends: connects while the
    /// card is inserted, reconnects after drops.
    /// `ready` is created once connected (see [`crate::vpcd::serve`]).
    pub fn serve(&self, addr: &str, ready: Option<&std::path::Path>, socket_fix: bool) -> std::io::Result<()> {
        let mut handle = SlotCard { slot: self.clone() };
        crate::vpcd::serve(&mut handle, addr, ready, socket_fix)
    }
}

/// A real-card timing profile (`fault: { latency: contactless | contact }`): latency added
/// per command, by INS, so software meets the card at the speed of a real one. The values
/// are **estimates**, derived below; the spec has no timing data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingProfile {
    /// A card on a contactless (ISO/IEC 14443) reader.
    Contactless,
    /// A card in a contact (ISO/IEC 7816-3) reader.
    Contact,
}

impl TimingProfile {
    /// Added latency per INS in ms (`None`: every command, the frame exchange itself).
    ///
    /// - Contactless: a short frame each way at 212–424 kbit/s with ISO/IEC 14443-4
    ///   framing and the reader's polling is some milliseconds (6); READ BINARY of up to
    ///   256 bytes adds its transfer (14).
    /// - Contact: the default ATR's TA1 = 13 (Fi 372, Di 4) gives 93 clock cycles per
    ///   elementary time unit, 23 µs at a reader's usual 4 MHz, about 11 etu a byte under
    ///   T=1: 0.26 ms a byte. A short command and its answer with T=1 framing are about
    ///   15 bytes, plus the reader's USB exchange: 5 ms; 256 bytes of READ BINARY add 65.
    /// - Both: VERIFY writes the retry counter to EEPROM (25 contactless, where the field
    ///   limits the write current; 12 on contacts); COMPUTE DIGITAL SIGNATURE (80 2A) and
    ///   INTERNAL AUTHENTICATE (88) are RSA-2048 private-key operations, a few hundred
    ///   milliseconds on card chips (300; the same chip on either interface).
    pub const fn table(self) -> &'static [(Option<u8>, u64)] {
        match self {
            TimingProfile::Contactless => &[(None, 6), (Some(0xB0), 14), (Some(0x20), 25), (Some(0x2A), 300), (Some(0x88), 300)],
            TimingProfile::Contact => &[(None, 5), (Some(0xB0), 65), (Some(0x20), 12), (Some(0x2A), 300), (Some(0x88), 300)],
        }
    }

    /// The total added latency for a command with this INS: the frame exchange plus the
    /// command's own share.
    pub fn added_ms(self, ins: u8) -> u64 {
        self.table().iter().filter(|(class, _)| class.is_none_or(|c| c == ins)).map(|(_, ms)| ms).sum()
    }

    /// The name written in a scenario (`contactless`, `contact`).
    pub const fn name(self) -> &'static str {
        match self {
            TimingProfile::Contactless => "contactless",
            TimingProfile::Contact => "contact",
        }
    }
}

/// `power off`, `power on`, `warm reset`.
fn power_name(event: PowerEvent) -> &'static str {
    match event {
        PowerEvent::Off => "power off",
        PowerEvent::On => "power on",
        PowerEvent::WarmReset => "warm reset",
    }
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The slot as the transport sees it.
struct SlotCard {
    slot: Slot,
}

impl VirtualCard for SlotCard {
    fn name(&self) -> &str {
        &self.slot.name
    }

    fn atr(&self) -> Vec<u8> {
        self.slot.lock().card.card.atr().to_vec()
    }

    fn power(&mut self, event: PowerEvent) {
        self.slot.power(event);
    }

    fn process(&mut self, apdu: &[u8], response: &mut Vec<u8>) -> Delivery {
        let delivery = self.slot.answer(apdu, response);
        if delivery == Delivery::TearOut {
            self.slot.remove();
        }
        delivery
    }

    fn wait_inserted(&mut self) {
        let mut state = self.slot.lock();
        while !state.inserted {
            state = self.slot.inner.1.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn connected(&mut self, stream: &TcpStream) {
        self.slot.change_telling(Some(&|card| Event::Connected { card }), |slot| {
            slot.connections += 1;
            slot.connection = stream.try_clone().ok();
            if !slot.inserted {
                // Removed while connecting: cut it at once.
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
    }
}
