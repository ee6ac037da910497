//! The JPKI AP driven through APDUs as OpenSC, jpki/myna and jpki-rs send them (spec §4, §8).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::applets::jpki;
use mynasim_simulator::pins::PinId;
use mynasim_simulator::Sw;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;

fn der_length(header: &[u8]) -> usize {
    // 30 82 LL LL: OpenSC's 4-byte rule (spec §4.4).
    assert_eq!(header[..2], [0x30, 0x82]);
    usize::from(u16::from_be_bytes([header[2], header[3]])) + 4
}

#[test]
fn token_info_read_by_32_and_20_bytes() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0006);
    let label = expect(&mut card, "00B0000020", Sw::SUCCESS);
    assert_eq!(&label, b"JPKIAPICCTOKEN2                 ");
    let short = expect(&mut card, "00B0000014", Sw::SUCCESS);
    assert_eq!(&short, b"JPKIAPICCTOKEN2     ");
    let whole = expect(&mut card, "00B0000000", Sw::SUCCESS);
    assert_eq!(whole.len(), 160);
    assert_eq!(expect(&mut card, "00B000A001", Sw::OFFSET_OUT_OF_RANGE), b"");
    select_ef(&mut card, 0x0008);
    assert_eq!(expect(&mut card, "00B0000003", Sw::SUCCESS), [0x8F, 0x8F, 0x00]);
}

#[test]
fn certificates_read_with_4_and_7_byte_headers() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    for fid in [0x000A, 0x000B, 0x0002] {
        select_ef(&mut card, fid);
        // OpenSC: 4 bytes, then the whole file from offset 0.
        let header = expect(&mut card, "00B0000004", Sw::SUCCESS);
        let size = der_length(&header);
        let whole = read_all(&mut card, size);
        X509::from_der(&whole).unwrap();
        // jpki/myna: 7 bytes, then the rest from offset 7.
        let first = expect(&mut card, "00B0000007", Sw::SUCCESS);
        let mut again = first.clone();
        while again.len() < size {
            let off = again.len() as u16;
            let le = (size - again.len()).min(256);
            let apdu = [0x00, 0xB0, (off >> 8) as u8, off as u8, le as u8];
            let (chunk, sw) = send(&mut card, &apdu);
            assert_eq!(sw, Sw::SUCCESS);
            again.extend_from_slice(&chunk);
        }
        assert_eq!(again, whole);
        // The EF is exactly the DER: reading past it is 6B 00, crossing it 62 82.
        let past = size as u16;
        let (_, sw) = send(&mut card, &[0x00, 0xB0, (past >> 8) as u8, past as u8, 1]);
        assert_eq!(sw, Sw::OFFSET_OUT_OF_RANGE);
        let near = (size - 2) as u16;
        let (tail, sw) = send(&mut card, &[0x00, 0xB0, (near >> 8) as u8, near as u8, 10]);
        assert_eq!((tail.len(), sw), (2, Sw::END_OF_FILE));
    }
}

#[test]
fn signature_certificate_needs_the_password() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0001);
    expect(&mut card, "00B0000001", Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(verify(&mut card, 0x001B, "ABC123"), Sw::SUCCESS);
    select_ef(&mut card, 0x0001);
    let header = expect(&mut card, "00B0000004", Sw::SUCCESS);
    let cert = X509::from_der(&read_all(&mut card, der_length(&header))).unwrap();
    let text = String::from_utf8(cert.to_text().unwrap()).unwrap();
    assert!(text.contains("Non Repudiation"), "{text}");
    // The six JPKI otherName entries (spec §9.3).
    let der = cert.to_der().unwrap();
    for last in 1u8..=6 {
        let oid = [0x06, 0x0A, 0x2A, 0x83, 0x08, 0x8C, 0x9B, 0x55, 0x08, 0x05, 0x05, last];
        assert!(der.windows(oid.len()).any(|w| w == oid), "otherName .{last}");
    }
}

