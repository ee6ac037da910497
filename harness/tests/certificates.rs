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

/// The data of one GET DATA answered by `mynasim apdu` (`< <hex data> 9000`).
fn get_data(profile: &str, apdu: &str) -> Vec<u8> {
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/profiles").join(profile);
    let out = Command::new(env!("CARGO_BIN_EXE_mynasim")).args(["apdu", "--profile"]).arg(&profile).arg(apdu).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("< ")).unwrap();
    let digits: String = line.chars().filter(char::is_ascii_hexdigit).collect();
    assert!(digits.ends_with("9000"), "{text}");
    let data = &digits[..digits.len() - 4];
    (0..data.len()).step_by(2).map(|i| u8::from_str_radix(&data[i..i + 2], 16).unwrap()).collect()
}

/// (body, signature) of an MF-level CV certificate: header list 12, `5F4E 82 01 29` + 297,
/// `5F37 82 01 00` + 256.
fn cv_parts(certificate: &[u8]) -> (&[u8], &[u8]) {
    assert_eq!(certificate.len(), 575);
    assert_eq!(certificate[12..17], [0x5F, 0x4E, 0x82, 0x01, 0x29]);
    assert_eq!(certificate[314..319], [0x5F, 0x37, 0x82, 0x01, 0x00]);
    (&certificate[17..314], &certificate[319..])
}

fn verifies(key: &openssl::pkey::PKeyRef<openssl::pkey::Public>, data: &[u8], signature: &[u8]) -> bool {
    let mut verifier = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), key).unwrap();
    verifier.update(data).unwrap();
    verifier.verify(signature).unwrap()
}

#[test]
fn the_exported_mf_cv_ca_key_verifies_the_cards_cv_chain() {
    let dir = tempfile::tempdir().unwrap();
    export("default.yaml", dir.path());
    let pem = std::fs::read(dir.path().join("mf-cv-ca.pub.pem")).unwrap();
    let root = openssl::pkey::PKey::public_key_from_pem(&pem).unwrap();
    assert_eq!(root.bits(), 2048);
    // The card's encoding of the same key.
    let record = std::fs::read(dir.path().join("mf-cv-ca.pub.bin")).unwrap();
    assert_eq!((record.len(), &record[..9]), (265, &[0x90, 0x03, 0x01, 0x00, 0x01, 0x91, 0x82, 0x01, 0x00][..]));
    assert_eq!(root.rsa().unwrap().n().to_vec(), record[9..]);

    let upper = get_data("default.yaml", "00CA00F8000000");
    let lower = get_data("default.yaml", "00CA7F21000000");
    let (upper_body, upper_signature) = cv_parts(&upper);
    let (lower_body, lower_signature) = cv_parts(&lower);
    assert!(verifies(&root, upper_body, upper_signature));
    // 7F21 verifies with the key 00F8 certifies, and nothing else from outside the card.
    let n = openssl::bn::BigNum::from_slice(&upper_body[32 + 9..]).unwrap();
    let e = openssl::bn::BigNum::from_slice(&upper_body[32 + 2..32 + 5]).unwrap();
    let intermediate = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::from_public_components(n, e).unwrap()).unwrap();
    assert!(verifies(&intermediate, lower_body, lower_signature));
    assert!(!verifies(&root, lower_body, lower_signature));
    // The other CA files stay as they were.
    assert!(dir.path().join("auth-ca.pem").exists() && dir.path().join("common-internal-auth.pub.pem").exists());
}
