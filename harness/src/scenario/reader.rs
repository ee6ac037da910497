//! How a scenario reaches a card: through PC/SC (the `pcsc` crate, a real pcscd and vpcd),
//! or in process (straight into the [`Slot`], no pcscd). Both apply the slot's faults,
//! since faults act in the slot.

use std::ffi::CString;
use std::time::{Duration, Instant};

use crate::slot::{Answer, Slot};
use mynasim_simulator::power::PowerEvent;

/// Why a command got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReaderError {
    /// No card in the reader (removed, torn out).
    #[error("no card in the reader (removed or torn out)")]
    NoCard,
    /// PC/SC said something else.
    #[error("PC/SC: {0}")]
    Pcsc(String),
}

/// A reader with one card slot.
pub trait Reader: Send {
    /// Sends a command; the R-APDU (data and status word).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError>;
    /// Warm reset (`cold`: power off and on).
    fn reset(&mut self, cold: bool) -> Result<(), ReaderError>;
    /// Forgets the connection (after pcscd restarts or the card was replaced).
    fn disconnect(&mut self);
    /// Waits until the reader shows the card present (`true`, after an insertion) or
    /// absent (`false`, after a removal).
    fn wait_present(&mut self, present: bool, timeout: Duration) -> Result<(), ReaderError>;
}

/// The card in process.
pub struct DirectReader {
    slot: Slot,
}

impl DirectReader {
    /// A reader for `slot`.
    pub fn new(slot: Slot) -> DirectReader {
        DirectReader { slot }
    }
}

impl Reader for DirectReader {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        match self.slot.transmit(apdu) {
            Answer::Response(r) => Ok(r),
            Answer::NoCard => Err(ReaderError::NoCard),
        }
    }

    fn reset(&mut self, cold: bool) -> Result<(), ReaderError> {
        if !self.slot.is_inserted() {
            return Err(ReaderError::NoCard);
        }
        self.slot
            .modify_card(|c| if cold { c.card.reset() } else { c.card.power(PowerEvent::WarmReset) })
            .map_err(|e| ReaderError::Pcsc(e.to_string()))
    }

    fn disconnect(&mut self) {}

    fn wait_present(&mut self, present: bool, _timeout: Duration) -> Result<(), ReaderError> {
        if self.slot.is_inserted() == present {
            Ok(())
        } else {
            Err(ReaderError::Pcsc(format!("the card is {}", if present { "absent" } else { "present" })))
        }
    }
}

/// A PC/SC reader of the pcscd this process talks to.
pub struct PcscReader {
    reader: CString,
    context: Option<pcsc::Context>,
    card: Option<pcsc::Card>,
    buffer: Vec<u8>,
}

fn pcsc_error(e: pcsc::Error) -> ReaderError {
    match e {
        pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard | pcsc::Error::ResetCard => ReaderError::NoCard,
        e => ReaderError::Pcsc(e.to_string()),
    }
}

impl PcscReader {
    /// The reader called `name` (e.g. `Virtual PCD 00 00`).
    pub fn new(name: &str) -> PcscReader {
        PcscReader {
            reader: CString::new(name).unwrap_or_default(),
            context: None,
            card: None,
            buffer: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        }
    }

    fn context(&mut self) -> Result<&pcsc::Context, ReaderError> {
        if self.context.as_ref().is_none_or(|c| c.is_valid().is_err()) {
            self.context = Some(pcsc::Context::establish(pcsc::Scope::User).map_err(pcsc_error)?);
        }
        self.context.as_ref().ok_or(ReaderError::Pcsc("no context".into()))
    }

    fn card(&mut self) -> Result<&mut pcsc::Card, ReaderError> {
        if self.card.is_none() {
            let reader = self.reader.clone();
            let card = self.context()?.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY).map_err(pcsc_error)?;
            self.card = Some(card);
        }
        self.card.as_mut().ok_or(ReaderError::NoCard)
    }

    /// Drops the connection and leaves the card as it is (dropping a `pcsc::Card` resets
    /// it, and a reset sent to a card being pulled out leaves vpcd stuck for 10 s).
    fn forget_card(&mut self) {
        if let Some(card) = self.card.take() {
            let _ = card.disconnect(pcsc::Disposition::LeaveCard);
        }
    }

    /// Whether pcscd shows a card in this reader: `Some(true)` present, `Some(false)`
    /// empty, `None` neither yet (pcscd is still working the change out, or the reader is
    /// unavailable).
    pub fn is_present(&mut self) -> Result<Option<bool>, ReaderError> {
        let reader = self.reader.clone();
        let context = self.context()?;
        let mut states = [pcsc::ReaderState::new(reader.as_c_str(), pcsc::State::UNAWARE)];
        match context.get_status_change(Duration::ZERO, &mut states) {
            Ok(()) => {
                let state = states[0].event_state();
                Ok(if state.contains(pcsc::State::PRESENT) && !state.contains(pcsc::State::MUTE) {
                    Some(true)
                } else if state.contains(pcsc::State::EMPTY) {
                    Some(false)
                } else {
                    None
                })
            }
            Err(pcsc::Error::UnknownReader) => Ok(None),
            Err(e) => {
                self.context = None;
                Err(pcsc_error(e))
            }
        }
    }
}

impl Reader for PcscReader {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let mut buffer = std::mem::take(&mut self.buffer);
        let result = match self.card() {
            Ok(card) => card.transmit(apdu, &mut buffer).map(<[u8]>::to_vec).map_err(pcsc_error),
            Err(e) => Err(e),
        };
        self.buffer = buffer;
        if result.is_err() {
            // The next command connects anew (the card may be back by then).
            self.forget_card();
        }
        result
    }

    fn reset(&mut self, cold: bool) -> Result<(), ReaderError> {
        let disposition = if cold { pcsc::Disposition::UnpowerCard } else { pcsc::Disposition::ResetCard };
        let result = self.card()?.reconnect(pcsc::ShareMode::Shared, pcsc::Protocols::ANY, disposition).map_err(pcsc_error);
        if result.is_err() {
            self.forget_card();
        }
        result
    }

    fn disconnect(&mut self) {
        self.forget_card();
        self.context = None;
    }

    fn wait_present(&mut self, present: bool, timeout: Duration) -> Result<(), ReaderError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.is_present() {
                Ok(Some(p)) if p == present => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Ok(_) => {
                    let state = if present { "present" } else { "absent" };
                    return Err(ReaderError::Pcsc(format!("pcscd did not show the card {state} within {timeout:?}")));
                }
                Err(e) => return Err(e),
            }
        }
    }
}
