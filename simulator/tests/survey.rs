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

/// A card of municipality 13221, the one the surveyed test card was issued by.
const MUNICIPALITY_13221: &str = "holder:\n  municipality_code: '13221'\n";

#[test]
fn key_ids_carry_08_05_as_on_the_surveyed_card() {
    let mut card = card_from(MUNICIPALITY_13221);
    // Text AP EF 0004: byte for byte the header and both key IDs of myna-card's
    // fixture text-0004.bin (issuer 6000033/001, subject 1322131/000).
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    select_ef(&mut card, 0x0004);
    let real = hex("7f218202335f4e8201293630303030333308053030310000000031333232313331080530303000000000");
    assert_eq!(expect(&mut card, "00B000002A", Sw::SUCCESS), real);
    // Text AP EF 0005 up to DF42 (key ID 6000034/001), as in text-0005.bin.
    select_ef(&mut card, 0x0005);
    assert_eq!(expect(&mut card, "00B000001F", Sw::SUCCESS), hex("ff4082009fdf410401030e01df421036303030303334080530303100000000"));
    // Surface AP EF 0004 (surface-0004.bin: issuer 6000023/001, subject 1322121/000).
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    select_ef(&mut card, 0x0004);
    let real = hex("7f218202335f4e8201293630303030323308053030310000000031333232313231080530303000000000");
    assert_eq!(expect(&mut card, "00B000002A", Sw::SUCCESS), real);
    // Surface AP EF 0003: DF32 6000024/001; DF35 opens with 6000025/001.
    select_ef(&mut card, 0x0003);
    let basic = expect(&mut card, "00B0000000", Sw::SUCCESS);
    assert_eq!(basic[..31], hex("ff3082013bdf310406030e01df321036303030303234080530303100000000")[..]);
    let df35 = basic.windows(4).position(|w| w == [0xDF, 0x35, 0x82, 0x01]).unwrap() + 5;
    assert_eq!(basic[df35..df35 + 16], hex("36303030303235080530303100000000")[..]);
    // Common and juki AP key reference (EF 0002): 6000019/001.
    for select in [SELECT_COMMON, SELECT_JUKI] {
        expect(&mut card, select, Sw::SUCCESS);
        assert_eq!(expect(&mut card, "00B2011400", Sw::SUCCESS), hex("36303030303139080530303100000000"));
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(png[..8], [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
    assert_eq!(&png[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn security_code_and_my_number_images_have_the_surveyed_sizes() {
    use mynasim_simulator::tlv::parse_all;
    let mut card = card_from("holder:\n  my_number: '537686677188'\ncard:\n  security_code: '2285'\n");
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x0013, "537686677188"), Sw::SUCCESS);
    select_ef(&mut card, 0x0002);
    let face = read_tlv_file(&mut card);
    let fields = parse_all(parse_all(&face).unwrap()[0].value).unwrap();
    let code = fields.iter().find(|f| f.tag == 0xDF2A).unwrap();
    assert_eq!(png_size(code.value), (24, 12));
    select_ef(&mut card, 0x0005);
    let image = read_tlv_file(&mut card);
    let fields = parse_all(parse_all(&image).unwrap()[0].value).unwrap();
    assert_eq!(fields[0].tag, 0xDF41);
    assert_eq!(png_size(fields[0].value), (72, 12));
}

#[test]
fn proprietary_jpki_commands_exist_card_wide() {
    let mut card = card();
    let body = "00".repeat(307);
    for level in [None, Some(SELECT_JPKI), Some(SELECT_TEXT), Some(SELECT_SURFACE), Some(SELECT_COMMON), Some(SELECT_JUKI)] {
        card.reset();
        if let Some(select) = level {
            expect(&mut card, select, Sw::SUCCESS);
        }
        // 80 A2 with the P1-P2 the survey tried: 6A 86, the 307-byte body in an extended Lc
        // (with and without an extended Le) parses.
        for p1p2 in ["0000", "00AE", "8000", "00B6"] {
            expect(&mut card, &format!("80A2{p1p2} 000133 {body}"), Sw::INCORRECT_P1P2);
            expect(&mut card, &format!("80A2{p1p2} 000133 {body} 0000"), Sw::INCORRECT_P1P2);
            expect(&mut card, &format!("80A2{p1p2}"), Sw::INCORRECT_P1P2);
        }
        // The iPhone marker on a physical card: 67 00.
        expect(&mut card, "80FC0000", Sw::WRONG_LENGTH);
        // MANAGE ATTRIBUTES: P1 22 / 24 reach the issuer-security check, others 6A 86.
        expect(&mut card, "808A2200", Sw::SECURITY_STATUS_NOT_SATISFIED);
        expect(&mut card, "808A240004 01020304", Sw::SECURITY_STATUS_NOT_SATISFIED);
        expect(&mut card, "808A0000", Sw::INCORRECT_P1P2);
        expect(&mut card, "808A2000", Sw::INCORRECT_P1P2);
        // Under CLA 00 they are known instructions of the wrong class.
        expect(&mut card, "00A20000", Sw::CLA_NOT_SUPPORTED);
        expect(&mut card, "00FC0000", Sw::CLA_NOT_SUPPORTED);
    }
    // A refused 80 8A changes nothing: the JPKI AP still reads and verifies.
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0006);
    expect(&mut card, "808A2200", Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(&expect(&mut card, "00B0000010", Sw::SUCCESS), b"JPKIAPICCTOKEN2 ");
}
