//! The smartphone JPKI tokens through pcscd + vpcd (spec §4.2, §4.3, §13.5): the ATR a
//! reader reports for a phone, the JPKI AP only, the token label, EF 000A behind the auth
//! PIN, the iPhone's last-command indicator, and the contactless warm reset.
//!
//! One test: pcsc-lite reads `PCSCLITE_CSOCK_NAME` once per process.

#![allow(clippy::unwrap_used)]

mod pcsc_sandbox;

use mynasim_simulator::profile::ATR_PHONE;
use pcsc::{Disposition, Protocols, ShareMode};

const SELECT_JPKI: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
const SELECT_TEXT: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
const SELECT_ISD: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x07, 0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00];
const LAST_COMMAND: &[u8] = &[0x80, 0xFC, 0x00, 0x00];

fn send(card: &pcsc::Card, apdu: &[u8]) -> Vec<u8> {
    let mut buffer = [0u8; 600];
    card.transmit(apdu, &mut buffer).unwrap().to_vec()
}

fn sw(response: &[u8]) -> [u8; 2] {
    [response[response.len() - 2], response[response.len() - 1]]
}

#[test]
fn phone_tokens_through_pcscd() {
    let stack = pcsc_sandbox::start(&["kind: android-token\n", "kind: iphone-token\n"]);
    for (reader, (label, last_command)) in
        stack.readers.iter().zip([(&b"JPKIAPGPSETOKEN "[..], [0x67, 0x00]), (b"JPKIAPIOSTOKEN  ", [0x90, 0x00])])
    {
        let mut card = stack.context.connect(reader, ShareMode::Shared, Protocols::ANY).unwrap();
        let mut names = [0u8; 256];
        let mut atr = [0u8; 64];
        assert_eq!(card.status2(&mut names, &mut atr).unwrap().atr(), ATR_PHONE);
        assert_eq!(send(&card, SELECT_ISD), [0x6A, 0x82]);
        assert_eq!(send(&card, SELECT_TEXT), [0x6A, 0x82]);
        assert_eq!(send(&card, SELECT_JPKI), [0x90, 0x00]);
        assert_eq!(send(&card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x06]), [0x90, 0x00]);
        let token = send(&card, &[0x00, 0xB0, 0x00, 0x00, 0x20]);
        assert_eq!(&token[..16], label);
        // EF 000A: refused until the auth PIN, then read.
        assert_eq!(send(&card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]), [0x90, 0x00]);
        assert_eq!(send(&card, &[0x00, 0xB0, 0x00, 0x00, 0x04]), [0x69, 0x82]);
        assert_eq!(send(&card, &[0x00, 0x20, 0x00, 0x98, 0x04, b'1', b'2', b'3', b'4']), [0x90, 0x00]);
        assert_eq!(send(&card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]), [0x90, 0x00]);
        assert_eq!(sw(&send(&card, &[0x00, 0xB0, 0x00, 0x00, 0x04])), [0x90, 0x00]);
        // A phone is contactless: a warm reset keeps the session (spec §13.4).
        card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::ResetCard).unwrap();
        assert_eq!(sw(&send(&card, &[0x00, 0xB0, 0x00, 0x00, 0x04])), [0x90, 0x00], "after SCARD_RESET_CARD");
        assert_eq!(send(&card, LAST_COMMAND), last_command);
    }
}
