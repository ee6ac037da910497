//! The test PKI as `openssl verify` sees it (issue "Card core", spec §9).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn export(profile: &str, out: &Path) {
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profiles").join(profile);
    let status = Command::new(env!("CARGO_BIN_EXE_mynasim")).args(["export", "--profile"]).arg(&profile).arg(out).status().unwrap();
    assert!(status.success());
}

fn openssl_verify(ca: &Path, cert: &Path) -> (bool, String) {
    let output = Command::new("openssl").arg("verify").arg("-CAfile").arg(ca).arg(cert).output().unwrap();
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn valid_card_certificates_verify() {
    let dir = tempfile::tempdir().unwrap();
    export("default.yaml", dir.path());
    for (ca, cert) in [("auth-ca.pem", "auth.pem"), ("sign-ca.pem", "sign.pem")] {
        let (ok, text) = openssl_verify(&dir.path().join(ca), &dir.path().join(cert));
        assert!(ok, "{text}");
        assert!(text.trim_end().ends_with(": OK"), "{text}");
    }
    // Each CA verifies only its own kind.
    let (ok, _) = openssl_verify(&dir.path().join("auth-ca.pem"), &dir.path().join("sign.pem"));
    assert!(!ok);
}

#[test]
fn expired_certificate_is_rejected_with_the_expiry_error() {
    let dir = tempfile::tempdir().unwrap();
    export("sign-cert-expired.yaml", dir.path());
    let (ok, text) = openssl_verify(&dir.path().join("sign-ca.pem"), &dir.path().join("sign.pem"));
    assert!(!ok);
    assert!(text.contains("error 10") && text.contains("certificate has expired"), "{text}");
    let (ok, text) = openssl_verify(&dir.path().join("auth-ca.pem"), &dir.path().join("auth.pem"));
    assert!(ok, "{text}");
}

#[test]
fn certificate_profile_follows_jpki() {
    let dir = tempfile::tempdir().unwrap();
    export("default.yaml", dir.path());
    let text = |file: &str| {
        let out = Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(dir.path().join(file)).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let sign = text("sign.pem");
    assert!(sign.contains("X509v3 Key Usage: critical") && sign.contains("Digital Signature, Non Repudiation"), "{sign}");
    assert!(sign.contains("Policy: 1.2.392.200149.8.5.1.1.20"), "{sign}");
    assert!(sign.contains("X509v3 Issuer Alternative Name"), "{sign}");
    assert!(sign.contains("X509v3 CRL Distribution Points"), "{sign}");
    assert!(sign.contains("sha256WithRSAEncryption") && sign.contains("Public-Key: (2048 bit)"), "{sign}");
    assert!(sign.contains("Not After : Apr  1 14:59:59 2029 GMT"), "{sign}");
    let auth = text("auth.pem");
    assert!(auth.contains("Policy: 1.2.392.200149.8.5.1.3.30"), "{auth}");
    assert!(!auth.contains("Non Repudiation") && !auth.contains("Subject Alternative Name"), "{auth}");
    let ca = text("auth-ca.pem");
    assert!(ca.contains("CA:TRUE") && ca.contains("Certificate Sign, CRL Sign"), "{ca}");
    assert!(ca.contains("mynasim simulator test CA - not J-LIS"), "{ca}");
    assert!(!ca.contains("Japan Agency for Local Authority Information Systems"), "{ca}");
}

#[test]
fn minor_card_has_no_signature_certificate() {
    let dir = tempfile::tempdir().unwrap();
    export("minor-without-sign-cert.yaml", dir.path());
    assert!(dir.path().join("auth.pem").exists());
    assert!(!dir.path().join("sign.pem").exists());
}
