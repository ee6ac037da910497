//! The smartphone JPKI tokens (spec §4.2, §4.3, §13.5): profile `kind: android-token` and
//! `kind: iphone-token`, one test per way they differ from the card.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::pins::PinId;
use mynasim_simulator::profile::{DeviceKind, Profile, ATR_PHONE};
use mynasim_simulator::Sw;

const ANDROID: &str = "kind: android-token\n";
const IPHONE: &str = "kind: iphone-token\n";

#[test]
fn a_phone_token_holds_only_the_jpki_ap() {
    for yaml in [ANDROID, IPHONE] {
        let mut card = card_from(yaml);
        for other in [SELECT_TEXT, SELECT_SURFACE, SELECT_COMMON, SELECT_JUKI] {
            expect(&mut card, other, Sw::NOT_FOUND);
        }
        // Nor by a prefix of their names, nor the card manager (GlobalPlatform ISD).
        expect(&mut card, "00A4040C04 D3921000", Sw::NOT_FOUND);
        expect(&mut card, "00A4040C07 A0000001510000", Sw::NOT_FOUND);
        expect(&mut card, "00A4040C", Sw::NOT_FOUND);
        // No MF-level objects, no contact ATR.
        for tag in ["0045", "00F0", "00F8", "0066", "5F51"] {
            expect(&mut card, &format!("00CA{tag}00"), Sw::DATA_NOT_FOUND);
        }
        expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
        // A refused SELECT leaves the JPKI AP current.
        expect(&mut card, SELECT_TEXT, Sw::NOT_FOUND);
        select_ef(&mut card, 0x0018);
        expect(&mut card, "00200080", Sw::retries_left(3));
        assert_eq!(card.applets().len(), 1, "{yaml}");
    }
}

#[test]
fn token_info_carries_the_phone_label() {
    for (yaml, label) in [
        (ANDROID, &b"JPKIAPGPSETOKEN                 "[..]),
        (IPHONE, &b"JPKIAPIOSTOKEN                  "[..]),
        ("", &b"JPKIAPICCTOKEN2                 "[..]),
    ] {
        let mut card = card_from(yaml);
        expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
        select_ef(&mut card, 0x0006);
        assert_eq!(expect(&mut card, "00B0000020", Sw::SUCCESS), label);
        // The rest of the 160-byte CK_TOKEN_INFO is the card's layout.
        let whole = expect(&mut card, "00B0000000", Sw::SUCCESS);
        assert_eq!((whole.len(), &whole[64..72]), (160, &b"E16R01NJ"[..]));
    }
}

#[test]
fn the_auth_certificate_is_read_after_the_auth_pin_on_a_phone() {
    for yaml in [ANDROID, IPHONE] {
        let mut card = card_from(yaml);
        expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
        select_ef(&mut card, 0x000A);
        expect(&mut card, "00B0000004", Sw::SECURITY_STATUS_NOT_SATISFIED);
        expect(&mut card, "00B08A0004", Sw::SECURITY_STATUS_NOT_SATISFIED);
        // The signature password does not open it; the auth PIN does (jpki/myna's path, spec §8.2).
        assert_eq!(verify(&mut card, 0x001B, "ABC123"), Sw::SUCCESS);
        select_ef(&mut card, 0x000A);
        expect(&mut card, "00B0000004", Sw::SECURITY_STATUS_NOT_SATISFIED);
        assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::SUCCESS);
        select_ef(&mut card, 0x000A);
        let header = expect(&mut card, "00B0000004", Sw::SUCCESS);
        let certificate = read_all(&mut card, usize::from(u16::from_be_bytes([header[2], header[3]])) + 4);
        let certificate = openssl::x509::X509::from_der(&certificate).unwrap();
        // It certifies the auth key: a login signature verifies under it.
        let challenge = [0x42u8; 32];
        let mut digest_info = hex("3031300D060960864801650304020105000420");
        digest_info.extend_from_slice(&openssl::sha::sha256(&challenge));
        select_ef(&mut card, 0x0017);
        let mut apdu = hex("802A008033");
        apdu.extend_from_slice(&digest_info);
        apdu.push(0);
        let (signature, sw) = send(&mut card, &apdu);
        assert_eq!(sw, Sw::SUCCESS);
        assert!(verifies(&certificate.public_key().unwrap(), &challenge, &signature));
        // The CA certificates stay free; a power cycle closes 000A again.
        card.reset();
        expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
        select_ef(&mut card, 0x000B);
        expect(&mut card, "00B0000004", Sw::SUCCESS);
        select_ef(&mut card, 0x000A);
        expect(&mut card, "00B0000004", Sw::SECURITY_STATUS_NOT_SATISFIED);
    }
    // On the card it is free.
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x000A);
    expect(&mut card, "00B0000004", Sw::SUCCESS);
}

#[test]
fn a_phone_presents_the_readers_type_a_atr() {
    assert_eq!(ATR_PHONE, [0x3B, 0x80, 0x80, 0x01, 0x01]);
    // TCK: the XOR of T0..TCK is 0.
    assert_eq!(ATR_PHONE[1..].iter().fold(0, |x, b| x ^ b), 0);
    assert_eq!(card_from(ANDROID).atr(), ATR_PHONE);
    assert_eq!(card_from(IPHONE).atr(), ATR_PHONE);
    // A profile may still name the ATR its reader reports.
    assert_eq!(
        card_from("kind: iphone-token\natr: \"3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 03 00 00 00 00 68\"\n").atr()[..4],
        [0x3B, 0x8F, 0x80, 0x01]
    );
    assert_ne!(card().atr(), ATR_PHONE);
}

