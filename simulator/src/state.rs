//! Persistent card state (spec §3.5, §3.11): retry counters, blocked flags and changed
//! PIN values survive every power event. The harness writes it to the profile's state
//! file; this module only converts.

use serde::{Deserialize, Serialize};

use crate::pins::{PinId, PinRecord};

/// What a real card keeps across power cycles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistentState {
    /// Format version.
    pub version: u32,
    /// The card this state belongs to (from its seed and My Number).
    pub card_id: String,
    /// Every PIN's value and counter.
    pub pins: Vec<PinState>,
}

/// One PIN in the state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinState {
    /// Which PIN.
    pub pin: PinId,
    /// Value and counter.
    #[serde(flatten)]
    pub record: PinRecord,
}

impl PersistentState {
    /// The current format version.
    pub const VERSION: u32 = 1;

    /// Captures the PINs (in [`PinId::ALL`] order).
    pub fn capture(card_id: &str, pins: &[PinRecord]) -> PersistentState {
        PersistentState {
            version: Self::VERSION,
            card_id: card_id.to_owned(),
            pins: PinId::ALL.iter().zip(pins).map(|(pin, record)| PinState { pin: *pin, record: record.clone() }).collect(),
        }
    }

    /// The PIN table this state describes, starting from `current` for PINs it omits.
    pub fn pins_for(&self, card_id: &str, current: &[PinRecord]) -> Result<Vec<PinRecord>, String> {
        if self.version != Self::VERSION {
            return Err(format!("state format version {} is not supported (expected {})", self.version, Self::VERSION));
        }
        if self.card_id != card_id {
            return Err(format!(
                "the state file belongs to card {} but this profile describes card {card_id}; delete the state file or fix the profile's seed",
                self.card_id
            ));
        }
        let mut pins = current.to_vec();
        for entry in &self.pins {
            if entry.record.remaining > entry.record.max_tries || entry.record.max_tries > 15 {
                return Err(format!("{}: remaining exceeds max_tries", entry.pin.describe()));
            }
            pins[entry.pin.index()] = entry.record.clone();
        }
        Ok(pins)
    }
}