#[test]
fn sfi_read_and_read_errors() {
    let mut card = card();
    expect(&mut card, "00B0000001", Sw::NO_CURRENT_EF);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    expect(&mut card, "00B0000001", Sw::NO_CURRENT_EF);
    // SFI 06 = token info; makes it current.
    assert_eq!(expect(&mut card, "00B0860004", Sw::SUCCESS), b"JPKI");
    assert_eq!(expect(&mut card, "00B0000104", Sw::SUCCESS), b"PKIA");
    // Extended Le.
    assert_eq!(expect(&mut card, "00B00000000000", Sw::SUCCESS).len(), 160);
    assert_eq!(expect(&mut card, "00B00000000100", Sw::END_OF_FILE).len(), 160);
    select_ef(&mut card, 0x0018);
    expect(&mut card, "00B0000001", Sw::INCOMPATIBLE_FILE_STRUCTURE);
    select_ef(&mut card, 0x0017);
    expect(&mut card, "00B0000001", Sw::INCOMPATIBLE_FILE_STRUCTURE);
    expect(&mut card, "00A4020C020099", Sw::NOT_FOUND);
    // Unknown objects of real cards: present, never readable.
    select_ef(&mut card, 0x0009);
    expect(&mut card, "00B0000001", Sw::SECURITY_STATUS_NOT_SATISFIED);
    select_ef(&mut card, 0x0016);
    expect(&mut card, "00A4020C0300", Sw::WRONG_LENGTH);
    expect(&mut card, "00B2010C00", Sw::INCOMPATIBLE_FILE_STRUCTURE);
}

#[test]
fn auth_pin_counts_down_locks_and_resets() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0018);
    expect(&mut card, "00200080", Sw::retries_left(3));
    assert_eq!(verify(&mut card, 0x0018, "0000"), Sw::retries_left(2));
    // Empty VERIFY never costs a try.
    expect(&mut card, "00200080", Sw::retries_left(2));
    expect(&mut card, "00200080", Sw::retries_left(2));
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::SUCCESS);
    // Verified: the query still answers 63 Cx (spec §3.5), now with the full counter.
    expect(&mut card, "00200080", Sw::retries_left(3));
    assert_eq!(verify(&mut card, 0x0018, "9999"), Sw::retries_left(2));
    assert_eq!(verify(&mut card, 0x0018, "99999"), Sw::retries_left(1));
    assert_eq!(verify(&mut card, 0x0018, "9999"), Sw::retries_left(0));
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::PIN_BLOCKED);
    expect(&mut card, "00200080", Sw::retries_left(0));
    assert!(card.pin(PinId::AuthPin).is_blocked());
    // Blocked survives power events.
    card.reset();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::PIN_BLOCKED);
    // The sign key still works: the PINs are independent.
    assert_eq!(verify(&mut card, 0x001B, "ABC123"), Sw::SUCCESS);
}

#[test]
fn verify_without_pin_object() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    expect(&mut card, "0020008004 31323334", Sw::NO_CURRENT_EF);
    select_ef(&mut card, 0x0006);
    expect(&mut card, "0020008004 31323334", Sw::NO_CURRENT_EF);
    // VERIFY by SFI (P2 = 80|18).
    expect(&mut card, "0020009804 31323334", Sw::SUCCESS);
}

fn sign(card: &mut mynasim_simulator::Card, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, Sw) {
    let mut apdu = vec![0x80, 0x2A, p1, p2, data.len() as u8];
    apdu.extend_from_slice(data);
    apdu.push(0);
    send(card, &apdu)
}

fn digest_info(message: &[u8]) -> Vec<u8> {
    let mut di = hex("3031300D060960864801650304020105000420");
    di.extend_from_slice(&openssl::sha::sha256(message));
    di
}

fn certificate_key(card: &mut mynasim_simulator::Card, fid: u16) -> openssl::pkey::PKey<openssl::pkey::Public> {
    let der = card.applet(mynasim_simulator::applets::AppletId::Jpki).unwrap().binary(fid).unwrap().to_vec();
    X509::from_der(&der).unwrap().public_key().unwrap()
}

