//! Status words (SW1 SW2), spec §3.10.
//!
//! Every status word the card can answer is a named constant here, so that
//! `grep -rn 'Sw::SECURITY_STATUS_NOT_SATISFIED'` finds every place that answers it.

use std::borrow::Cow;
use std::fmt;

/// A status word: SW1 in the high byte, SW2 in the low byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sw(pub u16);

impl Sw {
    /// `90 00`: success.
    pub const SUCCESS: Sw = Sw(0x9000);
    /// `62 82`: end of file reached before Le bytes (READ BINARY crossing the end, Le ≠ 00), §3.3.
    pub const END_OF_FILE: Sw = Sw(0x6282);
    /// `63 00`: verification failed, no retry counter (a key without a limit), §5.2.
    pub const VERIFY_FAILED_NO_COUNTER: Sw = Sw(0x6300);
    /// `65 81`: memory failure. Never answered by the core: the I/O edge answers it when a
    /// state change cannot be made durable (a real card's EEPROM write failing), ISO 7816-4
    /// §5.6.
    pub const MEMORY_FAILURE: Sw = Sw(0x6581);
    /// `66 F1`: SET SESSION KEY in an AP without secure messaging (surface and common APs), §5.6.
    pub const SESSION_KEY_UNSUPPORTED: Sw = Sw(0x66F1);
    /// `67 00`: wrong length (Lc, Le or data size), §3.10.
    pub const WRONG_LENGTH: Sw = Sw(0x6700);
    /// `68 81`: logical channel not supported (CLA channel bits set).
    pub const LOGICAL_CHANNEL_UNSUPPORTED: Sw = Sw(0x6881);
    /// `68 82`: secure messaging not supported (CLA 08/0C outside the text AP), §3.1.
    pub const SECURE_MESSAGING_UNSUPPORTED: Sw = Sw(0x6882);
    /// `68 84`: command chaining not supported (CLA bit 0x10), §3.1.
    pub const CHAINING_UNSUPPORTED: Sw = Sw(0x6884);
    /// `69 81`: command incompatible with file structure (READ on a PIN/key object), §3.3.
    pub const INCOMPATIBLE_FILE_STRUCTURE: Sw = Sw(0x6981);
    /// `69 82`: security status not satisfied (credential not verified), §3.10.
    pub const SECURITY_STATUS_NOT_SATISFIED: Sw = Sw(0x6982);
    /// `69 84`: reference data not usable (PIN blocked), §3.5.
    pub const PIN_BLOCKED: Sw = Sw(0x6984);
    /// `69 85`: conditions of use not satisfied, §5.5, §6.4.
    pub const CONDITIONS_NOT_SATISFIED: Sw = Sw(0x6985);
    /// `69 86`: command not allowed (no current EF or object), §3.3.
    pub const NO_CURRENT_EF: Sw = Sw(0x6986);
    /// `69 87`: expected secure-messaging data objects missing (CLA 0C in the text AP), §5.6.
    pub const SM_OBJECTS_MISSING: Sw = Sw(0x6987);
    /// `69 88`: incorrect secure-messaging data objects; the session is destroyed, §5.6.
    pub const SM_DATA_OBJECTS_INCORRECT: Sw = Sw(0x6988);
    /// `69 FC`: proprietary; SM command without a session, §3.1, §5.6.
    pub const SM_NO_SESSION: Sw = Sw(0x69FC);
    /// `6A 80`: incorrect data (bad new PIN format), §3.6.
    pub const INCORRECT_DATA: Sw = Sw(0x6A80);
    /// `6A 81`: function not supported (READ RECORD P2 forms the card lacks), §7.2.
    pub const FUNCTION_UNSUPPORTED: Sw = Sw(0x6A81);
    /// `6A 82`: file or application not found, §2.5, §3.2.
    pub const NOT_FOUND: Sw = Sw(0x6A82);
    /// `6A 83`: record not found.
    pub const RECORD_NOT_FOUND: Sw = Sw(0x6A83);
    /// `6A 88`: referenced data not found (GET DATA of an unknown tag), §2.3.
    pub const DATA_NOT_FOUND: Sw = Sw(0x6A88);
    /// `6A 86`: incorrect P1-P2, §3.10.
    pub const INCORRECT_P1P2: Sw = Sw(0x6A86);
    /// `6B 00`: wrong parameters (offset at or beyond the end of the EF), §3.3.
    pub const OFFSET_OUT_OF_RANGE: Sw = Sw(0x6B00);
    /// `6D 00`: instruction not supported, §3.9.
    pub const INS_NOT_SUPPORTED: Sw = Sw(0x6D00);
    /// `6E 00`: class not supported, §3.9.
    pub const CLA_NOT_SUPPORTED: Sw = Sw(0x6E00);
    /// `6F 00`: no precise diagnosis (SET SESSION KEY ciphertext ≥ modulus), §5.6.
    pub const NO_PRECISE_DIAGNOSIS: Sw = Sw(0x6F00);

