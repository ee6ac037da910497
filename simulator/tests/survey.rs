//! The corrections of the real-card survey, spec §13.5 (myna-card 3.3.4), through APDUs.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::Sw;

#[test]
fn verify_by_sfi_makes_the_key_the_current_ef() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    // No current EF yet: the status query of "the current key" has nothing to query.
    expect(&mut card, "00200080", Sw::NO_CURRENT_EF);
    expect(&mut card, "0020009804 31323334", Sw::SUCCESS);
    // As after SELECT 0018 + VERIFY: the query now reads the auth PIN's counter.
    expect(&mut card, "00200080", Sw::retries_left(3));
    // A wrong value by SFI of the signature password: 001B is now current.
    expect(&mut card, "0020009B06 414243313234", Sw::retries_left(4));
    expect(&mut card, "00200080", Sw::retries_left(4));
    // The right one through the current form confirms which object is current.
    expect(&mut card, "0020008006 414243313233", Sw::SUCCESS);
    expect(&mut card, "00200080", Sw::retries_left(5));
}

#[test]
fn the_status_query_and_change_by_sfi_also_make_the_key_current() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    expect(&mut card, "00200098", Sw::retries_left(3));
    // VERIFY with a value through the current form now reaches 0018.
    expect(&mut card, "0020008004 31323334", Sw::SUCCESS);
    // CHANGE REFERENCE DATA by SFI of 001B (not verified): refused, but 001B is current.
    expect(&mut card, "0024019B06 58595A393837", Sw::SECURITY_STATUS_NOT_SATISFIED);
    expect(&mut card, "00200080", Sw::retries_left(5));
    // Verified, then changed by SFI; the new value opens it.
    expect(&mut card, "0020008006 414243313233", Sw::SUCCESS);
    expect(&mut card, "0024019B06 58595A393837", Sw::SUCCESS);
    card.reset();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    expect(&mut card, "0020009B06 58595A393837", Sw::SUCCESS);
}

#[test]
fn verify_by_sfi_of_a_missing_object_leaves_the_current_ef() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0018);
    // SFI 1D does not exist in the JPKI AP.
    expect(&mut card, "0020009D04 31323334", Sw::NOT_FOUND);
    expect(&mut card, "00200080", Sw::retries_left(3));
    // At the MF level both forms have no object.
    card.reset();
    expect(&mut card, "0020009804 31323334", Sw::NO_CURRENT_EF);
}

#[test]
fn internal_authenticate_answers_only_with_the_common_ap_key() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    // JPKI keys are behind a PIN: 69 82, by SFI and as the current key.
    expect(&mut card, "0088009708 0102030405060708 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
    expect(&mut card, "0088009A08 0102030405060708 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
    select_ef(&mut card, 0x0017);
    expect(&mut card, "0088008008 0102030405060708 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
    // Still 69 82 with the PIN verified: the key is for 80 2A, which now signs.
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::SUCCESS);
    expect(&mut card, "0088009708 0102030405060708 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(verify(&mut card, 0x001B, "ABC123"), Sw::SUCCESS);
    expect(&mut card, "0088009A08 0102030405060708 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
    // The 券面 signing keys: 69 85.
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    expect(&mut card, "0088009308 0102030405060708 00", Sw::CONDITIONS_NOT_SATISFIED);
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    expect(&mut card, "0088009A08 0102030405060708 00", Sw::CONDITIONS_NOT_SATISFIED);
    // Common AP 0019 signs DigestInfo(SHA-256(challenge)).
    expect(&mut card, SELECT_COMMON, Sw::SUCCESS);
    let signature = expect(&mut card, "0088009908 0102030405060708 00", Sw::SUCCESS);
    assert_eq!(signature.len(), 256);
}