#[test]
fn only_the_iphone_token_accepts_the_last_command_indicator() {
    let mut iphone = card_from(IPHONE);
    expect(&mut iphone, "80FC0000", Sw::SUCCESS);
    expect(&mut iphone, SELECT_JPKI, Sw::SUCCESS);
    assert_eq!(verify(&mut iphone, 0x0018, "1234"), Sw::SUCCESS);
    expect(&mut iphone, "80FC0000", Sw::SUCCESS);
    // It changes nothing: the PIN stays verified.
    select_ef(&mut iphone, 0x000A);
    expect(&mut iphone, "00B0000004", Sw::SUCCESS);
    expect(&mut iphone, "80FC0100", Sw::INCORRECT_P1P2);
    expect(&mut iphone, "80FC000001 00", Sw::WRONG_LENGTH);
    for yaml in [ANDROID, ""] {
        let mut other = card_from(yaml);
        expect(&mut other, SELECT_JPKI, Sw::SUCCESS);
        expect(&mut other, "80FC0000", Sw::WRONG_LENGTH);
    }
    assert_eq!(iphone.kind(), DeviceKind::IphoneToken);
}

#[test]
fn the_rest_of_the_jpki_ap_is_the_cards() {
    let mut card = card_from(ANDROID);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0008);
    assert_eq!(expect(&mut card, "00B0000003", Sw::SUCCESS), [0x8F, 0x8F, 0x00]);
    select_ef(&mut card, 0x0001);
    expect(&mut card, "00B0000004", Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(verify(&mut card, 0x001B, "ABC123"), Sw::SUCCESS);
    select_ef(&mut card, 0x0001);
    assert_eq!(expect(&mut card, "00B0000002", Sw::SUCCESS), [0x30, 0x82]);
    // Wrong PINs cost tries and the counters persist as on the card.
    assert_eq!(verify(&mut card, 0x0018, "0000"), Sw::retries_left(2));
    assert_eq!(card.pin(PinId::AuthPin).remaining, 2);
    assert!(card.take_state_changed());
    expect(&mut card, "80AE000001 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn kind_is_strict_and_named_in_its_error() {
    let err = Profile::from_yaml("kind: android\n", "k.yaml").unwrap_err();
    for word in ["k.yaml:1:7", "`card`", "`android-token`", "`iphone-token`", "\"android\""] {
        assert!(err.message.contains(word), "{word}: {}", err.message);
    }
    let kind = |yaml: &str| Profile::from_yaml(yaml, "t").unwrap().resolve(TODAY, "t").unwrap().kind;
    assert_eq!(kind(""), DeviceKind::Card);
    assert_eq!(kind("kind: card\n"), DeviceKind::Card);
    assert_eq!(kind(ANDROID), DeviceKind::AndroidToken);
    assert_eq!(kind(IPHONE), DeviceKind::IphoneToken);
}

#[test]
fn settings_for_aps_a_phone_lacks_are_refused() {
    for (setting, field) in [
        ("pins:\n  text: { value: '5678' }\n", "pins.text"),
        ("pins:\n  common: { remaining: 1 }\n", "pins.common"),
        ("pins:\n  juki: { max_tries: 5 }\n", "pins.juki"),
        ("pins:\n  text_code_a: { remaining: 2 }\n", "pins.text_code_a"),
        ("pins:\n  surface_code_b: { remaining: 2 }\n", "pins.surface_code_b"),
        ("card:\n  security_code: '1234'\n", "card.security_code"),
        ("photo: me.jp2\n", "photo"),
    ] {
        let yaml = format!("{ANDROID}{setting}");
        let err = Profile::from_yaml(&yaml, "p.yaml").unwrap().resolve(TODAY, "p.yaml").unwrap_err();
        assert!(err.message.contains("p.yaml:1:7"), "{}", err.message);
        assert!(err.message.contains(field) && err.message.contains("only the JPKI AP"), "{}", err.message);
        // The same settings are fine on the card.
        Profile::from_yaml(setting, "c.yaml").unwrap().resolve(TODAY, "c.yaml").unwrap();
    }
    // The JPKI PINs, the holder and the certificates are the token's.
    let yaml = format!("{IPHONE}pins:\n  auth: {{ value: '4321', remaining: 2 }}\n  sign: {{ value: 'PHONE1' }}\nholder:\n  name: \"見本　太郎\"\n  my_number: '537686677188'\ncertificates:\n  sign: {{ validity: expired }}\n");
    let mut card = card_from(&yaml);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0018);
    expect(&mut card, "00200080", Sw::retries_left(2));
    assert_eq!(verify(&mut card, 0x0018, "4321"), Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x001B, "PHONE1"), Sw::SUCCESS);
}

#[test]
fn a_phone_profile_extends_a_card_profile() {
    // The kind comes from the profile that sets it, the rest from its base.
    let base = Profile::from_yaml("seed: holder-1\npins:\n  auth: { value: '2468' }\n", "base.yaml").unwrap();
    let phone = Profile::from_yaml(ANDROID, "phone.yaml").unwrap();
    let p = base.clone().overlay(phone).resolve(TODAY, "phone.yaml").unwrap();
    assert_eq!((p.kind, p.seed.as_str(), p.atr.as_slice()), (DeviceKind::AndroidToken, "holder-1", ATR_PHONE));
    // A base with a card-only setting: the error names it and points at the kind.
    let base = Profile::from_yaml("pins:\n  text: { value: '1111' }\n", "base.yaml").unwrap();
    let phone = Profile::from_yaml(ANDROID, "phone.yaml").unwrap();
    let err = base.overlay(phone).resolve(TODAY, "phone.yaml").unwrap_err();
    assert!(err.message.contains("phone.yaml:1:7") && err.message.contains("pins.text"), "{}", err.message);
}