    /// `63 Cx`: wrong PIN or status query with `tries` tries left (x ≤ 15), §3.5.
    pub const fn retries_left(tries: u8) -> Sw {
        let x = if tries > 15 { 15 } else { tries };
        Sw(0x63C0 | x as u16)
    }

    /// SW1.
    pub const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2.
    pub const fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// The two bytes as sent on the wire.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// Reads the status word from the last two bytes of a response APDU.
    pub fn from_response(response: &[u8]) -> Option<Sw> {
        match response {
            [.., sw1, sw2] => Some(Sw(u16::from_be_bytes([*sw1, *sw2]))),
            _ => None,
        }
    }

    /// For `63 Cx`, the tries left.
    pub const fn tries_left(self) -> Option<u8> {
        if self.0 & 0xFFF0 == 0x63C0 {
            Some((self.0 & 0x0F) as u8)
        } else {
            None
        }
    }

    /// True for `90 00`.
    pub const fn is_success(self) -> bool {
        self.0 == 0x9000
    }

    /// A few words on what the card means by it (for reports and decoded transcripts).
    pub fn meaning(self) -> Cow<'static, str> {
        if let Some(tries) = self.tries_left() {
            return Cow::Owned(format!("wrong PIN or tries query, {tries} tries left"));
        }
        Cow::Borrowed(match self {
            Sw::SUCCESS => "success",
            Sw::END_OF_FILE => "end of file before Le bytes",
            Sw::VERIFY_FAILED_NO_COUNTER => "verification failed (no retry counter)",
            Sw::MEMORY_FAILURE => "memory failure",
            Sw::SESSION_KEY_UNSUPPORTED => "no secure messaging in this AP",
            Sw::WRONG_LENGTH => "wrong length",
            Sw::LOGICAL_CHANNEL_UNSUPPORTED => "logical channel not supported",
            Sw::SECURE_MESSAGING_UNSUPPORTED => "secure messaging not supported",
            Sw::CHAINING_UNSUPPORTED => "command chaining not supported",
            Sw::INCOMPATIBLE_FILE_STRUCTURE => "command incompatible with the file structure",
            Sw::SECURITY_STATUS_NOT_SATISFIED => "security status not satisfied",
            Sw::PIN_BLOCKED => "PIN blocked",
            Sw::CONDITIONS_NOT_SATISFIED => "conditions of use not satisfied",
            Sw::NO_CURRENT_EF => "command not allowed, no current EF",
            Sw::SM_OBJECTS_MISSING => "secure-messaging data objects missing",
            Sw::SM_DATA_OBJECTS_INCORRECT => "secure-messaging data objects incorrect (session ended)",
            Sw::SM_NO_SESSION => "no secure-messaging session",
            Sw::INCORRECT_DATA => "incorrect data",
            Sw::FUNCTION_UNSUPPORTED => "function not supported",
            Sw::NOT_FOUND => "file or application not found",
            Sw::RECORD_NOT_FOUND => "record not found",
            Sw::DATA_NOT_FOUND => "data object not found",
            Sw::INCORRECT_P1P2 => "incorrect P1-P2",
            Sw::OFFSET_OUT_OF_RANGE => "wrong parameters (offset)",
            Sw::INS_NOT_SUPPORTED => "instruction not supported",
            Sw::CLA_NOT_SUPPORTED => "class not supported",
            Sw::NO_PRECISE_DIAGNOSIS => "no precise diagnosis",
            _ => "not a status word of this card",
        })
    }
}

impl fmt::Debug for Sw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sw({:04X})", self.0)
    }
}

impl fmt::Display for Sw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X}", self.sw1(), self.sw2())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_round_trip() {
        for n in 0..=15 {
            assert_eq!(Sw::retries_left(n).tries_left(), Some(n));
        }
        assert_eq!(Sw::retries_left(3).to_bytes(), [0x63, 0xC3]);
        assert_eq!(Sw::SUCCESS.tries_left(), None);
    }

    #[test]
    fn reads_from_response() {
        assert_eq!(Sw::from_response(&[1, 2, 0x6A, 0x82]), Some(Sw::NOT_FOUND));
        assert_eq!(Sw::from_response(&[0x90]), None);
    }
}