#[test]
fn signing_verifies_with_the_certificate_key() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0017);
    let di = digest_info(b"hello");
    assert_eq!(sign(&mut card, 0x00, 0x80, &di).1, Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::SUCCESS);
    select_ef(&mut card, 0x0017);
    let auth_key = certificate_key(&mut card, jpki::AUTH_CERTIFICATE);
    for _ in 0..2 {
        // The verified state is not consumed by a signature (spec §3.7).
        let (signature, sw) = sign(&mut card, 0x00, 0x80, &di);
        assert_eq!((signature.len(), sw), (256, Sw::SUCCESS));
        let mut v = Verifier::new(MessageDigest::sha256(), &auth_key).unwrap();
        v.update(b"hello").unwrap();
        assert!(v.verify(&signature).unwrap());
    }
    // Every P1 (spec §3.7 table).
    let message = b"message";
    let hash = openssl::sha::sha256(message);
    for (p1, data) in [(1u8, &message[..]), (2, &hash[..]), (3, &message[..]), (4, &hash[..]), (5, &message[..])] {
        let (signature, sw) = sign(&mut card, p1, 0x80, data);
        assert_eq!((signature.len(), sw), (256, Sw::SUCCESS), "P1 {p1}");
        let mut v = Verifier::new(MessageDigest::sha256(), &auth_key).unwrap();
        if p1 >= 4 {
            v.set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS).unwrap();
            v.set_rsa_pss_saltlen(openssl::sign::RsaPssSaltlen::DIGEST_LENGTH).unwrap();
        }
        if p1 == 1 {
            // The bare 32-byte hash under PKCS#1 type-01 padding.
            let rsa = auth_key.rsa().unwrap();
            let mut out = vec![0u8; 256];
            let n = rsa.public_decrypt(&signature, &mut out, openssl::rsa::Padding::PKCS1).unwrap();
            assert_eq!(&out[..n], &hash);
            continue;
        }
        v.update(message).unwrap();
        assert!(v.verify(&signature).unwrap(), "P1 {p1}");
    }
    // P2 = 80|SFI selects the key directly; sign key still needs its own password.
    assert_eq!(sign(&mut card, 0x00, 0x97, &di).1, Sw::SUCCESS);
    assert_eq!(sign(&mut card, 0x00, 0x9A, &di).1, Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(verify(&mut card, 0x001B, "ABC123"), Sw::SUCCESS);
    let (signature, sw) = sign(&mut card, 0x00, 0x9A, &di);
    assert_eq!(sw, Sw::SUCCESS);
    let sign_key = certificate_key(&mut card, jpki::SIGNATURE_CERTIFICATE);
    let mut v = Verifier::new(MessageDigest::sha256(), &sign_key).unwrap();
    v.update(b"hello").unwrap();
    assert!(v.verify(&signature).unwrap());
}

#[test]
fn signing_parameter_errors() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::SUCCESS);
    select_ef(&mut card, 0x0006);
    assert_eq!(sign(&mut card, 0x00, 0x80, &[1; 51]).1, Sw::NO_CURRENT_EF);
    select_ef(&mut card, 0x0017);
    assert_eq!(sign(&mut card, 0x06, 0x80, &[1; 51]).1, Sw::INCORRECT_P1P2);
    assert_eq!(sign(&mut card, 0x00, 0x00, &[1; 51]).1, Sw::INCORRECT_P1P2);
    assert_eq!(sign(&mut card, 0x00, 0x80, &[1; 246]).1, Sw::WRONG_LENGTH);
    assert_eq!(sign(&mut card, 0x00, 0x80, &[1; 245]).1, Sw::SUCCESS);
    assert_eq!(sign(&mut card, 0x02, 0x80, &[1; 31]).1, Sw::CONDITIONS_NOT_SATISFIED);
    expect(&mut card, "802A008000", Sw::WRONG_LENGTH);
}

#[test]
fn security_status_lifetime() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::SUCCESS);
    // EF selects and re-selecting the same AP keep it (spec §3.8).
    select_ef(&mut card, 0x000A);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    expect(&mut card, "00A4040C0AD392F000260100000099", Sw::NOT_FOUND);
    select_ef(&mut card, 0x0017);
    assert_eq!(sign(&mut card, 0x00, 0x80, &digest_info(b"x")).1, Sw::SUCCESS);
    // Another AP clears it.
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0017);
    assert_eq!(sign(&mut card, 0x00, 0x80, &digest_info(b"x")).1, Sw::SECURITY_STATUS_NOT_SATISFIED);
    // A failed VERIFY clears it too.
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x0018, "0000"), Sw::retries_left(2));
    select_ef(&mut card, 0x0017);
    assert_eq!(sign(&mut card, 0x00, 0x80, &digest_info(b"x")).1, Sw::SECURITY_STATUS_NOT_SATISFIED);
    // Power off clears everything.
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::SUCCESS);
    card.reset();
    expect(&mut card, "00A4020C020017", Sw::NOT_FOUND);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0017);
    assert_eq!(sign(&mut card, 0x00, 0x80, &digest_info(b"x")).1, Sw::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn change_reference_data() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0018);
    expect(&mut card, "0024018004 35363738", Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::SUCCESS);
    expect(&mut card, "0024018003 353637", Sw::INCORRECT_DATA);
    expect(&mut card, "0024008004 35363738", Sw::INCORRECT_P1P2);
    expect(&mut card, "8032008004 35363738", Sw::INS_NOT_SUPPORTED);
    expect(&mut card, "0024018004 35363738", Sw::SUCCESS);
    assert!(card.take_state_changed());
    assert_eq!(verify(&mut card, 0x0018, "1234"), Sw::retries_left(2));
    assert_eq!(verify(&mut card, 0x0018, "5678"), Sw::SUCCESS);
    // Password format: lower case refused.
    assert_eq!(verify(&mut card, 0x001B, "ABC123"), Sw::SUCCESS);
    expect(&mut card, "0024018006 616263313233", Sw::INCORRECT_DATA);
    expect(&mut card, "0024018006 58595A393837", Sw::SUCCESS);
}

