//! jpki-cli (crates.io `jpki-cli`, siketyan/jpki-rs) against the card through a private
//! pcscd, driven through a pseudo-terminal (spec §8.4).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use mynasim_harness::clients::JpkiCli;
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;
use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};
use mynasim_simulator::applets::{jpki, AppletId};

const PROFILE: &str = "jpki-cli.yaml";

fn profile() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/profiles").join(PROFILE)
}

fn start() -> (Sandbox, JpkiCli) {
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![CardSource::Profile(Some(profile()))];
    let sandbox = Sandbox::start(&options).unwrap();
    let cli = JpkiCli::new(sandbox.socket()).unwrap();
    (sandbox, cli)
}

fn card_file(fid: u16) -> Vec<u8> {
    let card = load_card(Some(&profile()), &mut DirKeyCache::default_location()).unwrap();
    card.card.applet(AppletId::Jpki).unwrap().binary(fid).unwrap().to_vec()
}

#[test]
fn reads_certificates() {
    let (_sandbox, cli) = start();
    assert_eq!(cli.run(&["crypto", "-a", "read-certificate"]).unwrap(), card_file(jpki::AUTH_CERTIFICATE));
    assert_eq!(cli.run(&["crypto", "-a", "-c", "read-certificate"]).unwrap(), card_file(jpki::AUTH_CA_CERTIFICATE));
    assert_eq!(cli.run(&["crypto", "-c", "read-certificate"]).unwrap(), card_file(jpki::SIGNATURE_CA_CERTIFICATE));
    let sign = cli.run_with_pin(&["crypto", "read-certificate"], "SIMPASS7", None).unwrap();
    assert_eq!(sign, card_file(jpki::SIGNATURE_CERTIFICATE));
}

#[test]
fn signs_with_both_keys_and_openssl_verifies() {
    let (_sandbox, cli) = start();
    let work = tempfile::tempdir().unwrap();
    let text = b"a document signed by jpki-cli through mynasim";
    let document = work.path().join("document.txt");
    std::fs::write(&document, text).unwrap();
    for (auth, pin, fid) in [(true, "4321", jpki::AUTH_CERTIFICATE), (false, "SIMPASS7", jpki::SIGNATURE_CERTIFICATE)] {
        let signature = work.path().join(format!("signature-{auth}.bin"));
        let mut args = vec!["crypto"];
        if auth {
            args.push("-a");
        }
        args.extend(["sign", signature.to_str().unwrap()]);
        cli.run_with_pin(&args, pin, Some(text)).unwrap();
        let public = openssl::x509::X509::from_der(&card_file(fid)).unwrap().public_key().unwrap().public_key_to_pem().unwrap();
        let public_path = work.path().join("public.pem");
        std::fs::write(&public_path, public).unwrap();
        // jpki-cli signs a SHA-1 DigestInfo (spec §8.4).
        let verified = Command::new("openssl")
            .args(["dgst", "-sha1", "-verify"])
            .arg(&public_path)
            .arg("-signature")
            .arg(&signature)
            .arg(&document)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&verified.stdout).trim(), "Verified OK", "{}", String::from_utf8_lossy(&verified.stderr));
    }
}

#[test]
fn stat_prints_tries_left_and_a_wrong_pin_costs_one() {
    let (_sandbox, cli) = start();
    assert_eq!(String::from_utf8(cli.run(&["crypto", "-a", "stat"]).unwrap()).unwrap().trim(), "3");
    assert_eq!(String::from_utf8(cli.run(&["crypto", "stat"]).unwrap()).unwrap().trim(), "5");
    let work = tempfile::tempdir().unwrap();
    let signature = work.path().join("signature.bin");
    let err = cli.run_with_pin(&["crypto", "-a", "sign", signature.to_str().unwrap()], "0000", Some(b"x")).unwrap_err();
    assert!(!signature.exists(), "{err:#}");
    // One wrong PIN costs jpki-cli two tries: jpki-rs transmits with a 0-byte receive
    // buffer when a command has no Le, pcsc-lite answers "insufficient buffer" after the
    // card has run the command, and jpki-rs sends it again (visible in the transcript:
    // every VERIFY appears twice). A real card loses two tries the same way.
    assert_eq!(String::from_utf8(cli.run(&["crypto", "-a", "stat"]).unwrap()).unwrap().trim(), "1");
    assert_eq!(String::from_utf8(cli.run(&["support", "stat"]).unwrap()).unwrap().trim(), "3");
}

#[test]
fn text_ap_my_number_and_attributes() {
    let (_sandbox, cli) = start();
    let number = cli.run_with_pin(&["support", "get", "my-number"], "4321", None).unwrap();
    assert_eq!(String::from_utf8(number).unwrap().trim(), "314159265352");
    let attributes = String::from_utf8(cli.run_with_pin(&["support", "get", "attributes"], "4321", None).unwrap()).unwrap();
    for expected in ["試験\u{3000}一郎", "大阪府大阪市北区試験町４－５－６", "19900315"] {
        assert!(attributes.contains(expected), "{expected} missing from {attributes}");
    }
}

#[test]
fn surface_fields_with_collation_numbers() {
    let (_sandbox, cli) = start();
    let name = cli.run_with_pin(&["surface", "get", "name"], "314159265352", None).unwrap();
    assert!(name.starts_with(&[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "{:02X?}", &name[..name.len().min(16)]);
    let photo = cli.run_with_pin(&["surface", "get", "photo"], "314159265352", None).unwrap();
    assert!(mynasim_simulator::images::is_jp2(&photo));
    // 照合番号B: 平成2年3月15日 → 020315, expiry year 2034, security code 9876.
    let birth = cli.run_with_pin(&["surface", "get", "date-of-birth"], "02031520349876", None).unwrap();
    assert_eq!(birth, b"19900315");
    let expiry = cli.run_with_pin(&["surface", "get", "expiry-date"], "02031520349876", None).unwrap();
    assert_eq!(expiry, b"20340315");
}
