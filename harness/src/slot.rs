//! A card in a reader slot, shared between the transport that serves it and whoever
//! controls it from outside (a scenario now; live control later): insert and remove it,
//! reload it from its profile, read its state, and inject transport faults (latency,
//! status-word overrides, tear-out).
//!
//! Faults act where a real reader's would: between the card and the wire. A status word
//! override that is "not executed" answers without the card seeing the command; an
//! "executed" one lets the card run it and replaces the answer; a tear-out lets the card
//! run the command (a VERIFY has spent its try, persisted) and pulls the card before the
//! answer leaves.

use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::load::LoadedCard;
use crate::vpcd::{Delivery, VirtualCard};
use mynasim_simulator::power::PowerEvent;

/// Which commands a fault applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandMatch {
    /// Every command.
    Any,
    /// Commands with this INS byte.
    Ins(u8),
    /// Commands starting with these bytes (`None` nibbles match anything).
    Prefix(Vec<Option<u8>>),
}

impl CommandMatch {
    /// Whether `apdu` matches.
    pub fn matches(&self, apdu: &[u8]) -> bool {
        match self {
            CommandMatch::Any => true,
            CommandMatch::Ins(ins) => apdu.get(1) == Some(ins),
            CommandMatch::Prefix(nibbles) => {
                apdu.len() * 2 >= nibbles.len()
                    && nibbles.iter().enumerate().all(|(i, n)| {
                        let byte = apdu[i / 2];
                        n.is_none_or(|n| n == if i % 2 == 0 { byte >> 4 } else { byte & 0xF })
                    })
            }
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

struct SlotState {
    card: LoadedCard,
    inserted: bool,
    faults: Vec<Fault>,
    /// The live vpcd connection, to cut it on removal.
    connection: Option<TcpStream>,
    /// Counts connections to vpcd (a new one after every insertion or reconnect).
    connections: u64,
}

/// A shared card slot (cheap to clone: all clones are one slot).
#[derive(Clone)]
pub struct Slot {
    inner: Arc<(Mutex<SlotState>, Condvar)>,
    name: String,
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
    /// A slot holding `card`, inserted.
    pub fn new(card: LoadedCard) -> Slot {
        let name = card.name.clone();
        let state = SlotState { card, inserted: true, faults: Vec::new(), connection: None, connections: 0 };
        Slot { inner: Arc::new((Mutex::new(state), Condvar::new())), name }
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
        let mut state = self.lock();
        let out = f(&mut state.card);
        state.card.save_if_changed()?;
        Ok(out)
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
        let mut state = self.lock();
        state.inserted = false;
        state.card.card.power(PowerEvent::Off);
        if let Some(connection) = state.connection.take() {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
        self.inner.1.notify_all();
    }

    /// Puts the card back.
    pub fn insert(&self) {
        tracing::debug!(card = %self.name, "inserted");
        self.lock().inserted = true;
        self.inner.1.notify_all();
    }

    /// Cuts the vpcd connection without removing the card (it reconnects).
    pub fn drop_connection(&self) {
        if let Some(connection) = self.lock().connection.take() {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
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
        self.lock().faults.clear();
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
        {
            let mut state = self.lock();
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
        }
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        delivery
    }

    /// Serves this slot to the vpcd at `addr` until the process ends: connects while the
    /// card is inserted, reconnects after drops.
    pub fn serve(&self, addr: &str, socket_fix: bool) -> std::io::Result<()> {
        let mut handle = SlotCard { slot: self.clone() };
        crate::vpcd::serve(&mut handle, addr, None, socket_fix)
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
        self.slot.lock().card.card.power(event);
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
        let mut state = self.slot.lock();
        state.connections += 1;
        state.connection = stream.try_clone().ok();
        if !state.inserted {
            // Removed while connecting: cut it at once.
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}