#[test]
fn generic_errors_never_panic() {
    let mut card = card();
    expect(&mut card, "00FF0000", Sw::INS_NOT_SUPPORTED);
    expect(&mut card, "A0A4040C00", Sw::CLA_NOT_SUPPORTED);
    expect(&mut card, "01A4040C0AD392F00026010000000001", Sw::LOGICAL_CHANNEL_UNSUPPORTED);
    expect(&mut card, "0CA4040C0AD392F00026010000000001", Sw::SECURE_MESSAGING_UNSUPPORTED);
    expect(&mut card, "10A4040C0AD392F00026010000000001", Sw::CHAINING_UNSUPPORTED);
    expect(&mut card, "00A4040C04D392F000", Sw::SUCCESS); // partial AID
    expect(&mut card, "08B0000001", Sw::SM_NO_SESSION);
    expect(&mut card, "00A40F0C00", Sw::INCORRECT_P1P2);
    for bad in ["", "00", "00A4", "00A404", "00A4040C0AD392", "00A4040C0000"] {
        let (_, sw) = send(&mut card, &hex(bad));
        assert_eq!(sw, Sw::WRONG_LENGTH, "{bad}");
    }
    // A pseudo-random stream of APDUs: always exactly one status word at the end.
    let mut state = 0x1234_5678u32;
    for _ in 0..20_000 {
        let mut apdu = Vec::new();
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state % 24) as usize;
        for i in 0..len {
            apdu.push((state.rotate_left(i as u32 * 3) & 0xFF) as u8);
        }
        if len >= 2 && state.is_multiple_of(3) {
            apdu[0] = [0x00, 0x80][(state % 2) as usize];
            apdu[1] = [0xA4, 0xB0, 0x20, 0x24, 0x2A, 0x84, 0x88, 0xB2, 0xCA, 0x32][(state % 10) as usize];
        }
        let response = card.transmit(&apdu);
        assert!(response.len() >= 2);
    }
}

#[test]
fn absent_signature_certificate() {
    let mut card = card_from("holder:\n  birth_date: 2015-06-01\ncard:\n  issued: 2025-01-10\n");
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    expect(&mut card, "00A4020C020001", Sw::NOT_FOUND);
    expect(&mut card, "00A4020C02001A", Sw::NOT_FOUND);
    select_ef(&mut card, 0x001B);
    expect(&mut card, "00200080", Sw::retries_left(5));
    select_ef(&mut card, 0x0008);
    assert_eq!(expect(&mut card, "00B0000003", Sw::SUCCESS), [0x00, 0x8F, 0x00]);
}

#[test]
fn profile_counters_apply() {
    let mut card = card_from("pins:\n  sign:\n    remaining: 1\n  auth:\n    remaining: 0\n");
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x001B);
    expect(&mut card, "00200080", Sw::retries_left(1));
    select_ef(&mut card, 0x0018);
    expect(&mut card, "00200080", Sw::retries_left(0));
    expect(&mut card, "0020008004 31323334", Sw::PIN_BLOCKED);
}

#[test]
fn persistent_state_round_trip() {
    let mut card = card();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x0018, "0000"), Sw::retries_left(2));
    assert!(card.take_state_changed());
    assert!(!card.take_state_changed());
    let state = card.persistent_state();
    let mut fresh = common::card();
    fresh.restore(&state).unwrap();
    assert_eq!(fresh.pin(PinId::AuthPin).remaining, 2);
    let mut other = card_from("seed: other");
    assert!(other.restore(&state).unwrap_err().contains("belongs to card"));
}

#[test]
fn same_seed_same_card_same_signatures() {
    let yaml = "seed: determinism\ncard:\n  issued: 2025-02-03\n";
    let (mut a, mut b) = (card_from(yaml), card_from(yaml));
    for applet in a.applets() {
        let other = b.applet(applet.id).unwrap();
        assert_eq!(applet.files, other.files, "{:?}", applet.id);
    }
    let mut signatures = Vec::new();
    for card in [&mut a, &mut b] {
        expect(card, SELECT_JPKI, Sw::SUCCESS);
        assert_eq!(verify(card, 0x0018, "1234"), Sw::SUCCESS);
        select_ef(card, 0x0017);
        signatures.push(sign(card, 0x00, 0x80, &digest_info(b"same")).0);
    }
    assert_eq!(signatures[0], signatures[1]);
    assert_ne!(
        card_from("seed: another").applet(mynasim_simulator::applets::AppletId::Jpki).unwrap().files,
        a.applet(mynasim_simulator::applets::AppletId::Jpki).unwrap().files
    );
}
