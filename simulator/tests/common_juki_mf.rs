//! The common card AP, the juki AP and card-level behaviour (spec §2, §7).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::applets::{common as common_ap, AppletId};
use mynasim_simulator::profile::ATR_CONTACT;
use mynasim_simulator::Sw;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;

const PROFILE: &str = "holder:\n  municipality_code: '13221'\ncard:\n  serial: '400000012719843'\n  expires: 2035-02-17\npins:\n  common: { value: '4321' }\n";

#[test]
fn card_info_record_by_select_and_by_sfi() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_COMMON, Sw::SUCCESS);
    // jpki/myna: READ RECORD by SFI 1 without SELECT.
    let record = expect(&mut card, "00B2010C00", Sw::SUCCESS);
    assert_eq!(&record[..2], &[0x01, 0x1C]);
    assert_eq!(&record[2..], b"400000012719843132212035".iter().chain(b"0217").copied().collect::<Vec<_>>().as_slice());
    // myna-card: SELECT 0001 then record 1 of the current EF.
    select_ef(&mut card, common_ap::CARD_INFO);
    assert_eq!(expect(&mut card, "00B2010400", Sw::SUCCESS), record);
    expect(&mut card, "00B2020400", Sw::RECORD_NOT_FOUND);
    expect(&mut card, "00B2010500", Sw::FUNCTION_UNSUPPORTED);
    expect(&mut card, "00B0000001", Sw::INCOMPATIBLE_FILE_STRUCTURE);
    select_ef(&mut card, common_ap::KEY_REFERENCE);
    assert_eq!(expect(&mut card, "00B2010400", Sw::SUCCESS).len(), 16);
}

#[test]
fn internal_authenticate_without_credential() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_COMMON, Sw::SUCCESS);
    let challenge = [0x5Au8; 8];
    let mut apdu = hex("0088009908");
    apdu.extend_from_slice(&challenge);
    apdu.push(0);
    let (signature, sw) = send(&mut card, &apdu);
    assert_eq!((signature.len(), sw), (256, Sw::SUCCESS));
    let key = card.applet(AppletId::Common).unwrap().key_at(common_ap::INTERNAL_AUTH_KEY).unwrap().openssl_public().unwrap();
    let mut v = Verifier::new(MessageDigest::sha256(), &key).unwrap();
    v.update(&challenge).unwrap();
    assert!(v.verify(&signature).unwrap());
}

#[test]
fn common_and_juki_pins_are_separate_and_changed_with_change_key() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_COMMON, Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x001C, "0000"), Sw::retries_left(2));
    assert_eq!(verify(&mut card, 0x001C, "4321"), Sw::SUCCESS);
    expect(&mut card, "0024018004 35363738", Sw::INS_NOT_SUPPORTED);
    expect(&mut card, "8032008004 35363738", Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x001C, "5678"), Sw::SUCCESS);
    expect(&mut card, "80AE000001 00", Sw::SESSION_KEY_UNSUPPORTED);

    expect(&mut card, SELECT_JUKI, Sw::SUCCESS);
    select_ef(&mut card, 0x001C);
    expect(&mut card, "00200080", Sw::retries_left(3));
    // The juki PIN defaults to the auth PIN's value, not the common AP's.
    assert_eq!(verify(&mut card, 0x001C, "1234"), Sw::SUCCESS);
    expect(&mut card, "8032008003 353637", Sw::INCORRECT_DATA);
    expect(&mut card, "80AE000001 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
    select_ef(&mut card, 0x0002);
    assert_eq!(expect(&mut card, "00B2010400", Sw::SUCCESS).len(), 16);
}

#[test]
fn card_level_behaviour() {
    let mut card = card_from(PROFILE);
    assert_eq!(card.atr(), ATR_CONTACT);
    // MF level (the ISD, spec §13.1): SELECT EF is 6A 82; GET CHALLENGE works; GET DATA 5F51
    // gives the contact ATR without TS and without a TLV (spec §13.3; more in tests/mf.rs).
    expect(&mut card, "00A4020C020001", Sw::NOT_FOUND);
    assert_eq!(expect(&mut card, "0084000008", Sw::SUCCESS).len(), 8);
    assert_eq!(expect(&mut card, "00CA5F5100", Sw::SUCCESS), &ATR_CONTACT[1..]);
    expect(&mut card, "00CA010100", Sw::DATA_NOT_FOUND);
    // Foreign AIDs (PIV, OpenPGP): 6A 82, so OpenSC's other drivers do not claim the card.
    expect(&mut card, "00A4040009A00000030800001000", Sw::NOT_FOUND);
    expect(&mut card, "00A4040006D27600012401", Sw::NOT_FOUND);
    // Back to the MF level by the ISD's AID (3F00 answers 6A 82, spec §13.1).
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    expect(&mut card, "00A4000C023F00", Sw::NOT_FOUND);
    expect(&mut card, "00A4040C07A0000001510000", Sw::SUCCESS);
    expect(&mut card, "00A4020C020006", Sw::NOT_FOUND);
    expect(&mut card, "00A4000C020006", Sw::INCORRECT_P1P2);
    expect(&mut card, "00A4080C020006", Sw::INCORRECT_P1P2);
    // EF.DIR / EF.ATR do not exist.
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    expect(&mut card, "00A4020C022F00", Sw::NOT_FOUND);
    // Partial DF name: the first AP whose name starts with it.
    expect(&mut card, "00A4040C07D3921000310001", Sw::SUCCESS);
    assert_eq!(card.session().applet.map(|i| card.applets()[i].id), Some(AppletId::Text));
    // Every AP answers SELECT (TRET's NFC AID list).
    for select in [SELECT_JPKI, SELECT_TEXT, SELECT_SURFACE, SELECT_COMMON, SELECT_JUKI] {
        expect(&mut card, select, Sw::SUCCESS);
    }
}

#[test]
fn atr_choices() {
    assert_eq!(card_from("atr: opensc").atr(), hex("3BE000FF8131FE4514"));
    assert_eq!(card_from("atr: '3B 88 80 01 00 00 05 E0 B3 81 A1 00 7F'").atr(), hex("3B88800100 0005E0B381A1007F"));
}
