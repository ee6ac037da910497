//! The MF level through the real stack (spec §13.1–13.3): the ISD current after
//! `SCARD_UNPOWER_CARD` and after a contact card's `SCARD_RESET_CARD`, GET DATA with a short
//! and an extended Le through pcscd + vpcd, and 5F51 = the contact ATR on a contactless
//! card too.
//!
//! One test: pcsc-lite reads `PCSCLITE_CSOCK_NAME` once per process.

#![allow(clippy::unwrap_used)]

use std::ffi::{CStr, CString};

use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};
use mynasim_simulator::profile::{ATR_CONTACT, ATR_CONTACTLESS};
use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};

const SELECT_JPKI: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
const SELECT_ISD: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x07, 0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00];
const SELECT_MF: &[u8] = &[0x00, 0xA4, 0x00, 0x00];
const SELECT_TOKEN_INFO: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x06];
const GET_CARD_NUMBER: &[u8] = &[0x00, 0xCA, 0x00, 0x45, 0x00];
const GET_ROOT_CERTIFICATE_SHORT: &[u8] = &[0x00, 0xCA, 0x00, 0xF8, 0x00];
const GET_ROOT_CERTIFICATE_EXTENDED: &[u8] = &[0x00, 0xCA, 0x00, 0xF8, 0x00, 0x00, 0x00];
const GET_CONTACT_ATR: &[u8] = &[0x00, 0xCA, 0x5F, 0x51, 0x00];

fn send(card: &pcsc::Card, apdu: &[u8]) -> Vec<u8> {
    let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    card.transmit(apdu, &mut buffer).unwrap().to_vec()
}

fn ok(data: &[u8]) -> Vec<u8> {
    [data, &[0x90, 0x00]].concat()
}

fn presented_atr(card: &pcsc::Card) -> Vec<u8> {
    let mut names = [0u8; 256];
    let mut atr = [0u8; 64];
    card.status2(&mut names, &mut atr).unwrap().atr().to_vec()
}

#[test]
fn the_issuer_security_domain_through_pcscd() {
    let dir = tempfile::tempdir().unwrap();
    let contact = dir.path().join("contact.yaml");
    std::fs::write(&contact, "card:\n  serial: \"400000012719843\"\n").unwrap();
    let contactless = dir.path().join("contactless.yaml");
    std::fs::write(&contactless, "atr: contactless\ncontact_atr: opensc\n").unwrap();
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![CardSource::Profile(Some(contact)), CardSource::Profile(Some(contactless))];
    let sandbox = Sandbox::start(&options).unwrap();
    std::env::set_var("PCSCLITE_CSOCK_NAME", sandbox.socket());
    let ctx = Context::establish(Scope::User).unwrap();
    let mut names = [0u8; 2048];
    let readers: Vec<CString> = ctx.list_readers(&mut names).unwrap().map(CStr::to_owned).collect();
    assert_eq!(readers.len(), 2, "{readers:?}");

    // The contact card.
    let mut card = ctx.connect(&readers[0], ShareMode::Shared, Protocols::ANY).unwrap();
    card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::UnpowerCard).unwrap();
    assert_eq!(send(&card, SELECT_MF), [0x6A, 0x86], "SELECT MF straight after power-up");
    assert_eq!(send(&card, GET_CARD_NUMBER), ok(b"400000012719843"));
    // The root's CV certificate: refused with a short Le, served with an extended one.
    assert_eq!(send(&card, GET_ROOT_CERTIFICATE_SHORT), [0x67, 0x00]);
    let root = send(&card, GET_ROOT_CERTIFICATE_EXTENDED);
    assert_eq!(root.len(), 575 + 2);
    assert_eq!(&root[..12], [0x4D, 0x0A, 0x42, 0x10, 0x5F, 0x20, 0x10, 0x5F, 0x49, 0x82, 0x01, 0x09]);
    assert_eq!(&root[575..], [0x90, 0x00]);
    assert_eq!(send(&card, GET_CONTACT_ATR), ok(&ATR_CONTACT[1..]));

    // In an AP the MF objects are gone; SELECT MF changes nothing; the ISD brings them back.
    assert_eq!(send(&card, SELECT_JPKI), [0x90, 0x00]);
    assert_eq!(send(&card, GET_CARD_NUMBER), [0x6A, 0x88]);
    assert_eq!(send(&card, SELECT_MF), [0x90, 0x00]);
    assert_eq!(send(&card, SELECT_TOKEN_INFO), [0x90, 0x00], "SELECT MF left the JPKI AP");
    assert_eq!(send(&card, GET_CONTACT_ATR), ok(&ATR_CONTACT[1..]), "5F51 in an AP");
    assert_eq!(send(&card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00]), [0x6A, 0x82]);
    assert_eq!(send(&card, SELECT_ISD), [0x90, 0x00]);
    assert_eq!(send(&card, GET_CARD_NUMBER), ok(b"400000012719843"));

    // A warm reset of a contact card clears the session: the ISD is current again.
    assert_eq!(send(&card, SELECT_JPKI), [0x90, 0x00]);
    card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::ResetCard).unwrap();
    assert_eq!(send(&card, GET_CARD_NUMBER), ok(b"400000012719843"), "after SCARD_RESET_CARD");

    // The contactless card: the reader's ATR, and 5F51 the chosen contact ATR.
    let card = ctx.connect(&readers[1], ShareMode::Shared, Protocols::ANY).unwrap();
    assert_eq!(presented_atr(&card), ATR_CONTACTLESS);
    assert_eq!(send(&card, GET_CONTACT_ATR), ok(&[0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14]));
    // Its warm reset keeps the session (spec §13.4): the JPKI AP stays current.
    assert_eq!(send(&card, SELECT_JPKI), [0x90, 0x00]);
    let mut card = card;
    card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::ResetCard).unwrap();
    assert_eq!(send(&card, GET_CARD_NUMBER), [0x6A, 0x88], "still in the JPKI AP after SCARD_RESET_CARD");
    assert_eq!(send(&card, SELECT_TOKEN_INFO), [0x90, 0x00]);
    card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::UnpowerCard).unwrap();
    assert_eq!(send(&card, SELECT_TOKEN_INFO), [0x6A, 0x82], "the ISD is current after SCARD_UNPOWER_CARD");
}
