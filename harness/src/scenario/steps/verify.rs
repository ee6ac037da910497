//! `verify`: a signature against a certificate, or a certificate against the test CAs
//! (`openssl verify` semantics, at the scenario's clock).

use mynasim_simulator::applets::{jpki, AppletId};

use crate::scenario::format::{CertificateRef, DigestName, KeyName, PaddingName, VerifySpec};
use crate::scenario::result::Failure;
use crate::scenario::runner::Context;
use crate::verify::{self, Digest, Padding, Signed};

impl From<DigestName> for Digest {
    fn from(d: DigestName) -> Digest {
        match d {
            DigestName::Sha1 => Digest::Sha1,
            DigestName::Sha256 => Digest::Sha256,
            DigestName::Sha384 => Digest::Sha384,
            DigestName::Sha512 => Digest::Sha512,
        }
    }
}

impl From<PaddingName> for Padding {
    fn from(p: PaddingName) -> Padding {
        match p {
            PaddingName::Pkcs1 => Padding::Pkcs1,
            PaddingName::Pss => Padding::Pss,
        }
    }
}

impl From<KeyName> for CertificateRef {
    fn from(k: KeyName) -> CertificateRef {
        match k {
            KeyName::Auth => CertificateRef::Auth,
            KeyName::Sign => CertificateRef::Sign,
        }
    }
}

/// A certificate's DER: one of the card's EFs, or a PEM/DER file in the work folder.
pub(crate) fn card_certificate(cx: &Context<'_>, card: usize, which: CertificateRef) -> Result<Vec<u8>, Failure> {
    let fid = match which {
        CertificateRef::Auth => jpki::AUTH_CERTIFICATE,
        CertificateRef::Sign => jpki::SIGNATURE_CERTIFICATE,
        CertificateRef::AuthCa => jpki::AUTH_CA_CERTIFICATE,
        CertificateRef::SignCa => jpki::SIGNATURE_CA_CERTIFICATE,
        CertificateRef::File(t) => {
            let path = cx.work.join(t.0.text(&cx.vars).map_err(|e| Failure::new(e.to_string()))?);
            let data = std::fs::read(&path).map_err(|e| Failure::new(format!("cannot read certificate {}: {e}", path.display())))?;
            return match openssl::x509::X509::from_pem(&data) {
                Ok(cert) => cert.to_der().map_err(|e| Failure::new(e.to_string())),
                Err(_) => Ok(data),
            };
        }
    };
    cx.cards[card].slot.with_card(|loaded| {
        loaded
            .card
            .applet(AppletId::Jpki)
            .and_then(|a| a.binary(fid))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| Failure::new(format!("the card has no certificate in EF {fid:04X}")))
    })
}

pub(super) fn run(cx: &mut Context<'_>, v: &VerifySpec, card: usize) -> Result<(), Failure> {
    let certificate = card_certificate(cx, card, v.certificate.clone())?;
    let expand_hex = |t: &crate::scenario::format::HexTemplate| t.0.bytes(&cx.vars).map_err(|e| Failure::new(e.to_string()));
    let expand_path = |t: &crate::scenario::format::TextTemplate| -> Result<Vec<u8>, Failure> {
        let path = cx.work.join(t.0.text(&cx.vars).map_err(|e| Failure::new(e.to_string()))?);
        std::fs::read(&path).map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))
    };
    let signature = match (&v.signature, &v.signature_file) {
        (Some(hex), _) => Some(expand_hex(hex)?),
        (None, Some(file)) => Some(expand_path(file)?),
        (None, None) => None,
    };
    if let Some(signature) = signature {
        let digest: Digest = v.digest.into();
        let (owned, kind) = if let Some(di) = &v.digest_info {
            (expand_hex(di)?, 0)
        } else if let Some(hash) = &v.hash {
            (expand_hex(hash)?, 1)
        } else if let Some(message) = &v.message {
            (expand_hex(message)?, 2)
        } else if let Some(file) = &v.message_file {
            (expand_path(file)?, 2)
        } else {
            return Err(Failure::new("internal: nothing signed"));
        };
        let signed = match kind {
            0 => Signed::DigestInfo(&owned),
            1 => Signed::Digest { digest, hash: &owned },
            _ => Signed::Message { digest, data: &owned },
        };
        return verify::verify_signature(&certificate, &signature, signed, v.padding.into())
            .map_err(|e| Failure::differ("signature", "a valid signature by the certificate's key", e.to_string()));
    }
    let ca_ref = match (&v.ca, &v.certificate) {
        (Some(ca), _) => ca.clone(),
        (None, CertificateRef::Auth) => CertificateRef::AuthCa,
        (None, CertificateRef::Sign) => CertificateRef::SignCa,
        (None, _) => return Err(Failure::new("say which CA to verify against with `ca:` (auth_ca, sign_ca or a file)")),
    };
    let ca = card_certificate(cx, card, ca_ref)?;
    let result = verify::verify_certificate(&certificate, &[&ca], Some(cx.clock)).map_err(|e| e.to_string()).and_then(|info| {
        if cx.revoked.contains(&info.serial) {
            Err(format!("certificate revoked (serial {}, revoked by this scenario)", info.serial))
        } else {
            Ok(info)
        }
    });
    let expect = v.expect.as_deref().unwrap_or("valid");
    match (expect, result) {
        ("valid", Ok(_)) => Ok(()),
        ("valid", Err(e)) => Err(Failure::differ("certificate", "valid", e)),
        (_, Ok(info)) => Err(Failure::differ(
            "certificate",
            format!("not valid ({expect})"),
            format!("valid: {} until {}", info.subject, info.not_after),
        )),
        (want, Err(text)) => {
            let needle = match want {
                "expired" => "certificate has expired",
                "not_yet_valid" => "certificate is not yet valid",
                "revoked" => "certificate revoked",
                other => other,
            };
            if text.contains(needle) {
                Ok(())
            } else {
                Err(Failure::differ("certificate", format!("refused with {needle:?}"), text))
            }
        }
    }
}
