//! Command APDU parsing (ISO/IEC 7816-3 §12.1, 7816-4 §5.1), spec §3.1.
//!
//! Parsing is done once, here; nothing above this module indexes raw header bytes.
//! Short and extended forms are both accepted (the default ATR announces extended
//! Lc/Le, spec §2.2). Anything that is not one of the four ISO cases is `67 00`.

use crate::sw::Sw;

/// A parsed command APDU borrowing its data field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Apdu<'a> {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty for cases 1 and 2).
    pub data: &'a [u8],
    /// Expected response length: `None` for cases 1 and 3; `00` means 256 (short)
    /// or 65,536 (extended).
    pub le: Option<usize>,
    /// True when Lc/Le used the extended (3-byte) encoding.
    pub extended: bool,
}

impl<'a> Apdu<'a> {
    /// Parses a C-APDU. Fails with `67 00` for every malformed length encoding.
    pub fn parse(bytes: &'a [u8]) -> Result<Apdu<'a>, Sw> {
        let (header, body) = match bytes {
            [cla, ins, p1, p2, body @ ..] => ([*cla, *ins, *p1, *p2], body),
            _ => return Err(Sw::WRONG_LENGTH),
        };
        let [cla, ins, p1, p2] = header;
        let apdu = |data, le, extended| Apdu { cla, ins, p1, p2, data, le, extended };
        match body {
            // Case 1.
            [] => Ok(apdu(&[], None, false)),
            // Case 2 short.
            [le] => Ok(apdu(&[], Some(short_le(*le)), false)),
            // Extended forms start with a 00 byte followed by two length bytes.
            [0, hi, lo, rest @ ..] => {
                let n = usize::from(u16::from_be_bytes([*hi, *lo]));
                if rest.is_empty() {
                    // Case 2 extended.
                    return Ok(apdu(&[], Some(extended_le(n)), true));
                }
                if n == 0 {
                    return Err(Sw::WRONG_LENGTH);
                }
                match rest.len().checked_sub(n) {
                    Some(0) => Ok(apdu(rest, None, true)),
                    Some(2) => {
                        let le = usize::from(u16::from_be_bytes([rest[n], rest[n + 1]]));
                        Ok(apdu(&rest[..n], Some(extended_le(le)), true))
                    }
                    _ => Err(Sw::WRONG_LENGTH),
                }
            }
            [lc, rest @ ..] => {
                let n = usize::from(*lc);
                if n == 0 {
                    return Err(Sw::WRONG_LENGTH);
                }
                match rest.len().checked_sub(n) {
                    Some(0) => Ok(apdu(rest, None, false)),
                    Some(1) => Ok(apdu(&rest[..n], Some(short_le(rest[n])), false)),
                    _ => Err(Sw::WRONG_LENGTH),
                }
            }
        }
    }
}

/// Hex digits to bytes, ignoring spaces and colons (`"00 A4 04 0C"`, `"3B:E0"`); `None` for
/// anything else or an odd number of digits.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b':').collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()).collect()
}

fn short_le(le: u8) -> usize {
    if le == 0 {
        256
    } else {
        usize::from(le)
    }
}

fn extended_le(le: usize) -> usize {
    if le == 0 {
        65_536
    } else {
        le
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_cases_short() {
        let a = Apdu::parse(&[0x00, 0x20, 0x00, 0x80]).unwrap();
        assert_eq!((a.data, a.le), (&[][..], None));
        let a = Apdu::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(a.le, Some(256));
        let a = Apdu::parse(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]).unwrap();
        assert_eq!((a.data, a.le), (&[0x00, 0x18][..], None));
        let a = Apdu::parse(&[0x80, 0x2A, 0x00, 0x80, 0x01, 0xAA, 0x00]).unwrap();
        assert_eq!((a.data, a.le), (&[0xAA][..], Some(256)));
    }

    #[test]
    fn extended_cases() {
        let a = Apdu::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x00]).unwrap();
        assert_eq!((a.le, a.extended), (Some(256), true));
        let a = Apdu::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(a.le, Some(65_536));
        let a = Apdu::parse(&[0x80, 0x2A, 0, 0x80, 0, 0, 2, 1, 2, 0, 0]).unwrap();
        assert_eq!((a.data, a.le), (&[1, 2][..], Some(65_536)));
        let a = Apdu::parse(&[0x80, 0x2A, 0, 0x80, 0, 0, 2, 1, 2]).unwrap();
        assert_eq!((a.data, a.le), (&[1, 2][..], None));
    }

    #[test]
    fn malformed_is_wrong_length() {
        for bad in [
            &[][..],
            &[0x00, 0xA4, 0x02][..],
            &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00][..],
            &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18, 0x00, 0x00][..],
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01][..],
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01][..],
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x05][..],
        ] {
            assert_eq!(Apdu::parse(bad), Err(Sw::WRONG_LENGTH), "{bad:02X?}");
        }
    }
}
