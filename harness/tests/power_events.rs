//! Power events through the real stack (spec §13.4): `SCardReconnect` with
//! `SCARD_RESET_CARD` keeps the security status on a contactless card and clears it on a
//! contact card (the profile defaults), `SCARD_UNPOWER_CARD` always clears it, a
//! disconnect with `SCARD_LEAVE_CARD` keeps it, and the optional `6F 00` after power-up.
//!
//! One test: pcsc-lite reads `PCSCLITE_CSOCK_NAME` once per process.

#![allow(clippy::unwrap_used)]

use std::ffi::{CStr, CString};

use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};
use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};

const SELECT_JPKI: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
const SELECT_AUTH_PIN: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
const SELECT_AUTH_KEY: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17];
const VERIFY_1234: &[u8] = &[0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4'];

/// `80 2A 00 80`: sign a SHA-256 DigestInfo with the current key.
fn sign_with_current_key() -> Vec<u8> {
    let mut apdu = vec![0x80, 0x2A, 0x00, 0x80, 0x33];
    apdu.extend_from_slice(&[
        0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
    ]);
    apdu.extend_from_slice(&[0x42; 32]);
    apdu.push(0x00);
    apdu
}

fn sw(response: &[u8]) -> u16 {
    u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]])
}

fn send(card: &pcsc::Card, apdu: &[u8]) -> Vec<u8> {
    let mut buffer = [0u8; 600];
    card.transmit(apdu, &mut buffer).unwrap().to_vec()
}

/// SELECT JPKI, VERIFY the auth PIN, make the auth key current.
fn log_in(card: &pcsc::Card) {
    assert_eq!(sw(&send(card, SELECT_JPKI)), 0x9000);
    assert_eq!(sw(&send(card, SELECT_AUTH_PIN)), 0x9000);
    assert_eq!(sw(&send(card, VERIFY_1234)), 0x9000);
    assert_eq!(sw(&send(card, SELECT_AUTH_KEY)), 0x9000);
}

/// Whether the session survived: the current key still signs without a PIN.
fn still_logged_in(card: &pcsc::Card) -> bool {
    let answer = send(card, &sign_with_current_key());
    match sw(&answer) {
        0x9000 => {
            assert_eq!(answer.len(), 258);
            true
        }
        _ => {
            // Cleared: with the key current again, the PIN is what is missing.
            assert_eq!(sw(&send(card, SELECT_JPKI)), 0x9000);
            assert_eq!(sw(&send(card, SELECT_AUTH_KEY)), 0x9000);
            assert_eq!(sw(&send(card, &sign_with_current_key())), 0x6982);
            false
        }
    }
}

fn reconnect(card: &mut pcsc::Card, disposition: Disposition) {
    card.reconnect(ShareMode::Shared, Protocols::ANY, disposition).unwrap();
}

#[test]
fn warm_reset_power_cycle_and_disconnect_through_pcscd() {
    let dir = tempfile::tempdir().unwrap();
    let contact = dir.path().join("contact.yaml");
    std::fs::write(&contact, "").unwrap();
    let contactless = dir.path().join("contactless.yaml");
    std::fs::write(&contactless, "atr: contactless\nreset:\n  first_command_after_power_up: 6F00\n").unwrap();
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![CardSource::Profile(Some(contact)), CardSource::Profile(Some(contactless))];
    let sandbox = Sandbox::start(&options).unwrap();
    std::env::set_var("PCSCLITE_CSOCK_NAME", sandbox.socket());
    let ctx = Context::establish(Scope::User).unwrap();
    let mut names = [0u8; 2048];
    let readers: Vec<CString> = ctx.list_readers(&mut names).unwrap().map(CStr::to_owned).collect();
    assert_eq!(readers.len(), 2, "{readers:?}");

    for (reader, contactless) in readers.iter().zip([false, true]) {
        let what = if contactless { "contactless" } else { "contact" };
        let mut card = ctx.connect(reader, ShareMode::Shared, Protocols::ANY).unwrap();
        if contactless {
            // pcscd powered the card when it was inserted: the first command is refused,
            // unexecuted.
            assert_eq!(send(&card, SELECT_JPKI), [0x6F, 0x00], "{what}: first command after power-up");
        }

        // Disconnecting without a reset sends the card nothing: the session stays.
        log_in(&card);
        card.disconnect(Disposition::LeaveCard).map_err(|(_, e)| e).unwrap();
        card = ctx.connect(reader, ShareMode::Shared, Protocols::ANY).unwrap();
        assert!(still_logged_in(&card), "{what}: a disconnect with SCARD_LEAVE_CARD logged out");

        // A warm reset: kept on the contactless card, cleared on the contact card.
        log_in(&card);
        reconnect(&mut card, Disposition::ResetCard);
        assert_eq!(still_logged_in(&card), contactless, "{what}: SCARD_RESET_CARD");
        if contactless {
            assert_eq!(sw(&send(&card, SELECT_JPKI)), 0x9000, "{what}: a warm reset is no power-up (no 6F 00)");
        }

        // A power cycle clears it everywhere.
        log_in(&card);
        reconnect(&mut card, Disposition::UnpowerCard);
        if contactless {
            assert_eq!(send(&card, SELECT_AUTH_KEY), [0x6F, 0x00], "{what}: first command after SCARD_UNPOWER_CARD");
        }
        assert!(!still_logged_in(&card), "{what}: SCARD_UNPOWER_CARD kept the session");

        // Counters are not volatile: the PIN still has its three tries.
        assert_eq!(sw(&send(&card, SELECT_JPKI)), 0x9000);
        assert_eq!(sw(&send(&card, SELECT_AUTH_PIN)), 0x9000);
        assert_eq!(sw(&send(&card, &[0x00, 0x20, 0x00, 0x80])), 0x63C3, "{what}");
    }
}
