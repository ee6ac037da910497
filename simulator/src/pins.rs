//! PIN objects (key references, "IEF"s) and their retry counters, spec §3.5, §5.2, §6.2, §7.2.
//!
//! Counters and values are the card's persistent state; which PINs are verified is
//! volatile session state ([`PinSet`] in [`crate::card::Session`]).

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::sw::Sw;

/// Every PIN / verification key on the card, across applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinId {
    /// JPKI 0018 利用者証明用パスワード: 4 digits, 3 tries (spec §4.2).
    AuthPin,
    /// JPKI 001B 署名用パスワード: 6–16 of A–Z/0–9, 5 tries (spec §4.2).
    SignPassword,
    /// Text AP 0011 券面事項入力補助用暗証番号: 4 digits, 3 tries (spec §5.2).
    TextPin,
    /// Text AP 0012: arrives blocked on every card (spec §5.2).
    TextReserved,
    /// Text AP 0014 照合番号A: the 12-digit My Number (spec §5.2).
    TextCodeA,
    /// Text AP 0015 照合番号B: 14 digits (spec §5.2, §6.2).
    TextCodeB,
    /// Surface AP 0011 生年月日読出用暗証番号: era YYMMDD (spec §6.2).
    SurfaceBirthDate,
    /// Surface AP 0012 照合番号B: 14 digits, 10 tries (spec §6.2).
    SurfaceCodeB,
    /// Surface AP 0013 照合番号A: the My Number (spec §6.2).
    SurfaceCodeA,
    /// 共通カードAP 001C: 4 digits, 3 tries (spec §7.2).
    CommonPin,
    /// 住基AP 001C: 4 digits, 3 tries, own counter (spec §7.3).
    JukiPin,
}

impl PinId {
    /// Every PIN, in a fixed order (the index of [`PinId::index`]).
    pub const ALL: [PinId; 11] = [
        PinId::AuthPin,
        PinId::SignPassword,
        PinId::TextPin,
        PinId::TextReserved,
        PinId::TextCodeA,
        PinId::TextCodeB,
        PinId::SurfaceBirthDate,
        PinId::SurfaceCodeB,
        PinId::SurfaceCodeA,
        PinId::CommonPin,
        PinId::JukiPin,
    ];

    /// Position in [`PinId::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The value rules of this PIN.
    pub const fn format(self) -> PinFormat {
        match self {
            PinId::AuthPin | PinId::TextPin | PinId::CommonPin | PinId::JukiPin => PinFormat::FourDigits,
            PinId::SignPassword => PinFormat::SignPassword,
            PinId::TextCodeA | PinId::SurfaceCodeA => PinFormat::Digits(12),
            PinId::TextCodeB | PinId::SurfaceCodeB => PinFormat::Digits(14),
            PinId::SurfaceBirthDate => PinFormat::Digits(6),
            PinId::TextReserved => PinFormat::Unknown,
        }
    }

    /// The value length whose violation is refused with `67 00` without costing a try.
    ///
    /// \[unk\] Spec §3.5 (JPKI): "a wrong value of any length is a wrong PIN", so the JPKI PINs
    /// count every wrong value. Spec §5.2 (the 券面 APs, "same model in §6, §7"): a
    /// wrong-length value is refused with `67 00` and no try is spent; the common and juki
    /// APs follow that model too.
    pub const fn refused_length(self) -> Option<usize> {
        match self.format() {
            _ if matches!(self, PinId::AuthPin | PinId::SignPassword) => None,
            PinFormat::FourDigits => Some(4),
            PinFormat::Digits(n) => Some(n),
            PinFormat::SignPassword | PinFormat::Unknown => None,
        }
    }

    /// A short human name, for the inspection output.
    pub const fn describe(self) -> &'static str {
        match self {
            PinId::AuthPin => "JPKI auth PIN (0018)",
            PinId::SignPassword => "JPKI signature password (001B)",
            PinId::TextPin => "text AP PIN (0011)",
            PinId::TextReserved => "text AP reserved key (0012)",
            PinId::TextCodeA => "text AP collation number A (0014)",
            PinId::TextCodeB => "text AP collation number B (0015)",
            PinId::SurfaceBirthDate => "surface AP birth-date key (0011)",
            PinId::SurfaceCodeB => "surface AP collation number B (0012)",
            PinId::SurfaceCodeA => "surface AP collation number A (0013)",
            PinId::CommonPin => "common AP PIN (001C)",
            PinId::JukiPin => "juki AP PIN (001C)",
        }
    }
}

