//! Persistent card state (spec §3.5, §3.11): retry counters, blocked flags and changed
//! PIN values survive every power event. The harness writes it to the profile's state
//! file; this module only converts.

use serde::{Deserialize, Serialize};

use crate::pins::{PinFormat, PinId, PinRecord};

/// What a real card keeps across power cycles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawState")]
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
#[serde(try_from = "RawPinState")]
pub struct PinState {
    /// Which PIN.
    pub pin: PinId,
    /// Value and counter.
    #[serde(flatten)]
    pub record: PinRecord,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    version: u32,
    card_id: String,
    pins: Vec<serde_saphyr::Spanned<PinState>>,
}

impl TryFrom<RawState> for PersistentState {
    type Error = String;

    fn try_from(raw: RawState) -> Result<Self, String> {
        for (i, entry) in raw.pins.iter().enumerate() {
            if let Some(first) = raw.pins[..i].iter().find(|e| e.value.pin == entry.value.pin) {
                return Err(format!(
                    "pins: `{}` appears twice (lines {} and {}); keep one entry per PIN",
                    entry.value.pin.describe(),
                    first.referenced.line(),
                    entry.referenced.line()
                ));
            }
        }
        Ok(PersistentState { version: raw.version, card_id: raw.card_id, pins: raw.pins.into_iter().map(|e| e.value).collect() })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPinState {
    pin: PinId,
    value: String,
    max_tries: i64,
    remaining: i64,
}

impl TryFrom<RawPinState> for PinState {
    type Error = String;

    fn try_from(raw: RawPinState) -> Result<Self, String> {
        let name = raw.pin.describe();
        let count = |field: &str, n: i64| {
            u8::try_from(n).ok().filter(|n| *n <= 15).ok_or_else(|| format!("{name}: {field} must be 0 to 15, got {n}"))
        };
        let (max_tries, remaining) = (count("max_tries", raw.max_tries)?, count("remaining", raw.remaining)?);
        let value = crate::pins::decode_value(&raw.value).map_err(|e| format!("{name}: {e}"))?;
        let record = PinRecord { value, max_tries, remaining };
        check_entry(raw.pin, &record)?;
        Ok(PinState { pin: raw.pin, record })
    }
}

/// The rules every state-file entry follows: a counter of 1 to 15 tries, no more left than
/// that, and a value the PIN can have.
fn check_entry(pin: PinId, record: &PinRecord) -> Result<(), String> {
    let name = pin.describe();
    if !(1..=15).contains(&record.max_tries) {
        return Err(format!("{name}: max_tries must be 1 to 15, got {}", record.max_tries));
    }
    if record.remaining > record.max_tries {
        return Err(format!(
            "{name}: remaining ({}) exceeds max_tries ({}); write remaining: 0 to {}",
            record.remaining, record.max_tries, record.max_tries
        ));
    }
    let format = pin.format();
    if format != PinFormat::Unknown && !format.accepts(&record.value) {
        return Err(format!(
            "{name}: this value cannot be this PIN's: it must be {}; write such a value, or delete the state file to start from the profile",
            format.describe()
        ));
    }
    Ok(())
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
        let mut seen = crate::pins::PinSet::default();
        for entry in &self.pins {
            check_entry(entry.pin, &entry.record)?;
            if seen.contains(entry.pin) {
                return Err(format!("pins: `{}` appears twice; keep one entry per PIN", entry.pin.describe()));
            }
            seen.insert(entry.pin);
            pins[entry.pin.index()] = entry.record.clone();
        }
        Ok(pins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "  - pin: auth_pin\n    value: '1234'\n    max_tries: 3\n    remaining: 2\n";

    fn parse(text: &str) -> Result<PersistentState, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn duplicate_entries_and_impossible_values_are_refused() {
        let head = "version: 1\ncard_id: abc\npins:\n";
        assert!(parse(&format!("{head}{ENTRY}")).is_ok());
        let err = parse(&format!("{head}{ENTRY}{ENTRY}")).unwrap_err();
        assert!(err.contains("appears twice (lines 4 and 8)"), "{err}");
        let err = parse(&format!("{head}{}", ENTRY.replace("'1234'", "'12a4'"))).unwrap_err();
        assert!(err.contains("must be exactly 4 digits"), "{err}");
        let err = parse(&format!("{head}{}", ENTRY.replace("remaining: 2", "remaining: 4"))).unwrap_err();
        assert!(err.contains("exceeds max_tries"), "{err}");
    }
}
