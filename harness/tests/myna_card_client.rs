//! A public client library written against real cards, unmodified, through pcscd + vpcd:
//! myna-card 3.3.4 (the survey behind spec §13). It reads every application the way its
//! `read_card` example does, checks every signature it can, and the values must be the
//! profile's.
//!
//! One test: pcsc-lite reads `PCSCLITE_CSOCK_NAME` once per process.

#![allow(clippy::unwrap_used)]

use myna_card::ap::jpki::{SignatureScheme, TokenType};
use myna_card::ap::{common::CommonAp, jpki::JpkiAp, surface::SurfaceAp, text::TextAp};
use myna_card::data::RsaPublicKey;
use myna_card::mf::{tag, MasterFile};
use myna_card::transport::pcsc::{self, Sharing};
use myna_card::{Certificate, Pin, Retries};
use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};

const PROFILE: &str = "\
holder:
  name: \"見本　花子\"
  address: \"東京都千代田区見本町一丁目２番３号\"
  birth_date: 1985-04-01
  my_number: \"123456789018\"
  municipality_code: \"13221\"
card:
  serial: \"400000012719843\"
  expires: 2035-04-01
  security_code: \"4321\"
pins:
  auth: { value: \"2580\" }
  sign: { value: \"SIGN2580\" }
";

/// The MF CV CA's public key as `mynasim export` writes it (the card's `90`/`91` record).
fn exported_mf_cv_ca_key(profile: &std::path::Path, dir: &std::path::Path) -> RsaPublicKey {
    let out = dir.join("export");
    let status =
        std::process::Command::new(env!("CARGO_BIN_EXE_mynasim")).args(["export", "--profile"]).arg(profile).arg(&out).status().unwrap();
    assert!(status.success());
    RsaPublicKey::parse(&std::fs::read(out.join(mynasim_harness::export::MF_CV_CA_RECORD)).unwrap()).unwrap()
}

#[test]
fn myna_card_reads_and_signs_everything_through_pcscd() {
    let dir = tempfile::tempdir().unwrap();
    let profile_path = dir.path().join("card.yaml");
    std::fs::write(&profile_path, PROFILE).unwrap();
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![CardSource::Profile(Some(profile_path.clone()))];
    let sandbox = Sandbox::start(&options).unwrap();
    std::env::set_var("PCSCLITE_CSOCK_NAME", sandbox.socket());
    let mut card = pcsc::connect_any(Sharing::Exclusive).unwrap();

    // The MF level (spec §13.1–13.3), as the library's `read_card` starts: a power cycle
    // (SCARD_UNPOWER_CARD and a throw-away command), then GET DATA with the ISD current.
    card.transport_mut().power_cycle().unwrap();
    {
        let mut mf = MasterFile::new(&mut card);
        assert_eq!(mf.data_object(tag::CARD_IDENTIFICATION).unwrap(), b"400000012719843");
        assert_eq!(mf.data_object(tag::MUNICIPALITY_CODE).unwrap(), b"13221");
        assert_eq!(mf.data_object(tag::EXPIRY).unwrap(), b"20350401");
        // The chain: 00F8 (the root certifies the intermediate) verifies under the key
        // `mynasim export` hands out, 7F21 under the key 00F8 certifies.
        let chain = mf.certificate_chain().unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].issuer_key_id.number(), "6000020");
        assert_eq!(chain[1].issuer_key_id, chain[0].subject_key_id);
        chain[0].verify_with(&exported_mf_cv_ca_key(&profile_path, dir.path())).unwrap();
        chain[1].verify_with(&chain[0].public_key).unwrap();
        assert_eq!(mf.data_object(tag::INTERMEDIATE_KEY_ID).unwrap(), chain[0].subject_key_id.as_bytes());
    }
    // 5F51: the contact ATR, checked by the library (TS prepended, TCK verified).
    assert_eq!(card.contact_atr().unwrap(), mynasim_simulator::profile::ATR_CONTACT);

    // 共通カードAP: the card info record.
    {
        let mut common = CommonAp::select(&mut card).unwrap();
        let info = common.read_card_info().unwrap();
        assert_eq!(info.serial, "400000012719843");
        assert_eq!(info.municipality_code, "13221");
        assert_eq!(info.prefecture_code(), "13");
        assert_eq!(info.expiry.to_string(), "2035-04-01");
    }

    // 券面入力補助AP: the PIN opens the 個人番号 and the 基本4情報, the integrity record
    // ties them together under the key the AP's CV certificate certifies.
    {
        let mut text = TextAp::select(&mut card).unwrap();
        let certificate = text.read_certificate().unwrap();
        text.verify_pin(&Pin::numeric("2580").unwrap()).unwrap();
        text.read_signed_public_key().unwrap().verify(&certificate.public_key).unwrap();
        assert_eq!(text.read_my_number().unwrap().as_str(), "123456789018");
        let attributes = text.read_attributes().unwrap();
        assert_eq!(attributes.name, "見本　花子");
        assert_eq!(attributes.address, "東京都千代田区見本町一丁目２番３号");
        let integrity = text.read_integrity_record().unwrap();
        integrity.verify(&certificate.public_key).unwrap();
        assert!(integrity.matches_my_number_file(&text.read_my_number_file().unwrap()));
        let attributes_file = text.read_ef(myna_card::ap::text::ef::ATTRIBUTES).unwrap();
        assert!(integrity.matches_attributes_file(&attributes_file).unwrap());
    }

    // 券面事項確認AP: the birth-date key opens the age record, 照合番号A the card face and
    // the 個人番号 image, each signed; the card key signs a fresh challenge.
    {
        let mut surface = SurfaceAp::select(&mut card).unwrap();
        let issuer = surface.read_certificate().unwrap().public_key;
        assert_eq!(surface.read_ap_basic_data().unwrap().municipality_code, "13221");
        surface.verify_birth_date(&Pin::numeric("600401").unwrap()).unwrap();
        let age = surface.read_age_record().unwrap();
        age.verify(&issuer).unwrap();
        assert_eq!(age.birth_date.to_string(), "1985-04-01");
        surface.verify_code_a(&Pin::numeric("123456789018").unwrap()).unwrap();
        let face = surface.read_card_face().unwrap();
        face.verify(&issuer).unwrap();
        assert_eq!(face.expiry.to_string(), "2035-04-01");
        surface.read_my_number_image().unwrap().verify(&issuer).unwrap();
        let challenge = surface.card().get_challenge(16).unwrap();
        let signature = surface.sign(&challenge).unwrap();
        SignatureScheme::Sha256DigestInfo.verify(&face.public_key, &challenge, &signature).unwrap();
    }

    // 公的個人認証AP: a physical card's token, both certificates chained to the card's CAs,
    // PIN counters, and both keys signing what the certificates' keys verify.
    {
        let mut jpki = JpkiAp::select(&mut card).unwrap();
        assert_eq!(jpki.read_token_type().unwrap(), TokenType::Card);
        let availability = jpki.read_certificate_availability().unwrap();
        assert!(availability.has_auth_certificate() && availability.has_sign_certificate());
        let auth = [jpki.read_auth_certificate().unwrap(), jpki.read_auth_ca_certificate().unwrap()];
        let (issued, _) = auth[0].validity();
        Certificate::verify_chain(&auth, issued).unwrap();
        assert_eq!(jpki.auth_pin_retries().unwrap(), Retries::Remaining(3));
        assert_eq!(jpki.sign_pin_retries().unwrap(), Retries::Remaining(5));

        jpki.verify_auth_pin(&Pin::numeric("2580").unwrap()).unwrap();
        let message = b"myna-card through pcscd";
        for scheme in [SignatureScheme::Sha256DigestInfo, SignatureScheme::Sha256Pss] {
            let signature = jpki.sign_with_auth_key(scheme, message).unwrap();
            scheme.verify(&auth[0].public_key().unwrap(), message, &signature).unwrap();
        }

        jpki.verify_sign_pin(&Pin::new("SIGN2580").unwrap()).unwrap();
        let sign = [jpki.read_sign_certificate().unwrap(), jpki.read_sign_ca_certificate().unwrap()];
        Certificate::verify_chain(&sign, issued).unwrap();
        let signature = jpki.sign_with_sign_key(SignatureScheme::Sha256DigestInfo, message).unwrap();
        SignatureScheme::Sha256DigestInfo.verify(&sign[0].public_key().unwrap(), message, &signature).unwrap();

        // A wrong PIN costs a try, and the library reports it as the card says.
        let wrong = jpki.verify_auth_pin(&Pin::numeric("0000").unwrap()).unwrap_err();
        assert!(matches!(wrong, myna_card::Error::PinIncorrect { .. }), "{wrong:?}");
        assert_eq!(jpki.auth_pin_retries().unwrap(), Retries::Remaining(2));
        jpki.verify_auth_pin(&Pin::numeric("2580").unwrap()).unwrap();
    }

    // Selecting the ISD (the library's way back to a clean state without a power cycle)
    // restores the MF objects and clears the JPKI AP's security status.
    {
        let mut mf = MasterFile::select(&mut card).unwrap();
        assert_eq!(mf.data_object(tag::MUNICIPALITY_CODE).unwrap(), b"13221");
    }
    let mut jpki = JpkiAp::select(&mut card).unwrap();
    let refused = jpki.sign_with_auth_key(SignatureScheme::Sha256DigestInfo, b"after the ISD").unwrap_err();
    assert!(matches!(refused, myna_card::Error::Status(sw) if sw.value() == 0x6982), "{refused:?}");
}
