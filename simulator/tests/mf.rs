//! The MF level (spec §13.1–§13.3): the GlobalPlatform Issuer Security Domain, its GET DATA
//! objects with the test CV chain, and GET DATA 5F51.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::applets::{common as common_ap, isd, jpki, text, AppletId};
use mynasim_simulator::pins::PinSet;
use mynasim_simulator::profile::{Profile, ATR_CONTACT, ATR_CONTACTLESS, ATR_OPENSC};
use mynasim_simulator::sm::SmState;
use mynasim_simulator::tlv::parse_all;
use mynasim_simulator::Sw;

const PROFILE: &str = "holder:\n  municipality_code: '13221'\ncard:\n  serial: '400000012719843'\n  expires: 2035-02-17\n";
const SELECT_ISD: &str = "00A4040C07A0000001510000";

/// Every MF-level tag (5F51 apart).
const MF_TAGS: [u16; 8] = [0x0042, 0x0045, 0x0066, 0x00F0, 0x00F2, 0x00F7, 0x00F8, 0x7F21];

fn get_data_extended(card: &mut mynasim_simulator::Card, tag: u16) -> (Vec<u8>, Sw) {
    let [p1, p2] = tag.to_be_bytes();
    send(card, &[0x00, 0xCA, p1, p2, 0x00, 0x00, 0x00])
}

/// Asserts the MF-level state: every EF rule of spec §13.1 and a GET DATA object answering.
#[track_caller]
fn assert_mf_level(card: &mut mynasim_simulator::Card) {
    assert_eq!(card.session().applet, None);
    expect(card, "00A40000", Sw::INCORRECT_P1P2);
    expect(card, "00A4000C023F00", Sw::NOT_FOUND);
    expect(card, "00A4020C023F00", Sw::NOT_FOUND);
    expect(card, "00A4020C022F10", Sw::NOT_FOUND);
    expect(card, "00A4020C022F11", Sw::NOT_FOUND);
    for fid in 0x0001..0x001E {
        expect(card, &format!("00A4020C02{fid:04X}"), Sw::NOT_FOUND);
    }
    // No EF with a short identifier (spec §13.1).
    for sfi in 1..=0x1E {
        expect(card, &format!("00B0{:02X}0000", 0x80 | sfi), Sw::NOT_FOUND);
    }
    expect(card, "00A4020C02001E", Sw::SUCCESS);
    expect(card, "00B0000000", Sw::INCOMPATIBLE_FILE_STRUCTURE);
    expect(card, "00B2010400", Sw::INCOMPATIBLE_FILE_STRUCTURE);
    expect(card, "00200080", Sw::NO_CURRENT_EF);
    assert_eq!(expect(card, "00CA004500", Sw::SUCCESS), b"400000012719843");
}

#[test]
fn the_isd_is_current_at_power_up_and_after_a_reset() {
    let mut card = card_from(PROFILE);
    assert_mf_level(&mut card);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    card.reset();
    assert_mf_level(&mut card);
}

#[test]
fn select_mf_with_an_ap_current_changes_nothing() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    assert_eq!(verify(&mut card, jpki::AUTH_PIN, "1234"), Sw::SUCCESS);
    let before = card.session();
    assert!(before.verified.contains(mynasim_simulator::pins::PinId::AuthPin));
    for apdu in ["00A40000", "00A4000C", "00A4000000"] {
        expect(&mut card, apdu, Sw::SUCCESS);
        assert_eq!(card.session(), before, "{apdu}");
    }
    for apdu in ["00A4000C023F00", "00A4020C023F00", "00A4020C02001E"] {
        expect(&mut card, apdu, Sw::NOT_FOUND);
        assert_eq!(card.session(), before, "{apdu}");
    }
    // Still in JPKI with the PIN verified: the current PIN answers its status, the auth key
    // signs, the MF objects do not answer.
    expect(&mut card, "00200080", Sw::retries_left(3));
    assert_eq!(expect(&mut card, "802A00971101020304050607080910111213141516 00", Sw::SUCCESS).len(), 256);
    for tag in MF_TAGS {
        assert_eq!(get_data_extended(&mut card, tag).1, Sw::DATA_NOT_FOUND, "{tag:04X}");
    }
}

