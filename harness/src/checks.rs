//! The real-client checks: unmodified OpenSC, openssl, jpki-cli and the `pcsc` crate
//! against a card in a private pcscd. `mynasim check` runs them all and prints a summary;
//! the integration tests run each one on its own sandbox. A check reports to a person, so
//! its errors are messages (`anyhow`), not a type to match on.

use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use mynasim_simulator::applets::{jpki, AppletId};
use mynasim_simulator::pins::PinId;

use crate::clients::JpkiCli;
use crate::load::LoadedCard;
use crate::sandbox::Sandbox;

/// OpenSC's PKCS#11 module as Debian installs it.
pub const PKCS11_MODULE: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

/// What a check works on: the sandbox, and an in-process twin of the served card (same
/// profile, same keys) that says what the answers must be.
pub struct CheckContext<'a> {
    /// The running sandbox.
    pub sandbox: &'a Sandbox,
    /// The twin.
    pub card: &'a LoadedCard,
    /// Scratch files.
    pub work: tempfile::TempDir,
}

/// A check: `Ok(detail)` or an error saying what differed.
pub type Check = fn(&CheckContext<'_>) -> Result<String>;

/// Every check, in the order `mynasim check` runs them (the locking one last).
pub const CHECKS: &[(&str, Check)] = &[
    ("opensc-tool -l lists the reader with the card", opensc_lists_the_card),
    ("opensc-tool -n names the card jpki", opensc_names_the_card),
    ("pkcs15-tool -D lists the four certificates and both PINs with their tries", pkcs15_lists_objects),
    ("pkcs15-tool --read-certificate gives the card's certificate", pkcs15_reads_the_certificate),
    ("pkcs11-tool signs with the auth key, openssl verifies", pkcs11_signs_with_the_auth_key),
    ("pkcs11-tool signs with the signature key, openssl verifies", pkcs11_signs_with_the_signature_key),
    ("jpki-cli reads the four certificates", jpki_cli_reads_certificates),
    ("jpki-cli signs with both keys, openssl verifies", jpki_cli_signs),
    ("jpki-cli stat prints the tries left", jpki_cli_stat),
    ("jpki-cli reads the My Number and the attributes", jpki_cli_text_ap),
    ("jpki-cli reads the card face with 照合番号A and B", jpki_cli_surface_ap),
    ("three wrong PINs lock the auth PIN, OpenSC reports it", wrong_pins_lock_the_auth_pin),
];

impl CheckContext<'_> {
    fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let output = self.sandbox.command(program).args(args).output().with_context(|| format!("cannot run {program}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!("{program} {} failed: {}{}", args.join(" "), stdout, String::from_utf8_lossy(&output.stderr));
        }
        Ok(stdout)
    }

    fn pin(&self, pin: PinId) -> String {
        String::from_utf8_lossy(&self.card.card.pin(pin).value).into_owned()
    }

    fn certificate(&self, fid: u16) -> Result<Vec<u8>> {
        let applet = self.card.card.applet(AppletId::Jpki).context("no JPKI AP")?;
        Ok(applet.binary(fid).context("certificate absent on this card")?.to_vec())
    }

    fn jpki_cli(&self) -> Result<JpkiCli> {
        Ok(JpkiCli::new(self.sandbox.socket())?)
    }

    /// `openssl dgst -<digest> -verify` of `signature` over `message` with a certificate's key.
    fn openssl_verifies(&self, digest: &str, certificate: &[u8], message: &[u8], signature: &[u8]) -> Result<()> {
        let key = openssl::x509::X509::from_der(certificate)?.public_key()?.public_key_to_pem()?;
        let dir = self.work.path();
        std::fs::write(dir.join("key.pem"), key)?;
        std::fs::write(dir.join("message"), message)?;
        std::fs::write(dir.join("signature"), signature)?;
        let output = Command::new("openssl")
            .args(["dgst", &format!("-{digest}"), "-verify"])
            .arg(dir.join("key.pem"))
            .arg("-signature")
            .arg(dir.join("signature"))
            .arg(dir.join("message"))
            .output()
            .context("cannot run openssl")?;
        let said = String::from_utf8_lossy(&output.stdout);
        ensure!(output.status.success() && said.trim() == "Verified OK", "openssl dgst -verify: {said}{}", String::from_utf8_lossy(&output.stderr));
        Ok(())
    }
}

fn opensc_lists_the_card(cx: &CheckContext<'_>) -> Result<String> {
    let list = cx.run("opensc-tool", &["-l"])?;
    let line = list.lines().find(|l| l.contains("Yes") && l.contains("Virtual PCD 00 00"));
    line.map(|l| l.trim().to_owned()).with_context(|| format!("no reader with a card:\n{list}"))
}

