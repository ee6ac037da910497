//! The APDU transcript: `> 00A4...` / `< ... 9000` lines, with PIN bytes masked, and what
//! the answers mean ([`mynasim_simulator::decode`]).

use std::fmt::Write;

use mynasim_simulator::decode::Decoder;

/// Formats a command for the transcript: `> ` and [`masked_hex`].
pub fn command(apdu: &[u8]) -> String {
    format!("> {}", masked_hex(apdu))
}

/// A command in hex, with VERIFY and CHANGE data (PINs) as `**`: how transcripts, scenario
/// results and the control event stream record it.
pub fn masked_hex(apdu: &[u8]) -> String {
    let secret = apdu.len() > 5 && matches!((apdu[0] & 0xF0, apdu[1]), (0x00, 0x20) | (0x00, 0x24) | (0x80, 0x32));
    let mut out = String::with_capacity(apdu.len() * 2);
    for (i, b) in apdu.iter().enumerate() {
        if secret && i >= 5 {
            out.push_str("**");
        } else {
            let _ = write!(out, "{b:02X}");
        }
    }
    out
}

/// Bytes in hex with a space between them (`3B E0 00 FF`), for people to read.
pub fn spaced_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        let _ = write!(out, "{}{b:02X}", if i == 0 { "" } else { " " });
    }
    out
}

/// Names a command recorded as [`masked_hex`] formats it (hex, PIN bytes as `**`) or as
/// plain hex, in the card's terms at `decoder`'s selection (which is left as it was). The
/// decoder describes VERIFY and CHANGE by their length only, so a masked byte is
/// named as any byte would be; when masking hid an extended Lc (`P3 = 00`, then two masked
/// length bytes), the Lc is restored from the command's length.
pub fn command_name(decoder: &Decoder, recorded: &str) -> String {
    let digits: Vec<u8> = recorded.bytes().filter(|b| b.is_ascii_hexdigit() || *b == b'*').collect();
    let mut masked = false;
    let mut apdu: Vec<u8> = digits
        .chunks(2)
        .map(|pair| match std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()) {
            Some(b) => b,
            None => {
                masked = true;
                0
            }
        })
        .collect();
    if masked && apdu.len() > 7 && apdu[4] == 0 {
        let lc = u16::try_from(apdu.len() - 7).unwrap_or(u16::MAX);
        apdu[5..7].copy_from_slice(&lc.to_be_bytes());
    }
    decoder.clone().command(&apdu)
}

/// Formats a response for the transcript.
pub fn response(rapdu: &[u8]) -> String {
    let mut out = String::from("< ");
    let split = rapdu.len().saturating_sub(2);
    for b in &rapdu[..split] {
        let _ = write!(out, "{b:02X}");
    }
    if split > 0 {
        out.push(' ');
    }
    for b in &rapdu[split..] {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// What a transcript's answer (hex, data then SW1 SW2) means: `63 C2 wrong PIN or tries
/// query, 2 tries left`, `90 00 success, 256 bytes`.
pub fn answer_meaning(response_hex: &str) -> String {
    let digits: Vec<u8> = response_hex.bytes().filter(u8::is_ascii_hexdigit).collect();
    let bytes: Vec<u8> =
        digits.chunks(2).filter_map(|p| std::str::from_utf8(p).ok().and_then(|p| u8::from_str_radix(p, 16).ok())).collect();
    Decoder::new().response(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_hex_separates_bytes() {
        assert_eq!(spaced_hex(&[0x3B, 0xE0, 0x0F]), "3B E0 0F");
        assert_eq!(spaced_hex(&[]), "");
    }

    #[test]
    fn pins_are_masked() {
        assert_eq!(command(&[0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34]), "> 0020008004********");
        assert_eq!(command(&[0x00, 0x20, 0x00, 0x80]), "> 00200080");
        assert_eq!(command(&[0x00, 0xB0, 0x00, 0x00, 0x04]), "> 00B0000004");
        assert_eq!(response(&[0x30, 0x82, 0x90, 0x00]), "< 3082 9000");
        assert_eq!(response(&[0x6A, 0x82]), "< 6A82");
    }

    #[test]
    fn masked_commands_are_named_by_their_length() {
        let at_the_pin = |apdu: &[u8]| {
            let mut decoder = Decoder::new();
            decoder.command(&[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01]);
            decoder.response(&[0x90, 0x00]);
            decoder.command(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
            decoder.response(&[0x90, 0x00]);
            (command_name(&decoder, &masked_hex(apdu)), decoder.clone().command(apdu))
        };
        let short = [0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34];
        let (masked, plain) = at_the_pin(&short);
        assert_eq!(masked, "VERIFY 0018 (auth PIN) (4 bytes, masked)");
        assert_eq!(masked, plain);
        let extended = [0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x04, 0x31, 0x32, 0x33, 0x34];
        let (masked, plain) = at_the_pin(&extended);
        assert_eq!(masked, plain);
        assert_eq!(command_name(&Decoder::new(), "00A4020C02001E"), "SELECT EF 001E (internal EF)");
        assert_eq!(command_name(&Decoder::new(), "00 A4 02 0C 02 00 1E"), "SELECT EF 001E (internal EF)");
    }

    #[test]
    fn answers_say_what_they_mean() {
        assert_eq!(answer_meaning("63C2"), "63 C2 wrong PIN or tries query, 2 tries left");
        assert_eq!(answer_meaning("30820497 9000"), "90 00 success, 4 bytes");
    }
}