#[test]
fn selecting_the_isd_leaves_the_ap_and_clears_its_status() {
    for select in [SELECT_ISD, "00A4040C07A000000151000000", "00A4040000", "00A4040C", "00A40400"] {
        // (The second form is the first with Le = 00, case 4.)
        let mut card = card_from(PROFILE);
        expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
        assert_eq!(verify(&mut card, jpki::AUTH_PIN, "1234"), Sw::SUCCESS);
        expect(&mut card, select, Sw::SUCCESS);
        let session = card.session();
        assert_eq!((session.applet, session.current, session.verified), (None, None, PinSet::EMPTY), "{select}");
        assert_mf_level(&mut card);
        // Back in JPKI the PIN must be presented again: the auth certificate's key refuses.
        expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
        expect(&mut card, "802A00971101020304050607080910111213141516 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
    }
    // From the ISD itself: the same state again.
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_ISD, Sw::SUCCESS);
    assert_mf_level(&mut card);
}

#[test]
fn selecting_the_isd_ends_a_secure_messaging_session() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    assert_eq!(verify(&mut card, text::PIN, "1234"), Sw::SUCCESS);
    select_ef(&mut card, text::SESSION_PUBLIC_KEY);
    let file = read_all(&mut card, 269);
    let key = key_from_record(parse_all(&file).unwrap()[0].value);
    let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&key).unwrap();
    ctx.encrypt_init().unwrap();
    ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP).unwrap();
    ctx.set_rsa_oaep_md(openssl::md::Md::sha256()).unwrap();
    ctx.set_rsa_mgf1_md(openssl::md::Md::sha256()).unwrap();
    let mut message = hex("A0228020");
    message.extend_from_slice(&[0x5A; 32]);
    let mut ciphertext = Vec::new();
    ctx.encrypt_to_vec(&message, &mut ciphertext).unwrap();
    let mut apdu = hex("80AE0000 000100");
    apdu.extend_from_slice(&ciphertext);
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
    assert!(matches!(card.session().sm, SmState::Open(_)));
    expect(&mut card, SELECT_ISD, Sw::SUCCESS);
    assert_eq!(card.session().sm, SmState::None);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    expect(&mut card, "08B0000003 970100", Sw::SM_NO_SESSION);
}

#[test]
fn partial_names_select_aps_but_not_the_isd() {
    let mut card = card_from(PROFILE);
    expect(&mut card, "00A4040C07D3921000310001", Sw::SUCCESS);
    assert_eq!(card.session().applet.map(|i| card.applets()[i].id), Some(AppletId::Text));
    expect(&mut card, "00A4040C05A000000151", Sw::NOT_FOUND);
    assert_eq!(card.session().applet.map(|i| card.applets()[i].id), Some(AppletId::Text));
    expect(&mut card, "00A4040C08A000000151000000", Sw::NOT_FOUND);
}

#[test]
fn get_data_objects_are_bare_values_derived_from_the_profile() {
    let mut card = card_from(PROFILE);
    assert_eq!(expect(&mut card, "00CA004500", Sw::SUCCESS), b"400000012719843");
    assert_eq!(expect(&mut card, "00CA00F000", Sw::SUCCESS), b"13221");
    assert_eq!(expect(&mut card, "00CA00F200", Sw::SUCCESS), b"20350217");
    // 0042: the card's key reference, as in the common AP's EF 0002.
    let issuer = expect(&mut card, "00CA004200", Sw::SUCCESS);
    expect(&mut card, SELECT_COMMON, Sw::SUCCESS);
    select_ef(&mut card, common_ap::KEY_REFERENCE);
    assert_eq!(expect(&mut card, "00B2010400", Sw::SUCCESS), issuer);
    expect(&mut card, SELECT_ISD, Sw::SUCCESS);
    // 0066: GlobalPlatform card recognition data under 1.2.840.114283.
    let recognition = expect(&mut card, "00CA006600", Sw::SUCCESS);
    let template = parse_all(&recognition).unwrap();
    assert_eq!((template.len(), template[0].tag), (1, 0x73));
    assert_eq!(&template[0].value[..9], &hex("06072A864886FC6B01")[..]);
    let inner = parse_all(template[0].value).unwrap();
    assert_eq!(inner.iter().map(|t| t.tag).collect::<Vec<_>>(), [0x06, 0x60, 0x63, 0x64]);
    // The other values of this card: a differently seeded card differs where the profile does.
    let mut other = card_from("card:\n  serial: '123456789012345'\n  expires: 2030-01-31\nholder:\n  municipality_code: '27100'\n");
    assert_eq!(expect(&mut other, "00CA004500", Sw::SUCCESS), b"123456789012345");
    assert_eq!(expect(&mut other, "00CA00F000", Sw::SUCCESS), b"27100");
    assert_eq!(expect(&mut other, "00CA00F200", Sw::SUCCESS), b"20300131");
    expect(&mut card, "00CA010100", Sw::DATA_NOT_FOUND);
    expect(&mut card, "00CA00F100", Sw::DATA_NOT_FOUND);
    expect(&mut card, "00CA000000", Sw::DATA_NOT_FOUND);
}

