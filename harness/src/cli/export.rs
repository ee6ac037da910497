//! `mynasim export`: a card's certificates and keys as PEM files.

use std::path::PathBuf;

use anyhow::Result;
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card_read_only;

/// Write a card's certificates (PEM) and public keys to a folder: auth.pem, sign.pem,
/// auth-ca.pem, sign-ca.pem (JPKI), common-internal-auth.pub.pem (the common AP's key 0019),
/// mf-cv-ca.pub.pem and mf-cv-ca.pub.bin (the MF CV CA key that verifies GET DATA 00F8,
/// whose key verifies 7F21: PEM SubjectPublicKeyInfo, and the card's own encoding,
/// 90 03 01 00 01 then 91 82 01 00 and the 256-byte modulus).
#[derive(clap::Args)]
pub struct Args {
    /// Card profile (YAML); none = the default card.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Output folder (created if missing).
    out: PathBuf,
}

/// Runs `export`: the card is read as `inspect` reads it (no lock, its state file untouched).
pub fn run(args: Args) -> Result<()> {
    let loaded = load_card_read_only(args.profile.as_deref(), &mut DirKeyCache::default_location())?;
    for (file, path) in mynasim_harness::export::write_certificates(&loaded, &args.out)? {
        match path {
            Some(path) => outln!("{}", path.display()),
            None => outln!("{file}: absent on this card"),
        }
    }
    Ok(())
}
