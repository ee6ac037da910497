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

/// Appends a length.
pub fn push_length(out: &mut Vec<u8>, len: usize, form: LengthForm) {
    match (form, len) {
        (LengthForm::Minimal, 0..=0x7F) => out.push(len as u8),
        (LengthForm::Minimal, 0x80..=0xFF) => out.extend_from_slice(&[0x81, len as u8]),
        _ => {
            out.push(0x82);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
}

/// Appends tag, length and value. Tags above `FF` are written as two bytes.
pub fn push_tlv(out: &mut Vec<u8>, tag: u16, value: &[u8], form: LengthForm) {
    push_tag(out, tag);
    push_length(out, value.len(), form);
    out.extend_from_slice(value);
}

/// A TLV as a new vector.
pub fn tlv(tag: u16, value: &[u8], form: LengthForm) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 5);
    push_tlv(&mut out, tag, value, form);
    out
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
        assert_eq!(tlv(0xDF24, b"19800217", LengthForm::Minimal)[..3], [0xDF, 0x24, 0x08]);
        assert_eq!(tlv(0xDF23, &[0; 200], LengthForm::Minimal)[..4], [0xDF, 0x23, 0x81, 200]);
        assert_eq!(tlv(0xFF40, &[0; 159], LengthForm::TwoBytes)[..5], [0xFF, 0x40, 0x82, 0x00, 0x9F]);
    }

    #[test]
    fn parse_stops_at_filler() {
        let mut data = tlv(0xFF10, b"123456789018", LengthForm::Minimal);
        data = pad_ff(data, 17);
        let parsed = parse_all(&data).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].value, b"123456789018");
    }
}