#[test]
fn get_data_length_rules() {
    let mut card = card_from(PROFILE);
    // Large objects: a short Le (256 at most) cannot hold them; an extended Le can.
    for tag in ["00F8", "7F21"] {
        expect(&mut card, &format!("00CA{tag}00"), Sw::WRONG_LENGTH);
        expect(&mut card, &format!("00CA{tag}FF"), Sw::WRONG_LENGTH);
        assert_eq!(expect(&mut card, &format!("00CA{tag}000000"), Sw::SUCCESS).len(), 575);
        assert_eq!(expect(&mut card, &format!("00CA{tag}00023F"), Sw::SUCCESS).len(), 575);
        expect(&mut card, &format!("00CA{tag}00023E"), Sw::WRONG_LENGTH);
    }
    // Small objects: any Le that holds them; a smaller one 67 00; no Le = 256.
    assert_eq!(expect(&mut card, "00CA00450F", Sw::SUCCESS), b"400000012719843");
    expect(&mut card, "00CA00450E", Sw::WRONG_LENGTH);
    expect(&mut card, "00CA004501", Sw::WRONG_LENGTH);
    assert_eq!(expect(&mut card, "00CA0045", Sw::SUCCESS), b"400000012719843");
    assert_eq!(expect(&mut card, "00CA0045000000", Sw::SUCCESS), b"400000012719843");
    assert_eq!(expect(&mut card, "00CA004200", Sw::SUCCESS).len(), 16);
    assert_eq!(expect(&mut card, "00CA00F700", Sw::SUCCESS).len(), 16);
    // A data field is not part of GET DATA.
    expect(&mut card, "00CA00450100", Sw::WRONG_LENGTH);
    // In an AP every MF tag is absent, whatever the Le.
    expect(&mut card, SELECT_COMMON, Sw::SUCCESS);
    for tag in MF_TAGS {
        expect(&mut card, &format!("00CA{tag:04X}00"), Sw::DATA_NOT_FOUND);
    }
}

fn key_id_parts(id: &[u8]) -> (String, [u8; 2], String, [u8; 4]) {
    assert_eq!(id.len(), 16);
    (
        String::from_utf8(id[..7].to_vec()).unwrap(),
        [id[7], id[8]],
        String::from_utf8(id[9..12].to_vec()).unwrap(),
        id[12..].try_into().unwrap(),
    )
}

/// Splits an MF-level CV certificate in its real layout: (body, signature).
fn split_certificate(certificate: &[u8]) -> (&[u8], &[u8]) {
    assert_eq!(certificate.len(), 575);
    assert_eq!(&certificate[..12], &hex("4D0A42105F20105F49820109")[..]);
    assert_eq!(&certificate[12..17], &hex("5F4E820129")[..]);
    let body = &certificate[17..314];
    assert_eq!(&body[32..41], &hex("900301000191820100")[..]);
    assert_eq!(&certificate[314..319], &hex("5F37820100")[..]);
    (body, &certificate[319..])
}