fn opensc_names_the_card(cx: &CheckContext<'_>) -> Result<String> {
    let name = cx.run("opensc-tool", &["-n"])?;
    ensure!(name.trim() == "jpki", "opensc-tool -n said {name:?}");
    Ok(name.trim().to_owned())
}

/// The `Tries left` values of `pkcs15-tool -D`, auth PIN first.
pub fn pkcs15_tries(dump: &str) -> Vec<u8> {
    dump.lines()
        .filter(|l| l.contains("Tries left"))
        .filter_map(|l| l.rsplit(':').next()?.trim().parse().ok())
        .collect()
}

fn pkcs15_lists_objects(cx: &CheckContext<'_>) -> Result<String> {
    let dump = cx.run("pkcs15-tool", &["-D"])?;
    for label in [
        "X.509 Certificate [User Authentication Certificate]",
        "X.509 Certificate [Digital Signature Certificate]",
        "X.509 Certificate [User Authentication Certificate CA]",
        "X.509 Certificate [Digital Signature Certificate CA]",
        "PIN [User Authentication PIN]",
        "PIN [Digital Signature PIN]",
    ] {
        ensure!(dump.contains(label), "pkcs15-tool -D does not list {label}:\n{dump}");
    }
    let expected = vec![cx.card.card.pin(PinId::AuthPin).remaining, cx.card.card.pin(PinId::SignPassword).remaining];
    let tries = pkcs15_tries(&dump);
    ensure!(tries == expected, "tries left {tries:?}, expected {expected:?}");
    Ok(format!("4 certificates, PIN tries {tries:?}"))
}

fn pkcs15_reads_the_certificate(cx: &CheckContext<'_>) -> Result<String> {
    let pem = cx.run("pkcs15-tool", &["--read-certificate", "01"])?;
    let read = openssl::x509::X509::from_pem(pem.as_bytes())?.to_der()?;
    ensure!(read == cx.certificate(jpki::AUTH_CERTIFICATE)?, "the certificate read differs from EF 000A");
    Ok(format!("{} bytes", read.len()))
}

fn pkcs11_sign(cx: &CheckContext<'_>, slot: &str, id: &str, pin: PinId, fid: u16) -> Result<String> {
    let message = b"signed through pcscd, vpcd and mynasim";
    let input = cx.work.path().join("pkcs11-input");
    let output = cx.work.path().join("pkcs11-signature");
    std::fs::write(&input, message)?;
    let (input_arg, output_arg) = (input.display().to_string(), output.display().to_string());
    // OpenSC shows one PKCS#11 slot per JPKI PIN: 0 auth, 1 signature.
    cx.run(
        "pkcs11-tool",
        &[
            "--module", PKCS11_MODULE, "--slot-index", slot, "--login", "--pin", &cx.pin(pin), "--sign", "-m",
            "SHA256-RSA-PKCS", "--id", id, "-i", &input_arg, "-o", &output_arg,
        ],
    )?;
    cx.openssl_verifies("sha256", &cx.certificate(fid)?, message, &std::fs::read(&output)?)?;
    Ok("Verified OK".into())
}

fn pkcs11_signs_with_the_auth_key(cx: &CheckContext<'_>) -> Result<String> {
    pkcs11_sign(cx, "0", "01", PinId::AuthPin, jpki::AUTH_CERTIFICATE)
}

fn pkcs11_signs_with_the_signature_key(cx: &CheckContext<'_>) -> Result<String> {
    pkcs11_sign(cx, "1", "02", PinId::SignPassword, jpki::SIGNATURE_CERTIFICATE)
}

fn jpki_cli_reads_certificates(cx: &CheckContext<'_>) -> Result<String> {
    let cli = cx.jpki_cli()?;
    for (args, fid) in [
        (&["crypto", "-a", "read-certificate"][..], jpki::AUTH_CERTIFICATE),
        (&["crypto", "-a", "-c", "read-certificate"][..], jpki::AUTH_CA_CERTIFICATE),
        (&["crypto", "-c", "read-certificate"][..], jpki::SIGNATURE_CA_CERTIFICATE),
    ] {
        ensure!(cli.run(args)? == cx.certificate(fid)?, "jpki-cli {args:?} differs from EF {fid:04X}");
    }
    let sign = cli.run_with_pin(&["crypto", "read-certificate"], &cx.pin(PinId::SignPassword), None)?;
    ensure!(sign == cx.certificate(jpki::SIGNATURE_CERTIFICATE)?, "the signature certificate differs from EF 0001");
    Ok("auth, signature and both CAs".into())
}

