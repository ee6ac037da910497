//! The MF level (spec §13.1–§13.3) as a client library written against real cards reads it:
//! myna-card 3.3.4, unmodified, in process (its `Transmit` over the simulator's `Card`). It
//! selects the Issuer Security Domain, reads the GET DATA objects with its short-then-extended
//! Le, parses both CV certificates with its own parser and verifies the chain from the key
//! `mynasim export` writes; its contact-ATR reader checks TCK.

#![allow(clippy::unwrap_used)]

use myna_card::ap::jpki::JpkiAp;
use myna_card::data::RsaPublicKey;
use myna_card::mf::{tag, MasterFile};
use myna_card::{CardVerifiableCertificate, Transmit};
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card_read_only;

struct InProcess(mynasim_simulator::Card);

impl Transmit for InProcess {
    fn transmit(&mut self, command: &[u8]) -> myna_card::Result<Vec<u8>> {
        Ok(self.0.transmit(command))
    }
}

/// The card of `yaml`, and the MF CV CA key it is checked against, parsed by myna-card from
/// the card's own encoding (the content of `mf-cv-ca.pub.bin`).
fn card(yaml: &str) -> (myna_card::Card<InProcess>, RsaPublicKey) {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("card.yaml");
    std::fs::write(&profile, yaml).unwrap();
    let loaded = load_card_read_only(Some(&profile), &mut DirKeyCache::default_location()).unwrap();
    let root = RsaPublicKey::parse(&loaded.card.isd().root_public_key).unwrap();
    (myna_card::Card::new(InProcess(loaded.card)), root)
}

const PROFILE: &str = "holder:\n  municipality_code: '13221'\ncard:\n  serial: '400000012719843'\n  expires: 2035-02-17\n";

#[test]
fn myna_card_reads_and_verifies_the_mf_level() {
    let (mut card, root) = card(PROFILE);
    // From an AP: MasterFile::select goes back through the ISD's AID.
    JpkiAp::select(&mut card).unwrap();
    let mut mf = MasterFile::select(&mut card).unwrap();
    assert_eq!(mf.data_object(tag::CARD_IDENTIFICATION).unwrap(), b"400000012719843");
    assert_eq!(mf.data_object(tag::MUNICIPALITY_CODE).unwrap(), b"13221");
    assert_eq!(mf.data_object(tag::EXPIRY).unwrap(), b"20350217");
    assert_eq!(mf.data_object(tag::ISSUER_IDENTIFICATION).unwrap().len(), 16);
    let intermediate = mf.data_object(tag::INTERMEDIATE_KEY_ID).unwrap();
    let chain = mf.certificate_chain().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0].issuer_key_id.to_string(), "6000020/001");
    assert_eq!(chain[0].subject_key_id.to_string(), "1322130/002");
    assert_eq!(chain[1].issuer_key_id, chain[0].subject_key_id);
    assert_eq!(chain[1].subject_key_id.to_string(), "0000050/001");
    assert_eq!(chain[0].subject_key_id.as_bytes()[..], intermediate[..]);
    chain[0].verify_with(&root).unwrap();
    chain[1].verify_with(&chain[0].public_key).unwrap();
    assert!(chain[1].verify_with(&root).is_err());
    // The test root is not a J-LIS key: the library's own CA table does not know it.
    assert!(matches!(CardVerifiableCertificate::verify_chain(&chain), Err(myna_card::Error::UnknownCertificateAuthority(_))));
    // 5F51 through the library's reader (TS restored, TCK checked), here and in an AP.
    let contact = mynasim_simulator::profile::ATR_CONTACT;
    assert_eq!(card.contact_atr().unwrap(), contact);
    JpkiAp::select(&mut card).unwrap();
    assert_eq!(card.contact_atr().unwrap(), contact);
    // In an AP the MF objects are absent.
    assert!(matches!(card.get_data(tag::CARD_IDENTIFICATION), Err(myna_card::Error::Status(sw)) if sw.value() == 0x6A88));
}

#[test]
fn without_7f21_the_chain_is_the_upper_certificate_alone() {
    let (mut card, root) = card("mf:\n  certificate_7f21: false\natr: contactless\ncontact_atr: opensc\n");
    let chain = MasterFile::new(&mut card).certificate_chain().unwrap();
    assert_eq!(chain.len(), 1);
    chain[0].verify_with(&root).unwrap();
    assert_eq!(card.contact_atr().unwrap(), mynasim_simulator::profile::ATR_OPENSC);
}
