//! Generated RSA keys cached on disk, so a card with a known seed starts in milliseconds.

use std::path::{Path, PathBuf};

use mynasim_simulator::pki::KeyCache;

/// A directory of PKCS#1 DER keys, one file per key, written atomically.
#[derive(Clone, Debug)]
pub struct DirKeyCache {
    dir: PathBuf,
}

impl DirKeyCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> DirKeyCache {
        DirKeyCache { dir: dir.into() }
    }

    /// `$MYNASIM_KEY_CACHE`, else `$XDG_CACHE_HOME/mynasim/keys`, else `~/.cache/mynasim/keys`,
    /// else a folder in the system temp dir.
    pub fn default_location() -> DirKeyCache {
        let dir = std::env::var_os("MYNASIM_KEY_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("mynasim/keys")))
            .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/mynasim/keys")))
            .unwrap_or_else(|| std::env::temp_dir().join("mynasim-keys"));
        DirKeyCache::new(dir)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl KeyCache for DirKeyCache {
    fn load(&mut self, name: &str) -> Option<Vec<u8>> {
        // A key is about 1.2 KB; anything else there (a FIFO, a huge file) only costs a
        // regeneration.
        crate::load::read_file(&self.dir.join(name), 64 * 1024).ok()
    }

    fn store(&mut self, name: &str, der: &[u8]) {
        // A failed store only costs a regeneration next time; say so and go on.
        if let Err(e) = crate::load::write_atomically(&self.dir.join(name), der) {
            tracing::warn!("cannot cache key {name} in {}: {e}", self.dir.display());
        }
    }
}
