//! Real clients through the real stack: a private pcscd with vpcd and the card process,
//! driven by OpenSC (opensc-tool, pkcs15-tool, pkcs11-tool), openssl and the `pcsc` crate.
//! Needs the Debian packages pcscd, vsmartcard-vpcd, opensc and openssl (ci/setup.sh).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;
use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};
use mynasim_simulator::applets::{jpki, AppletId};

const PKCS11_MODULE: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profiles")
}

fn sandbox(profile: Option<&str>) -> Sandbox {
    let mut options = SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"));
    options.cards = vec![CardSource::Profile(profile.map(|p| profiles_dir().join(p)))];
    Sandbox::start(&options).unwrap()
}

fn run(sandbox: &Sandbox, program: &str, args: &[&str]) -> Output {
    let output = sandbox.command(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}\nsandbox log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        sandbox.log()
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn opensc_lists_the_reader_and_names_the_card() {
    let sandbox = sandbox(None);
    let list = stdout(&run(&sandbox, "opensc-tool", &["-l"]));
    assert!(list.lines().any(|l| l.contains("Yes") && l.contains("Virtual PCD 00 00")), "{list}");
    let name = stdout(&run(&sandbox, "opensc-tool", &["-n"]));
    assert_eq!(name.trim(), "jpki");
}

#[test]
fn pkcs15_lists_certificates_and_pins_and_reads_the_certificate() {
    let sandbox = sandbox(None);
    let dump = stdout(&run(&sandbox, "pkcs15-tool", &["-D"]));
    for label in [
        "X.509 Certificate [User Authentication Certificate]",
        "X.509 Certificate [Digital Signature Certificate]",
        "X.509 Certificate [User Authentication Certificate CA]",
        "X.509 Certificate [Digital Signature Certificate CA]",
        "PIN [User Authentication PIN]",
        "PIN [Digital Signature PIN]",
    ] {
        assert!(dump.contains(label), "missing {label}:\n{dump}");
    }
    let tries: Vec<&str> = dump.lines().filter(|l| l.contains("Tries left")).map(str::trim).collect();
    assert_eq!(tries, ["Tries left     : 3", "Tries left     : 5"], "{dump}");

    let pem = stdout(&run(&sandbox, "pkcs15-tool", &["--read-certificate", "01"]));
    let read = openssl::x509::X509::from_pem(pem.as_bytes()).unwrap().to_der().unwrap();
    let card = load_card(None, &mut DirKeyCache::default_location()).unwrap();
    let expected = card.card.applet(AppletId::Jpki).unwrap().binary(jpki::AUTH_CERTIFICATE).unwrap().to_vec();
    assert_eq!(read, expected);
}

fn sign_and_verify(sandbox: &Sandbox, id: &str, pin: &str, work: &Path) {
    let message = work.join("message.txt");
    std::fs::write(&message, b"signed through pcscd, vpcd and mynasim").unwrap();
    let signature = work.join(format!("signature-{id}.bin"));
    run(
        sandbox,
        "pkcs11-tool",
        &[
            // OpenSC shows one PKCS#11 slot per JPKI PIN: 0 auth, 1 signature.
            "--module", PKCS11_MODULE, "--slot-index", if id == "01" { "0" } else { "1" },
            "--login", "--pin", pin, "--sign", "-m", "SHA256-RSA-PKCS", "--id", id,
            "-i", message.to_str().unwrap(), "-o", signature.to_str().unwrap(),
        ],
    );
    // The certificate as OpenSC reads it (the signature certificate needs its PIN).
    let cert_args: Vec<&str> = if id == "02" {
        vec!["--read-certificate", id, "--pin", pin]
    } else {
        vec!["--read-certificate", id]
    };
    let pem = stdout(&run(sandbox, "pkcs15-tool", &cert_args));
    let public = openssl::x509::X509::from_pem(pem.as_bytes()).unwrap().public_key().unwrap().public_key_to_pem().unwrap();
    let public_path = work.join(format!("public-{id}.pem"));
    std::fs::write(&public_path, public).unwrap();
    let verified = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", public_path.to_str().unwrap(), "-signature", signature.to_str().unwrap()])
        .arg(&message)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    assert_eq!(String::from_utf8_lossy(&verified.stdout).trim(), "Verified OK");
}

#[test]
fn pkcs11_signs_with_both_keys_and_openssl_verifies() {
    let sandbox = sandbox(None);
    let work = tempfile::tempdir().unwrap();
    sign_and_verify(&sandbox, "01", "1234", work.path());
    sign_and_verify(&sandbox, "02", "ABC123", work.path());
}

#[test]
fn three_wrong_pins_lock_the_auth_pin() {
    let sandbox = sandbox(None);
    for _ in 0..3 {
        let output = sandbox
            .command("pkcs11-tool")
            .args(["--module", PKCS11_MODULE, "--login", "--pin", "0000", "-O"])
            .output()
            .unwrap();
        assert!(!output.status.success());
    }
    let dump = stdout(&run(&sandbox, "pkcs15-tool", &["-D"]));
    let auth = dump.split("PIN [Digital Signature PIN]").next().unwrap();
    assert!(auth.contains("Tries left     : 0"), "{dump}");
    let output = sandbox
        .command("pkcs11-tool")
        .args(["--module", PKCS11_MODULE, "--login", "--pin", "1234", "-O"])
        .output()
        .unwrap();
    // The card answers 69 84 (spec §3.5), which OpenSC reports as "reference data not usable".
    assert!(!output.status.success());
    let slots = stdout(&run(&sandbox, "pkcs11-tool", &["--module", PKCS11_MODULE, "-L"]));
    let auth_slot = slots.split("Slot 1").next().unwrap();
    assert!(auth_slot.contains("user PIN locked"), "{slots}");
    let sign_slot = slots.split("Slot 1").nth(1).unwrap();
    assert!(!sign_slot.split("Slot 2").next().unwrap().contains("locked"), "{slots}");
    let verify = sandbox.command("pkcs15-tool").args(["--verify-pin", "--auth-id", "01", "--pin", "1234"]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(text.contains("Reference data not usable"), "{text}");
}

#[test]
fn locked_profile_is_reported_by_opensc() {
    let sandbox = sandbox(Some("auth-pin-locked.yaml"));
    let dump = stdout(&run(&sandbox, "pkcs15-tool", &["-D"]));
    let auth = dump.split("PIN [Digital Signature PIN]").next().unwrap();
    assert!(auth.contains("Tries left     : 0"), "{dump}");
}