/// The format rules of a PIN value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinFormat {
    /// Exactly four ASCII digits; changeable by the holder.
    FourDigits,
    /// 6–16 characters of A–Z and 0–9 (spec §3.5); changeable.
    SignPassword,
    /// A fixed number of ASCII digits derived from the card face; not changeable.
    Digits(usize),
    /// No known value (the blocked text-AP key 0012).
    Unknown,
}

impl PinFormat {
    /// Checks a value against the format.
    pub fn accepts(self, value: &[u8]) -> bool {
        match self {
            PinFormat::FourDigits => value.len() == 4 && value.iter().all(u8::is_ascii_digit),
            PinFormat::SignPassword => {
                (6..=16).contains(&value.len()) && value.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }
            PinFormat::Digits(n) => value.len() == n && value.iter().all(u8::is_ascii_digit),
            PinFormat::Unknown => false,
        }
    }

    /// Whether the holder can change it (CHANGE REFERENCE DATA / CHANGE KEY).
    pub const fn is_changeable(self) -> bool {
        matches!(self, PinFormat::FourDigits | PinFormat::SignPassword)
    }

    /// A description for error messages.
    pub const fn describe(self) -> &'static str {
        match self {
            PinFormat::FourDigits => "exactly 4 digits",
            PinFormat::SignPassword => "6 to 16 characters, upper-case A-Z and digits 0-9",
            PinFormat::Digits(12) => "12 digits",
            PinFormat::Digits(14) => "14 digits",
            PinFormat::Digits(6) => "6 digits",
            PinFormat::Digits(_) => "digits",
            PinFormat::Unknown => "no value",
        }
    }
}

/// A set of PINs as a bit mask (verified flags, access rules).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinSet(u16);

impl PinSet {
    /// No PIN.
    pub const EMPTY: PinSet = PinSet(0);

    /// The set with exactly these PINs.
    pub const fn of(pins: &[PinId]) -> PinSet {
        let mut bits = 0u16;
        let mut i = 0;
        while i < pins.len() {
            bits |= 1 << pins[i] as u16;
            i += 1;
        }
        PinSet(bits)
    }

    /// Adds a PIN.
    pub fn insert(&mut self, pin: PinId) {
        self.0 |= 1 << pin as u16;
    }

    /// Removes a PIN.
    pub fn remove(&mut self, pin: PinId) {
        self.0 &= !(1 << pin as u16);
    }

    /// True if the PIN is in the set.
    pub const fn contains(self, pin: PinId) -> bool {
        self.0 & (1 << pin as u16) != 0
    }

    /// True if the sets share a PIN.
    pub const fn intersects(self, other: PinSet) -> bool {
        self.0 & other.0 != 0
    }

    /// True if empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// One PIN's value and counter: the persistent part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinRecord {
    /// The reference value (ASCII bytes as sent in VERIFY). Zeroized on drop.
    #[serde(with = "serde_secret")]
    pub value: Zeroizing<Vec<u8>>,
    /// The counter's initial value, restored on a correct VERIFY.
    pub max_tries: u8,
    /// Tries left; 0 = blocked.
    pub remaining: u8,
}

