//! Writing a card's certificates (PEM), the common AP's internal-authentication public key
//! and the MF CV CA's public key to a folder, for verifiers to trust (`mynasim export`,
//! `${card.dir}` in scenarios).
//!
//! The MF CV CA key is the root of the MF-level CV chain (spec §13.2): it verifies GET DATA
//! `00F8`, whose certified key verifies `7F21`. It is written twice: [`MF_CV_CA_PEM`], a PEM
//! `PUBLIC KEY` (SubjectPublicKeyInfo) for openssl and most libraries, and [`MF_CV_CA_RECORD`],
//! the 265 bytes `90 03 01 00 01 91 82 01 00 <modulus>` in which the card itself encodes public
//! keys (the form a CV-certificate parser such as myna-card's takes).

use std::path::{Path, PathBuf};

use mynasim_simulator::applets::{common, jpki, AppletId};

use crate::load::LoadedCard;

/// The certificate files: name and the JPKI EF holding it.
pub const CERTIFICATE_FILES: [(&str, u16); 4] = [
    ("auth.pem", jpki::AUTH_CERTIFICATE),
    ("sign.pem", jpki::SIGNATURE_CERTIFICATE),
    ("auth-ca.pem", jpki::AUTH_CA_CERTIFICATE),
    ("sign-ca.pem", jpki::SIGNATURE_CA_CERTIFICATE),
];

/// The MF CV CA public key as PEM SubjectPublicKeyInfo.
pub const MF_CV_CA_PEM: &str = "mf-cv-ca.pub.pem";
/// The MF CV CA public key in the card's `90 03 01 00 01 91 82 01 00 <modulus>` encoding.
pub const MF_CV_CA_RECORD: &str = "mf-cv-ca.pub.bin";

/// Why the export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A file or the folder could not be written.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A certificate could not be encoded.
    #[error("cannot encode a certificate: {0}")]
    Certificate(openssl::error::ErrorStack),
    /// The key could not be encoded.
    #[error("cannot encode the internal-authentication key: {0}")]
    Key(mynasim_simulator::pki::PkiError),
    /// The MF CV CA key could not be encoded.
    #[error("cannot encode the MF CV CA key: {0}")]
    CvKey(openssl::error::ErrorStack),
    /// The MF CV CA key is not in the card's public-key encoding.
    #[error("the MF CV CA key is not a 90 03 … 91 82 01 00 … record ({0} bytes)")]
    MalformedCvKey(usize),
}

/// A public key from the card's `90 03 <exponent> 91 82 01 00 <modulus>` encoding, as PEM.
fn record_to_pem(record: &[u8]) -> Result<Vec<u8>, ExportError> {
    let [0x90, 0x03, e0, e1, e2, 0x91, 0x82, 0x01, 0x00, modulus @ ..] = record else {
        return Err(ExportError::MalformedCvKey(record.len()));
    };
    let encode = || {
        let n = openssl::bn::BigNum::from_slice(modulus)?;
        let e = openssl::bn::BigNum::from_slice(&[*e0, *e1, *e2])?;
        openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::from_public_components(n, e)?)?.public_key_to_pem()
    };
    encode().map_err(ExportError::CvKey)
}

/// Writes `auth.pem`, `sign.pem`, `auth-ca.pem`, `sign-ca.pem`,
/// `common-internal-auth.pub.pem`, [`MF_CV_CA_PEM`] and [`MF_CV_CA_RECORD`] into `out`
/// (created if missing). Returns each file name with its path, or `None` when the card lacks
/// it (a minor's signature certificate).
pub fn write_certificates(loaded: &LoadedCard, out: &Path) -> Result<Vec<(&'static str, Option<PathBuf>)>, ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut written = Vec::new();
    let applet = loaded.card.applet(AppletId::Jpki);
    for (file, fid) in CERTIFICATE_FILES {
        let Some(der) = applet.and_then(|a| a.binary(fid)) else {
            written.push((file, None));
            continue;
        };
        let pem = openssl::x509::X509::from_der(der).and_then(|c| c.to_pem()).map_err(ExportError::Certificate)?;
        let path = out.join(file);
        std::fs::write(&path, pem).map_err(io(&path))?;
        written.push((file, Some(path)));
    }
    if let Some(key) = loaded.card.applet(AppletId::Common).and_then(|a| a.key_at(common::INTERNAL_AUTH_KEY)) {
        let path = out.join("common-internal-auth.pub.pem");
        let pem = key.public_key_pem().map_err(ExportError::Key)?;
        std::fs::write(&path, pem).map_err(io(&path))?;
        written.push(("common-internal-auth.pub.pem", Some(path)));
    }
    let record = &loaded.card.isd().root_public_key;
    if record.is_empty() {
        // A phone token: no MF CV chain.
        written.extend([(MF_CV_CA_PEM, None), (MF_CV_CA_RECORD, None)]);
        return Ok(written);
    }
    let pem = record_to_pem(record)?;
    let path = out.join(MF_CV_CA_PEM);
    std::fs::write(&path, pem).map_err(io(&path))?;
    written.push((MF_CV_CA_PEM, Some(path)));
    let path = out.join(MF_CV_CA_RECORD);
    std::fs::write(&path, record).map_err(io(&path))?;
    written.push((MF_CV_CA_RECORD, Some(path)));
    Ok(written)
}
