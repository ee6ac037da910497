//! Writing a card's certificates (PEM) and the common AP's internal-authentication public
//! key to a folder, for verifiers to trust (`mynasim export`, `${card.dir}` in scenarios).

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
}

/// Writes `auth.pem`, `sign.pem`, `auth-ca.pem`, `sign-ca.pem` and
/// `common-internal-auth.pub.pem` into `out` (created if missing). Returns each file name
/// with its path, or `None` when the card lacks it (a minor's signature certificate).
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
    Ok(written)
}
