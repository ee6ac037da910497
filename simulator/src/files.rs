//! Elementary files and key objects of an application, with their access rules as data
//! (spec §4.2, §5.3, §6.3, §7.2). No crypto, no APDU parsing.

use crate::pins::{PinId, PinSet};
use crate::sw::Sw;

/// Who may read an EF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No credential needed.
    Free,
    /// After a VERIFY of any one of these PINs in the current session.
    AnyOf(PinSet),
    /// Never readable (present but protected, spec §4.2 "unknown objects").
    Never,
}

impl Access {
    /// Checks the rule against the verified PINs: `69 82` when not satisfied.
    pub fn check(self, verified: PinSet) -> Result<(), Sw> {
        match self {
            Access::Free => Ok(()),
            Access::AnyOf(pins) if pins.intersects(verified) => Ok(()),
            Access::AnyOf(_) | Access::Never => Err(Sw::SECURITY_STATUS_NOT_SATISFIED),
        }
    }
}

/// Index of a private key in its application's key table.
pub type KeyIndex = usize;

/// What an EF / object holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A transparent EF: READ BINARY.
    Binary(Vec<u8>),
    /// A linear record EF: READ RECORD (records numbered from 1).
    Records(Vec<Vec<u8>>),
    /// A PIN object: VERIFY / CHANGE.
    Pin(PinId),
    /// A private-key object: COMPUTE DIGITAL SIGNATURE / INTERNAL AUTHENTICATE.
    Key(KeyIndex),
    /// An internal EF: selectable, READ BINARY and READ RECORD answer `69 81` (the MF's
    /// `001E`, spec §13.1).
    Internal,
}

/// One file or object of an application's DF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ef {
    /// File identifier.
    pub fid: u16,
    /// Content.
    pub content: Content,
    /// Read rule (data files only; PIN/key objects are never readable).
    pub read: Access,
}

impl Ef {
    /// A transparent EF.
    pub fn binary(fid: u16, data: Vec<u8>, read: Access) -> Ef {
        Ef { fid, content: Content::Binary(data), read }
    }

    /// A record EF.
    pub fn records(fid: u16, records: Vec<Vec<u8>>, read: Access) -> Ef {
        Ef { fid, content: Content::Records(records), read }
    }

    /// An object seen on real cards whose content is unknown: it answers SELECT, and every
    /// READ with `69 82` (spec §4.2 "unknown objects", §5.3, §6.3).
    pub fn unknown(fid: u16) -> Ef {
        Ef { fid, content: Content::Binary(Vec::new()), read: Access::Never }
    }

    /// An internal EF ([`Content::Internal`]).
    pub fn internal(fid: u16) -> Ef {
        Ef { fid, content: Content::Internal, read: Access::Never }
    }

    /// A PIN object.
    pub fn pin(fid: u16, pin: PinId) -> Ef {
        Ef { fid, content: Content::Pin(pin), read: Access::Never }
    }

    /// A private-key object.
    pub fn key(fid: u16, key: KeyIndex) -> Ef {
        Ef { fid, content: Content::Key(key), read: Access::Never }
    }

    /// The short EF identifier: the low five bits of the FID, for FIDs 0001–001E (spec §3.3).
    pub const fn sfi(&self) -> Option<u8> {
        if self.fid >= 1 && self.fid <= 0x1E {
            Some(self.fid as u8)
        } else {
            None
        }
    }
}

/// Reads from a transparent EF (spec §3.3):
/// data within the file `90 00`; crossing the end with Le = `00` returns the rest with
/// `90 00`, with another Le the rest with `62 82`; offset at or past the end `6B 00`.
pub fn read_binary(data: &[u8], offset: usize, le: usize, le_is_max: bool) -> Result<(&[u8], Sw), Sw> {
    if offset >= data.len() {
        return Err(Sw::OFFSET_OUT_OF_RANGE);
    }
    let end = offset.saturating_add(le);
    if end <= data.len() {
        Ok((&data[offset..end], Sw::SUCCESS))
    } else if le_is_max {
        Ok((&data[offset..], Sw::SUCCESS))
    } else {
        Ok((&data[offset..], Sw::END_OF_FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_binary_bounds() {
        let data = [1u8, 2, 3, 4];
        assert_eq!(read_binary(&data, 1, 2, false), Ok((&data[1..3], Sw::SUCCESS)));
        assert_eq!(read_binary(&data, 2, 256, true), Ok((&data[2..], Sw::SUCCESS)));
        assert_eq!(read_binary(&data, 2, 5, false), Ok((&data[2..], Sw::END_OF_FILE)));
        assert_eq!(read_binary(&data, 4, 1, false), Err(Sw::OFFSET_OUT_OF_RANGE));
    }

    #[test]
    fn access_rules() {
        let rule = Access::AnyOf(PinSet::of(&[PinId::TextPin, PinId::TextCodeA]));
        assert_eq!(rule.check(PinSet::EMPTY), Err(Sw::SECURITY_STATUS_NOT_SATISFIED));
        assert_eq!(rule.check(PinSet::of(&[PinId::TextCodeA])), Ok(()));
        assert_eq!(Access::Never.check(PinSet::of(&PinId::ALL)), Err(Sw::SECURITY_STATUS_NOT_SATISFIED));
    }
}