#[test]
fn the_cv_chain_verifies_from_the_root_key_down() {
    let mut card = card_from(PROFILE);
    let (upper, sw) = get_data_extended(&mut card, isd::tag::CHAIN_UPPER);
    assert_eq!(sw, Sw::SUCCESS);
    let (lower, sw) = get_data_extended(&mut card, isd::tag::CHAIN_LOWER);
    assert_eq!(sw, Sw::SUCCESS);
    let intermediate_id = expect(&mut card, "00CA00F700", Sw::SUCCESS);
    let (upper_body, upper_signature) = split_certificate(&upper);
    let (lower_body, lower_signature) = split_certificate(&lower);
    // Key IDs: root 6000020/001 → intermediate <municipality>30/002 → 0000050/001, 08 05.
    assert_eq!(key_id_parts(&upper_body[..16]), ("6000020".into(), [0x08, 0x05], "001".into(), [0; 4]));
    assert_eq!(key_id_parts(&upper_body[16..32]), ("1322130".into(), [0x08, 0x05], "002".into(), [0; 4]));
    assert_eq!(key_id_parts(&lower_body[16..32]), ("0000050".into(), [0x08, 0x05], "001".into(), [0; 4]));
    // 00F7 is the intermediate: 00F8's subject and 7F21's issuer.
    assert_eq!(intermediate_id, &upper_body[16..32]);
    assert_eq!(intermediate_id, &lower_body[..16]);
    // 00F8 verifies under the root (off-card) key; 7F21 under the key 00F8 carries only.
    let root = key_from_record(&card.isd().root_public_key);
    let intermediate = key_from_record(&upper_body[32..]);
    assert!(verifies(&root, upper_body, upper_signature));
    assert!(verifies(&intermediate, lower_body, lower_signature));
    assert!(!verifies(&root, lower_body, lower_signature));
    assert!(!verifies(&intermediate, upper_body, upper_signature));
    // The root is not the 券面 APs' CV CA: the text AP's EF 0004 does not verify under it.
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    select_ef(&mut card, text::CV_CERTIFICATE);
    let text_cv = read_tlv_file(&mut card);
    let inner = parse_all(parse_all(&text_cv).unwrap()[0].value).unwrap();
    assert!(!verifies(&root, inner[0].value, inner[1].value));
    // Another municipality: another intermediate.
    let mut other = card_from("holder:\n  municipality_code: '27100'\n");
    let (other_upper, _) = get_data_extended(&mut other, isd::tag::CHAIN_UPPER);
    let (other_body, other_signature) = split_certificate(&other_upper);
    assert_eq!(&other_body[16..23], b"2710030");
    assert_ne!(&other_body[32..], &upper_body[32..]);
    assert!(verifies(&root, other_body, other_signature));
}

#[test]
fn a_profile_leaves_7f21_out() {
    let mut card = card_from(&format!("{PROFILE}mf:\n  certificate_7f21: false\n"));
    assert_eq!(get_data_extended(&mut card, isd::tag::CHAIN_LOWER).1, Sw::DATA_NOT_FOUND);
    assert_eq!(get_data_extended(&mut card, isd::tag::CHAIN_UPPER).0.len(), 575);
    let mut card = card_from(&format!("{PROFILE}mf:\n  certificate_7f21: true\n"));
    assert_eq!(get_data_extended(&mut card, isd::tag::CHAIN_LOWER).0.len(), 575);

    let err = Profile::from_yaml("mf:\n  certificate_7f21: maybe\n", "p.yaml").unwrap_err().message;
    assert!(err.contains("p.yaml:2:") && err.contains("must be true") && err.contains("or false"), "{err}");
    let err = Profile::from_yaml("mf:\n  certificate_7F21: false\n", "p.yaml").unwrap_err().message;
    assert!(err.contains("unknown field `certificate_7F21`") && err.contains("certificate_7f21"), "{err}");
}

#[test]
fn get_data_5f51_is_the_contact_atr_without_ts_everywhere() {
    for (yaml, presented, contact) in [
        ("", ATR_CONTACT, ATR_CONTACT),
        ("atr: opensc", ATR_OPENSC, ATR_OPENSC),
        ("atr: contactless", ATR_CONTACTLESS, ATR_CONTACT),
        ("atr: contactless\ncontact_atr: opensc", ATR_CONTACTLESS, ATR_OPENSC),
        ("contact_atr: opensc", ATR_CONTACT, ATR_OPENSC),
        ("atr: opensc\ncontact_atr: contact", ATR_OPENSC, ATR_CONTACT),
        ("contact_atr: '3B 02 14 50'", ATR_CONTACT, &[0x3B, 0x02, 0x14, 0x50][..]),
        ("atr: '3B 02 14 50'", &[0x3B, 0x02, 0x14, 0x50][..], &[0x3B, 0x02, 0x14, 0x50][..]),
        // A presented ATR that is not a valid contact ATR (bad TCK): the default contact ATR.
        ("atr: '3B E0 00 FF 81 31 FE 45 15'", &hex("3BE000FF8131FE4515")[..], ATR_CONTACT),
    ] {
        let mut card = card_from(yaml);
        assert_eq!((card.atr(), card.contact_atr()), (presented, contact), "{yaml}");
        let expected = &contact[1..];
        assert_eq!(expect(&mut card, "00CA5F5100", Sw::SUCCESS), expected, "{yaml}");
        for select in [SELECT_JPKI, SELECT_TEXT, SELECT_SURFACE, SELECT_COMMON, SELECT_JUKI, SELECT_ISD] {
            expect(&mut card, select, Sw::SUCCESS);
            assert_eq!(expect(&mut card, "00CA5F5100", Sw::SUCCESS), expected, "{yaml} after {select}");
        }
    }
    let mut card = card_from("atr: opensc");
    let stored = expect(&mut card, "00CA5F5100", Sw::SUCCESS);
    assert_eq!(stored, hex("E000FF8131FE4514"));
    // The last byte is TCK: the XOR of every byte after TS.
    assert_eq!(stored.iter().fold(0, |a, b| a ^ b), 0);
    assert_eq!(expect(&mut card, "00CA5F5108", Sw::SUCCESS), hex("E000FF8131FE4514"));
    expect(&mut card, "00CA5F5107", Sw::WRONG_LENGTH);
}

