//! Real clients through the real stack (pcscd + vpcd + the card process): each check of
//! `mynasim check` on a sandbox of its own, plus client-specific behaviour.
//! Needs pcscd, vsmartcard-vpcd, opensc, openssl and jpki-cli (ci/setup.sh installs them).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use mynasim_harness::checks::{self, CheckContext, CHECKS};
use mynasim_harness::clients::JpkiCli;
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;
use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};

fn profile(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profiles").join(name)
}

fn sandbox(profile: Option<PathBuf>) -> Sandbox {
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![CardSource::Profile(profile)];
    Sandbox::start(&options).unwrap()
}

/// Runs the check named `name` against the default card.
fn check(name: &str) {
    let (_, run) = CHECKS.iter().find(|(n, _)| *n == name).unwrap();
    let sandbox = sandbox(None);
    let twin = load_card(None, &mut DirKeyCache::default_location()).unwrap();
    let cx = CheckContext { sandbox: &sandbox, card: &twin, work: tempfile::tempdir().unwrap() };
    if let Err(e) = run(&cx) {
        panic!("{name}: {e:#}\nsandbox log:\n{}", sandbox.log());
    }
}

#[test]
fn every_check_has_a_test() {
    let source = include_str!("real_clients.rs");
    for (name, _) in CHECKS {
        assert!(source.contains(&format!("check({name:?})")), "no test runs the check {name:?}");
    }
}

#[test]
fn opensc_lists_the_card() {
    check("opensc-tool -l lists the reader with the card");
}

#[test]
fn opensc_names_the_card() {
    check("opensc-tool -n names the card jpki");
}

#[test]
fn pkcs15_lists_objects() {
    check("pkcs15-tool -D lists the four certificates and both PINs with their tries");
}

#[test]
fn pkcs15_reads_the_certificate() {
    check("pkcs15-tool --read-certificate gives the card's certificate");
}

#[test]
fn pkcs11_auth_signature() {
    check("pkcs11-tool signs with the auth key, openssl verifies");
}

#[test]
fn pkcs11_signature_key() {
    check("pkcs11-tool signs with the signature key, openssl verifies");
}

#[test]
fn jpki_cli_certificates() {
    check("jpki-cli reads the four certificates");
}

#[test]
fn jpki_cli_signatures() {
    check("jpki-cli signs with both keys, openssl verifies");
}

#[test]
fn jpki_cli_stat() {
    check("jpki-cli stat prints the tries left");
}

#[test]
fn jpki_cli_text_ap() {
    check("jpki-cli reads the My Number and the attributes");
}

#[test]
fn jpki_cli_surface_ap() {
    check("jpki-cli reads the card face with 照合番号A and B");
}

#[test]
fn wrong_pins_lock() {
    check("three wrong PINs lock the auth PIN, OpenSC reports it");
}

#[test]
fn locked_profile_is_reported_by_opensc() {
    let sandbox = sandbox(Some(profile("auth-pin-locked.yaml")));
    let dump = sandbox.command("pkcs15-tool").arg("-D").output().unwrap();
    assert_eq!(checks::pkcs15_tries(&String::from_utf8_lossy(&dump.stdout)), [0, 5]);
}

#[test]
fn one_wrong_pin_costs_jpki_cli_two_tries() {
    let sandbox = sandbox(None);
    let cli = JpkiCli::new(sandbox.socket()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let signature = work.path().join("signature.bin");
    let err = cli.run_with_pin(&["crypto", "-a", "sign", signature.to_str().unwrap()], "0000", Some(b"x")).unwrap_err();
    assert!(!signature.exists(), "{err:#}");
    // jpki-rs transmits with a 0-byte receive buffer when a command has no Le; pcsc-lite
    // answers "insufficient buffer" after the card has run the command, and jpki-rs sends
    // it again: every VERIFY reaches the card twice. A real card loses two tries the same way.
    assert_eq!(String::from_utf8(cli.run(&["crypto", "-a", "stat"]).unwrap()).unwrap().trim(), "1");
}
