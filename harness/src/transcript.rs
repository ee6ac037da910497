//! The APDU transcript: `> 00A4...` / `< ... 9000` lines, with PIN bytes masked, and the
//! exchanges named in the card's terms ([`mynasim_simulator::decode`]).

use std::collections::HashMap;
use std::fmt::Write;

use mynasim_simulator::decode::Decoder;

use crate::scenario::result::Exchange;

/// Formats a command for the transcript. VERIFY and CHANGE data (PINs) become `**`.
pub fn command(apdu: &[u8]) -> String {
    let secret = apdu.len() > 5 && matches!((apdu[0] & 0xF0, apdu[1]), (0x00, 0x20) | (0x00, 0x24) | (0x80, 0x32));
    let mut out = String::from("> ");
    for (i, b) in apdu.iter().enumerate() {
        if secret && i >= 5 {
            out.push_str("**");
        } else {
            let _ = write!(out, "{b:02X}");
        }
    }
    out
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

/// A transcript line's bytes: hex, with the masked PIN bytes (`**`) read as `2A`.
fn masked_bytes(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits.chunks(2).map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()).unwrap_or(b'*')).collect()
}

/// Each exchange of a scenario's transcript named in the card's terms (command, answer),
/// one [`Decoder`] per card in order. Power events between steps are not in the transcript,
/// so a name that depends on the selection can be stale until the next SELECT.
pub fn decode(exchanges: &[Exchange]) -> Vec<(String, Option<String>)> {
    let mut decoders: HashMap<&str, Decoder> = HashMap::new();
    exchanges
        .iter()
        .map(|e| {
            let decoder = decoders.entry(e.card.as_str()).or_default();
            let command = decoder.command(&masked_bytes(&e.command));
            (command, e.response.as_deref().map(|r| decoder.response(&masked_bytes(r))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_masked() {
        assert_eq!(command(&[0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34]), "> 0020008004********");
        assert_eq!(command(&[0x00, 0x20, 0x00, 0x80]), "> 00200080");
        assert_eq!(command(&[0x00, 0xB0, 0x00, 0x00, 0x04]), "> 00B0000004");
        assert_eq!(response(&[0x30, 0x82, 0x90, 0x00]), "< 3082 9000");
        assert_eq!(response(&[0x6A, 0x82]), "< 6A82");
    }

    #[test]
    fn masked_exchanges_are_named_per_card() {
        let exchange = |card: &str, command: &str, response: Option<&str>| Exchange {
            card: card.into(),
            command: command.into(),
            response: response.map(Into::into),
            micros: 0,
            line: 1,
        };
        let named = decode(&[
            exchange("alice", "00A4040C0AD392F000260100000001", Some("9000")),
            exchange("bob", "00A4040C0AD3921000310001010408", Some("9000")),
            exchange("alice", "00A4020C020018", Some("9000")),
            exchange("alice", "0020008004********", Some("63C2")),
            exchange("bob", "00A4020C020011", None),
        ]);
        assert_eq!(named[3].0, "VERIFY 0018 (auth PIN) (4 bytes, masked)");
        assert_eq!(named[3].1.as_deref(), Some("63 C2 wrong PIN or tries query, 2 tries left"));
        assert_eq!(named[4], ("SELECT EF 0011 (text AP PIN)".to_owned(), None));
    }
}