#[test]
fn contact_atr_choices_are_checked() {
    let err = |yaml: &str| Profile::from_yaml(yaml, "c.yaml").unwrap_err().message;
    let e = err("contact_atr: '3F E0 00 FF 81 31 FE 45 14'");
    assert!(e.contains("c.yaml:1:14") && e.contains("starts with TS = 3B"), "{e}");
    let e = err("contact_atr: '3B E0 00 FF 81 31 FE 45 15'");
    assert!(e.contains("TCK (last byte) is 15") && e.contains("write \"3BE000FF8131FE4514\""), "{e}");
    let e = err("contact_atr: '3B E0 00 FF 81 31 FE 45'");
    assert!(e.contains("announce 9 bytes including TCK"), "{e}");
    let e = err("contact_atr: contactless");
    assert!(e.contains("atr: contactless") && e.contains("`opensc`"), "{e}");
    let e = err("contact_atr: zz");
    assert!(e.contains("contact_atr must be `contact`, `opensc` or hex"), "{e}");
    let e = err("contact_atr: '3B FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF'");
    assert!(e.contains("at most 33 bytes, this one 34"), "{e}");
    // T=0 only: no TCK.
    assert!(Profile::from_yaml("contact_atr: '3B 02 14 50'", "c.yaml").is_ok());
}

#[test]
fn mf_settings_and_contact_atr_overlay_like_every_field() {
    let base = Profile::from_yaml("contact_atr: opensc\nmf:\n  certificate_7f21: false\n", "base.yaml").unwrap();
    let over = Profile::from_yaml("atr: contactless\n", "over.yaml").unwrap();
    let p = base.clone().overlay(over).resolve(TODAY, "over.yaml").unwrap();
    assert_eq!((p.atr.as_slice(), p.contact_atr.as_slice(), p.mf_certificate_7f21), (ATR_CONTACTLESS, ATR_OPENSC, false));
    let over = Profile::from_yaml("contact_atr: contact\nmf:\n  certificate_7f21: true\n", "over.yaml").unwrap();
    let p = base.overlay(over).resolve(TODAY, "over.yaml").unwrap();
    assert_eq!((p.contact_atr.as_slice(), p.mf_certificate_7f21), (ATR_CONTACT, true));
}

#[test]
fn power_events_and_the_mf_level() {
    use mynasim_simulator::power::PowerEvent;
    // A warm reset that keeps the session (contactless default, spec §13.4) keeps the AP
    // current: the MF objects stay out of reach until the ISD is selected or power cycles.
    let mut card = card_from(&format!("{PROFILE}atr: contactless\n"));
    expect(&mut card, SELECT_COMMON, Sw::SUCCESS);
    card.power(PowerEvent::WarmReset);
    expect(&mut card, "00CA004500", Sw::DATA_NOT_FOUND);
    expect(&mut card, "00A40000", Sw::SUCCESS);
    card.power(PowerEvent::Off);
    card.power(PowerEvent::On);
    assert_mf_level(&mut card);
    // A warm reset that clears it (contact default) makes the ISD current.
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_COMMON, Sw::SUCCESS);
    card.power(PowerEvent::WarmReset);
    assert_mf_level(&mut card);
}