fn jpki_cli_signs(cx: &CheckContext<'_>) -> Result<String> {
    let cli = cx.jpki_cli()?;
    let message = b"a document signed by jpki-cli through mynasim";
    for (auth, pin, fid) in [(true, PinId::AuthPin, jpki::AUTH_CERTIFICATE), (false, PinId::SignPassword, jpki::SIGNATURE_CERTIFICATE)] {
        let signature = cx.work.path().join("jpki-cli-signature");
        let path = signature.display().to_string();
        let args: Vec<&str> = if auth { vec!["crypto", "-a", "sign", &path] } else { vec!["crypto", "sign", &path] };
        cli.run_with_pin(&args, &cx.pin(pin), Some(message))?;
        // jpki-cli signs a SHA-1 DigestInfo (spec §8.4).
        cx.openssl_verifies("sha1", &cx.certificate(fid)?, message, &std::fs::read(&signature)?)?;
    }
    Ok("both signatures Verified OK".into())
}

fn jpki_cli_stat(cx: &CheckContext<'_>) -> Result<String> {
    let cli = cx.jpki_cli()?;
    let mut said = Vec::new();
    for (args, pin) in [
        (&["crypto", "-a", "stat"][..], PinId::AuthPin),
        (&["crypto", "stat"][..], PinId::SignPassword),
        (&["support", "stat"][..], PinId::TextPin),
    ] {
        let out = String::from_utf8(cli.run(args)?)?;
        let expected = cx.card.card.pin(pin).remaining.to_string();
        ensure!(out.trim() == expected, "jpki-cli {args:?} printed {out:?}, expected {expected}");
        said.push(expected);
    }
    Ok(format!("auth {}, signature {}, text AP {}", said[0], said[1], said[2]))
}

fn jpki_cli_text_ap(cx: &CheckContext<'_>) -> Result<String> {
    let cli = cx.jpki_cli()?;
    let pin = cx.pin(PinId::TextPin);
    let number = String::from_utf8(cli.run_with_pin(&["support", "get", "my-number"], &pin, None)?)?;
    let expected = cx.pin(PinId::TextCodeA);
    ensure!(number.trim() == expected, "jpki-cli printed My Number {number:?}, expected {expected}");
    let attributes = String::from_utf8(cli.run_with_pin(&["support", "get", "attributes"], &pin, None)?)?;
    ensure!(attributes.contains(&cx.card.holder.name), "the attributes lack the holder's name: {attributes}");
    Ok(format!("My Number {}, attributes {}", number.trim(), attributes.trim()))
}

fn jpki_cli_surface_ap(cx: &CheckContext<'_>) -> Result<String> {
    let cli = cx.jpki_cli()?;
    let name = cli.run_with_pin(&["surface", "get", "name"], &cx.pin(PinId::SurfaceCodeA), None)?;
    ensure!(name.starts_with(b"\x89PNG\r\n\x1a\n"), "the name image is not a PNG");
    let photo = cli.run_with_pin(&["surface", "get", "photo"], &cx.pin(PinId::SurfaceCodeA), None)?;
    ensure!(mynasim_simulator::images::is_jp2(&photo), "the photo is not JPEG 2000");
    let birth = cli.run_with_pin(&["surface", "get", "date-of-birth"], &cx.pin(PinId::SurfaceCodeB), None)?;
    ensure!(birth.len() == 8 && birth.iter().all(u8::is_ascii_digit), "date of birth {birth:02X?}");
    Ok(format!("name PNG {} bytes, photo JP2 {} bytes, birth {}", name.len(), photo.len(), String::from_utf8_lossy(&birth)))
}

fn wrong_pins_lock_the_auth_pin(cx: &CheckContext<'_>) -> Result<String> {
    let wrong = if cx.pin(PinId::AuthPin) == "0000" { "9999" } else { "0000" };
    for _ in 0..cx.card.card.pin(PinId::AuthPin).remaining {
        let output = cx.sandbox.command("pkcs11-tool").args(["--module", PKCS11_MODULE, "--login", "--pin", wrong, "-O"]).output()?;
        ensure!(!output.status.success(), "a wrong PIN was accepted");
    }
    let tries = pkcs15_tries(&cx.run("pkcs15-tool", &["-D"])?);
    ensure!(tries.first() == Some(&0), "auth PIN tries after the wrong PINs: {tries:?}");
    let slots = cx.run("pkcs11-tool", &["--module", PKCS11_MODULE, "-L"])?;
    let auth_slot = slots.split("Slot 1").next().unwrap_or_default();
    ensure!(auth_slot.contains("user PIN locked"), "pkcs11-tool -L does not show the lock:\n{slots}");
    // The right PIN is refused now: the card answers 69 84, "reference data not usable".
    let verify = cx.sandbox.command("pkcs15-tool").args(["--verify-pin", "--auth-id", "01", "--pin", &cx.pin(PinId::AuthPin)]).output()?;
    let said = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    ensure!(said.contains("Reference data not usable"), "pkcs15-tool --verify-pin said: {said}");
    Ok("tries 0, token flags: user PIN locked".into())
}
