//! Shared test helpers: a card issued from a YAML profile with keys cached on disk, and
//! APDU helpers that check status words.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use mynasim_simulator::pki::KeyCache;
use mynasim_simulator::profile::Profile;
use mynasim_simulator::{issue, Card, Sw};
use rand_core::SeedableRng;

/// The fixed "today" of the tests.
pub const TODAY: time::Date = time::macros::date!(2026 - 11 - 23);

/// Keys cached under the target directory, so each test process does not regenerate them.
pub struct DirCache(PathBuf);

impl KeyCache for DirCache {
    fn load(&mut self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.0.join(name)).ok()
    }

    fn store(&mut self, name: &str, der: &[u8]) {
        let _ = std::fs::create_dir_all(&self.0);
        let tmp = self.0.join(format!("{name}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, der).is_ok() {
            let _ = std::fs::rename(&tmp, self.0.join(name));
        }
    }
}

pub fn cache() -> DirCache {
    DirCache(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mynasim-keys"))
}

pub fn card_from(yaml: &str) -> Card {
    let personalization = Profile::from_yaml(yaml, "test.yaml").unwrap().resolve(TODAY, "test.yaml").unwrap();
    issue::issue(&personalization, &mut cache(), Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(7))).unwrap()
}

pub fn card() -> Card {
    card_from("")
}

pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

/// Sends an APDU and returns (data, SW).
pub fn send(card: &mut Card, apdu: &[u8]) -> (Vec<u8>, Sw) {
    let mut response = card.transmit(apdu);
    let sw = Sw::from_response(&response).unwrap();
    response.truncate(response.len() - 2);
    (response, sw)
}

/// Sends an APDU written in hex and asserts the SW.
#[track_caller]
pub fn expect(card: &mut Card, apdu: &str, sw: Sw) -> Vec<u8> {
    let (data, got) = send(card, &hex(apdu));
    assert_eq!(got, sw, "APDU {apdu}");
    data
}

pub const SELECT_JPKI: &str = "00A4040C0AD392F000260100000001";
pub const SELECT_TEXT: &str = "00A4040C0AD3921000310001010408";
pub const SELECT_SURFACE: &str = "00A4040C0AD3921000310001010402";
pub const SELECT_COMMON: &str = "00A4040C0AD3921000310001010100";
pub const SELECT_JUKI: &str = "00A4040C0AD3921000310001010401";

pub fn select_ef(card: &mut Card, fid: u16) {
    expect(card, &format!("00A4020C02{fid:04X}"), Sw::SUCCESS);
}

pub fn verify(card: &mut Card, fid: u16, value: &str) -> Sw {
    select_ef(card, fid);
    let mut apdu = hex("00200080");
    apdu.push(value.len() as u8);
    apdu.extend_from_slice(value.as_bytes());
    send(card, &apdu).1
}

/// Reads a whole EF the way jpki-rs does: 7-byte header, then Le=00 chunks from 0.
pub fn read_all(card: &mut Card, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let remaining = len - out.len();
        let le = if remaining > 255 { 0 } else { remaining as u8 };
        let offset = out.len() as u16;
        let apdu = [0x00, 0xB0, (offset >> 8) as u8, offset as u8, le];
        let (data, sw) = send(card, &apdu);
        assert_eq!(sw, Sw::SUCCESS);
        out.extend_from_slice(&data);
    }
    out
}

/// A public key from the 券面 APs' `90 03 01 00 01 91 82 01 00 <n>` record.
pub fn key_from_record(record: &[u8]) -> openssl::pkey::PKey<openssl::pkey::Public> {
    assert_eq!(record[..9], [0x90, 0x03, 0x01, 0x00, 0x01, 0x91, 0x82, 0x01, 0x00]);
    let n = openssl::bn::BigNum::from_slice(&record[9..265]).unwrap();
    let e = openssl::bn::BigNum::from_u32(65_537).unwrap();
    openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::from_public_components(n, e).unwrap()).unwrap()
}

/// Verifies an RSASSA-PKCS1-v1_5 / SHA-256 signature.
pub fn verifies(key: &openssl::pkey::PKey<openssl::pkey::Public>, data: &[u8], signature: &[u8]) -> bool {
    let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), key).unwrap();
    v.update(data).unwrap();
    v.verify(signature).unwrap()
}

/// Reads an EF the jpki/myna way: 7 bytes, decode the BER header, the rest from offset 7.
pub fn read_tlv_file(card: &mut mynasim_simulator::Card) -> Vec<u8> {
    let mut data = expect(card, "00B0000007", Sw::SUCCESS);
    let (len, header) = match data[2] {
        0x81 => (usize::from(data[3]), 4),
        0x82 => (usize::from(u16::from_be_bytes([data[3], data[4]])), 5),
        n => (usize::from(n), 3),
    };
    while data.len() < header + len {
        let off = data.len() as u16;
        let le = (header + len - data.len()).min(256);
        let (chunk, sw) = send(card, &[0x00, 0xB0, (off >> 8) as u8, off as u8, le as u8]);
        assert_eq!(sw, Sw::SUCCESS);
        data.extend_from_slice(&chunk);
    }
    data.truncate(header + len);
    data
}
