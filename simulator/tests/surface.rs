//! The surface AP (券面事項確認AP) driven as myna-card, jpki/myna and jpki-rs do (spec §6).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::applets::surface;
use mynasim_simulator::tlv::parse_all;
use mynasim_simulator::Sw;
use openssl::pkey::{PKey, Public};

const PROFILE: &str = "holder:\n  my_number: '537686677188'\n  birth_date: 1980-02-17\n  sex: male\n  municipality_code: '13221'\ncard:\n  security_code: '2285'\n  expires: 2035-02-17\n";
const CODE_B: &str = "55021720352285";

/// The key certified by the AP's CV certificate.
fn issuer_key(card: &mut mynasim_simulator::Card) -> PKey<Public> {
    select_ef(card, surface::CV_CERTIFICATE);
    let cv = read_all(card, 568);
    let body = parse_all(parse_all(&cv).unwrap()[0].value).unwrap()[0].value.to_vec();
    assert_eq!(&body[..7], b"6000023");
    key_from_record(&body[32..])
}

#[test]
fn card_face_with_code_b_and_its_signature() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    let issuer = issuer_key(&mut card);
    select_ef(&mut card, surface::CARD_FACE);
    expect(&mut card, "00B0000007", Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(verify(&mut card, surface::CODE_B, CODE_B), Sw::SUCCESS);
    select_ef(&mut card, surface::CARD_FACE);
    let file = read_tlv_file(&mut card);
    let inner_start = 5;
    let fields = parse_all(&file[inner_start..]).unwrap();
    let tags: Vec<u16> = fields.iter().map(|t| t.tag).collect();
    assert_eq!(tags, (0xDF21..=0xDF2A).collect::<Vec<u16>>());
    // DF21: absolute offsets of DF22..DF2A.
    let table = fields[0].value;
    for (i, field) in fields[1..].iter().enumerate() {
        let offset = usize::from(u16::from_be_bytes([table[2 * i], table[2 * i + 1]]));
        assert_eq!(offset, inner_start + field.offset, "DF{:02X}", 0x22 + i);
    }
    let value = |tag: u16| fields.iter().find(|t| t.tag == tag).unwrap().value;
    let tlv_bytes = |tag: u16| {
        let i = fields.iter().position(|t| t.tag == tag).unwrap();
        let start = fields[i].offset;
        let end = fields.get(i + 1).map_or(file.len() - inner_start, |n| n.offset);
        file[inner_start + start..inner_start + end].to_vec()
    };
    assert_eq!(value(0xDF22), b"19800217");
    assert_eq!(value(0xDF23), b"1");
    assert_eq!(value(0xDF29), b"20350217");
    for png in [0xDF25, 0xDF26, 0xDF2A] {
        assert!(value(png).starts_with(&[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]));
        // IHDR: every rendered field is 12 pixels high, as on the surveyed card (216×12,
        // 288×12 and 24×12 in myna-card's fixture surface-0002.bin).
        assert_eq!(value(png)[20..24], 12u32.to_be_bytes(), "height of DF{:02X}", png & 0xFF);
    }
    assert!(mynasim_simulator::images::is_jp2(value(0xDF27)));
    // DF28: PKCS#1 v1.5 over a DigestInfo with the SHA-256 OID and three digests.
    let mut digests = Vec::new();
    digests.extend_from_slice(&openssl::sha::sha256(&[tlv_bytes(0xDF22), tlv_bytes(0xDF23), tlv_bytes(0xDF24)].concat()));
    digests.extend_from_slice(&openssl::sha::sha256(&[tlv_bytes(0xDF25), tlv_bytes(0xDF26)].concat()));
    digests.extend_from_slice(&openssl::sha::sha256(&tlv_bytes(0xDF27)));
    let rsa = issuer.rsa().unwrap();
    let mut recovered = vec![0u8; 256];
    let n = rsa.public_decrypt(value(0xDF28), &mut recovered, openssl::rsa::Padding::PKCS1).unwrap();
    assert_eq!(recovered[..19], surface::FACE_DIGEST_INFO_PREFIX);
    assert_eq!(recovered[19..n], digests);

    // The live challenge verifies with DF24, the key inside the signed record.
    let card_key = key_from_record(value(0xDF24));
    let challenge = expect(&mut card, "0084000010", Sw::SUCCESS);
    let mut apdu = hex("802A000033 3031300D060960864801650304020105000420");
    apdu.extend_from_slice(&openssl::sha::sha256(&challenge));
    apdu.push(0);
    let (signature, sw) = send(&mut card, &apdu);
    assert_eq!(sw, Sw::SUCCESS);
    assert!(verifies(&card_key, &challenge, &signature));

    // 照合番号B does not open the My Number image.
    select_ef(&mut card, surface::MY_NUMBER_IMAGE);
    expect(&mut card, "00B0000007", Sw::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn my_number_image_with_code_a() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    let issuer = issuer_key(&mut card);
    assert_eq!(verify(&mut card, surface::CODE_A, "537686677188"), Sw::SUCCESS);
    select_ef(&mut card, surface::MY_NUMBER_IMAGE);
    let file = read_tlv_file(&mut card);
    let fields = parse_all(&file[5..]).unwrap();
    assert_eq!(fields.iter().map(|t| t.tag).collect::<Vec<_>>(), [0xDF41, 0xDF42, 0xDF43]);
    assert!(verifies(&issuer, &file[5..5 + fields[2].offset], fields[2].value));
    select_ef(&mut card, surface::CARD_FACE);
    expect(&mut card, "00B0000007", Sw::SUCCESS);
    select_ef(&mut card, surface::AGE_RECORD);
    expect(&mut card, "00B0000007", Sw::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn age_record_with_the_birth_date_key() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    let issuer = issuer_key(&mut card);
    // Era YYMMDD: 昭和55年2月17日.
    assert_eq!(verify(&mut card, surface::BIRTH_DATE_KEY, "550217"), Sw::SUCCESS);
    select_ef(&mut card, surface::AGE_RECORD);
    let file = read_tlv_file(&mut card);
    let fields = parse_all(&file[5..]).unwrap();
    assert_eq!(fields[0].value, b"19800217");
    assert!(verifies(&issuer, &file[5..5 + fields[2].offset], fields[2].value));
    select_ef(&mut card, surface::CARD_FACE);
    expect(&mut card, "00B0000007", Sw::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn basic_info_is_free_and_names_the_municipality() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    select_ef(&mut card, surface::BASIC_INFO);
    let file = read_tlv_file(&mut card);
    let fields = parse_all(&file[5..]).unwrap();
    assert_eq!(fields[0].value, [0x06, 0x03, 0x0E, 0x01]);
    assert_eq!(fields[2].tag, 0xDF33);
    assert_eq!(fields[2].value, [0x00], "DF33 as in myna-card's fixture surface-0003.bin");
    assert_eq!(fields[3].value, b"13221");
    select_ef(&mut card, surface::UNKNOWN_0006);
    expect(&mut card, "00B0000010", Sw::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn surface_status_words() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    select_ef(&mut card, surface::CODE_B);
    expect(&mut card, "00200080", Sw::retries_left(10));
    assert_eq!(verify(&mut card, surface::CODE_B, "55021720350000"), Sw::retries_left(9));
    assert_eq!(verify(&mut card, surface::CODE_B, "5502172035"), Sw::WRONG_LENGTH);
    expect(&mut card, "80AE000001 00", Sw::SESSION_KEY_UNSUPPORTED);
    expect(&mut card, "00840000000010", Sw::CONDITIONS_NOT_SATISFIED);
    expect(&mut card, "0084010010", Sw::INCORRECT_P1P2);
    assert_eq!(expect(&mut card, "0084000000", Sw::SUCCESS).len(), 256);
    expect(&mut card, "802A010001 01", Sw::INCORRECT_P1P2);
    expect(&mut card, "0088000001 01", Sw::CONDITIONS_NOT_SATISFIED);
    // The code-B counter survives a reset; the session does not.
    card.reset();
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    select_ef(&mut card, surface::CODE_B);
    expect(&mut card, "00200080", Sw::retries_left(9));
}