/// PIN values in the state file: as text when they are printable ASCII (every PIN a holder
/// types), otherwise `hex:` and the bytes (the text AP's reserved key 0012, whose value is
/// derived bytes): a save and a load give back the same bytes. No PIN a holder types can
/// start with `hex:` (digits and upper-case letters only).
mod serde_secret {
    use serde::{de, Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    const HEX: &str = "hex:";

    pub fn serialize<S: Serializer>(value: &Zeroizing<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        if value.iter().all(|b| b.is_ascii_graphic() || *b == b' ') && !value.starts_with(HEX.as_bytes()) {
            s.serialize_str(&String::from_utf8_lossy(value))
        } else {
            let text: Zeroizing<String> = Zeroizing::new(value.iter().map(|b| format!("{b:02X}")).collect());
            s.serialize_str(&format!("{HEX}{}", text.as_str()))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        decode(&text).map_err(de::Error::custom)
    }

    /// A value as the state file writes it: text, or `hex:` and bytes.
    pub fn decode(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        match text.strip_prefix(HEX) {
            Some(hex) => crate::apdu::parse_hex(hex)
                .map(Zeroizing::new)
                .ok_or_else(|| "a value written `hex:` must go on with hex digits, two per byte".to_owned()),
            None => Ok(Zeroizing::new(text.as_bytes().to_vec())),
        }
    }
}

/// Reads a PIN value as the state file writes it (text, or `hex:` and the bytes).
pub(crate) fn decode_value(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    serde_secret::decode(text)
}

/// Outcome of a VERIFY with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Correct: the counter is back at its maximum.
    Verified,
    /// Wrong: the status word to answer (`63 Cx`, `69 84` or `67 00`).
    Refused(Sw),
}

impl PinRecord {
    /// True once the counter is exhausted.
    pub const fn is_blocked(&self) -> bool {
        self.remaining == 0
    }

    /// The answer to an empty VERIFY: always `63 Cx`, never consuming a try (spec §3.5:
    /// also when blocked (`63 C0`) and also when already verified).
    pub fn status(&self) -> Sw {
        Sw::retries_left(self.remaining)
    }

    /// VERIFY with a value (spec §3.5). A try is spent before comparing and given
    /// back only on success, so an interruption mid-command never gains a try.
    pub fn verify(&mut self, pin: PinId, candidate: &[u8]) -> VerifyOutcome {
        if self.is_blocked() {
            return VerifyOutcome::Refused(Sw::PIN_BLOCKED);
        }
        if pin.refused_length().is_some_and(|n| n != candidate.len()) {
            return VerifyOutcome::Refused(Sw::WRONG_LENGTH);
        }
        self.remaining -= 1;
        let equal = self.value.len() == candidate.len() && bool::from(self.value.as_slice().ct_eq(candidate));
        if equal {
            self.remaining = self.max_tries;
            VerifyOutcome::Verified
        } else {
            VerifyOutcome::Refused(Sw::retries_left(self.remaining))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: &str, max: u8) -> PinRecord {
        PinRecord { value: Zeroizing::new(value.as_bytes().to_vec()), max_tries: max, remaining: max }
    }

    #[test]
    fn counts_down_to_blocked_and_resets_on_success() {
        let mut pin = record("1234", 3);
        assert_eq!(pin.verify(PinId::AuthPin, b"0000"), VerifyOutcome::Refused(Sw::retries_left(2)));
        assert_eq!(pin.verify(PinId::AuthPin, b"1234"), VerifyOutcome::Verified);
        assert_eq!(pin.remaining, 3);
        // JPKI: a wrong value of any length costs a try.
        for left in [2, 1, 0] {
            assert_eq!(pin.verify(PinId::AuthPin, b"9"), VerifyOutcome::Refused(Sw::retries_left(left)));
        }
        assert_eq!(pin.verify(PinId::AuthPin, b"1234"), VerifyOutcome::Refused(Sw::PIN_BLOCKED));
        assert_eq!(pin.status(), Sw::retries_left(0));
    }

    #[test]
    fn fixed_length_keys_refuse_wrong_length_without_a_try() {
        let mut code = record("123456789018", 10);
        assert_eq!(code.verify(PinId::TextCodeA, b"1234"), VerifyOutcome::Refused(Sw::WRONG_LENGTH));
        assert_eq!(code.remaining, 10);
        let mut text = record("1234", 3);
        assert_eq!(text.verify(PinId::TextPin, b"12345"), VerifyOutcome::Refused(Sw::WRONG_LENGTH));
        assert_eq!(text.verify(PinId::TextPin, b"0000"), VerifyOutcome::Refused(Sw::retries_left(2)));
    }

    #[test]
    fn formats() {
        assert!(PinFormat::SignPassword.accepts(b"ABC123"));
        assert!(!PinFormat::SignPassword.accepts(b"abc123"));
        assert!(!PinFormat::SignPassword.accepts(b"ABC12"));
        assert!(!PinFormat::SignPassword.accepts(b"ABCDEFGHIJ1234567"));
        assert!(PinFormat::FourDigits.accepts(b"0000"));
        assert!(!PinFormat::FourDigits.accepts(b"12a4"));
    }
}
