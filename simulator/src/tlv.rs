//! BER-TLV encoding as the card writes it (spec §5 conventions): one- or two-byte tags,
//! short lengths up to 127, long form `81 ll` / `82 hh ll` above, and the card's habit of
//! using `82 hh ll` where a shorter form would do (e.g. `82 00 9F`, spec §5.3 EF 0005).

/// How to encode a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthForm {
    /// The shortest form (DER).
    Minimal,
    /// Always `82 hh ll`.
    TwoBytes,
}

/// The longest value a length field of this card can say: `82 hh ll`, the longest form the
/// card writes and [`parse_all`] reads (spec §5 conventions).
pub const MAX_LENGTH: usize = 0xFFFF;

/// A value too long for any length form this card uses: refused, never truncated (a
/// truncated length makes every reader of the file misparse it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a TLV value of {len} bytes is longer than the {MAX_LENGTH} bytes a length field (82 hh ll) can say")]
pub struct TooLong {
    /// The length asked for.
    pub len: usize,
}

impl From<TooLong> for crate::Sw {
    /// An answer too long to encode is a wrong length (`67 00`).
    fn from(_: TooLong) -> crate::Sw {
        crate::Sw::WRONG_LENGTH
    }
}

/// Appends a length; refuses one above [`MAX_LENGTH`] (nothing is appended then).
pub fn push_length(out: &mut Vec<u8>, len: usize, form: LengthForm) -> Result<(), TooLong> {
    let Ok(len16) = u16::try_from(len) else {
        return Err(TooLong { len });
    };
    match (form, len16) {
        (LengthForm::Minimal, 0..=0x7F) => out.push(len16 as u8),
        (LengthForm::Minimal, 0x80..=0xFF) => out.extend_from_slice(&[0x81, len16 as u8]),
        _ => {
            out.push(0x82);
            out.extend_from_slice(&len16.to_be_bytes());
        }
    }
    Ok(())
}

/// Appends tag, length and value. Tags above `FF` are written as two bytes. Refuses a value
/// longer than [`MAX_LENGTH`] (nothing is appended then).
pub fn push_tlv(out: &mut Vec<u8>, tag: u16, value: &[u8], form: LengthForm) -> Result<(), TooLong> {
    if value.len() > MAX_LENGTH {
        return Err(TooLong { len: value.len() });
    }
    push_tag(out, tag);
    push_length(out, value.len(), form)?;
    out.extend_from_slice(value);
    Ok(())
}

/// A TLV as a new vector; refuses a value longer than [`MAX_LENGTH`].
pub fn tlv(tag: u16, value: &[u8], form: LengthForm) -> Result<Vec<u8>, TooLong> {
    let mut out = Vec::with_capacity(value.len() + 5);
    push_tlv(&mut out, tag, value, form)?;
    Ok(out)
}

fn push_tag(out: &mut Vec<u8>, tag: u16) {
    if tag > 0xFF {
        out.extend_from_slice(&tag.to_be_bytes());
    } else {
        out.push(tag as u8);
    }
}

/// Pads with `FF` filler to `size` bytes (spec §5 conventions). Never truncates.
pub fn pad_ff(mut data: Vec<u8>, size: usize) -> Vec<u8> {
    if data.len() < size {
        data.resize(size, 0xFF);
    }
    data
}

/// One TLV read back: tag, header length and value (used by tests and the inspector).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag (one or two bytes).
    pub tag: u16,
    /// Offset of the tag within the parsed buffer.
    pub offset: usize,
    /// The value.
    pub value: &'a [u8],
}

/// Reads consecutive TLVs until the end of `data` or filler where a tag would start: a `00`,
/// or an `FF` that is not the first byte of a two-byte `FFxx` tag (spec §5 conventions). Two-byte tags are those whose first byte has the
/// low five bits all set (ISO 7816-4 §5.2.2.1).
pub fn parse_all(data: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let is_filler = |pos: usize| match data[pos] {
        0x00 => true,
        0xFF => matches!(data.get(pos + 1), None | Some(0xFF)),
        _ => false,
    };
    while pos < data.len() && !is_filler(pos) {
        let start = pos;
        let first = data[pos];
        let tag = if first & 0x1F == 0x1F {
            let t = u16::from_be_bytes([first, *data.get(pos + 1)?]);
            pos += 2;
            t
        } else {
            pos += 1;
            u16::from(first)
        };
        let (len, len_size) = match *data.get(pos)? {
            n @ 0..=0x7F => (usize::from(n), 1),
            0x81 => (usize::from(*data.get(pos + 1)?), 2),
            0x82 => (usize::from(u16::from_be_bytes([*data.get(pos + 1)?, *data.get(pos + 2)?])), 3),
            _ => return None,
        };
        pos += len_size;
        let value = data.get(pos..pos + len)?;
        out.push(Tlv { tag, offset: start, value });
        pos += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(tlv(0xDF24, b"19800217", LengthForm::Minimal).unwrap()[..3], [0xDF, 0x24, 0x08]);
        assert_eq!(tlv(0xDF23, &[0; 200], LengthForm::Minimal).unwrap()[..4], [0xDF, 0x23, 0x81, 200]);
        assert_eq!(tlv(0xFF40, &[0; 159], LengthForm::TwoBytes).unwrap()[..5], [0xFF, 0x40, 0x82, 0x00, 0x9F]);
        assert_eq!(tlv(0xDF22, &[0; MAX_LENGTH], LengthForm::Minimal).unwrap()[..5], [0xDF, 0x22, 0x82, 0xFF, 0xFF]);
    }

    #[test]
    fn lengths_it_cannot_say_are_refused_not_truncated() {
        // Before: 65,536 bytes were written as `82 00 00`, 1 MB as `82 xx xx` mod 65,536.
        for len in [MAX_LENGTH + 1, 1 << 20] {
            assert_eq!(tlv(0xDF22, &vec![0; len], LengthForm::Minimal), Err(TooLong { len }));
            let mut out = vec![0xAA];
            assert_eq!(push_length(&mut out, len, LengthForm::TwoBytes), Err(TooLong { len }));
            assert_eq!(push_tlv(&mut out, 0xDF22, &vec![0; len], LengthForm::TwoBytes), Err(TooLong { len }));
            assert_eq!(out, [0xAA], "nothing is appended");
        }
    }

    #[test]
    fn parse_stops_at_filler() {
        let mut data = tlv(0xFF10, b"123456789018", LengthForm::Minimal).unwrap();
        data = pad_ff(data, 17);
        let parsed = parse_all(&data).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].value, b"123456789018");
    }
}
