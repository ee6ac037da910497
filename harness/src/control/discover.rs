//! Where control sockets live, so `mynasim ctl` finds the running server by itself.
//!
//! Every `mynasim serve` has an entry `serve-<pid>.sock` in the user's runtime folder
//! (`$XDG_RUNTIME_DIR/mynasim`, else `<temp>/mynasim-<uid>`, mode 0700): the socket itself
//! in system mode, a symbolic link to the sandbox's socket in private mode. An entry whose
//! process is gone is stale and removed by the next search.

use std::path::{Path, PathBuf};

/// Why no server was found.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// None is running.
    #[error("no mynasim serve is running for this user (looked in {0}); start one with `mynasim serve --private`, or give --control PATH")]
    None(PathBuf),
    /// Several are, and none was named.
    #[error("{} mynasim serve processes are running ({}); choose one with --serve PID or --control PATH", .0.len(), .0.iter().map(|(pid, _)| pid.to_string()).collect::<Vec<_>>().join(", "))]
    Several(Vec<(u32, PathBuf)>),
    /// The one named is not running.
    #[error("no mynasim serve with pid {0} is running; `mynasim ctl list` shows those that are")]
    NotRunning(u32),
}

/// The runtime folder for control sockets, created (mode 0700) if missing.
pub fn runtime_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_dir()) {
        Some(base) => base.join("mynasim"),
        None => std::env::temp_dir().join(format!("mynasim-{}", nix::unistd::getuid())),
    };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    // A folder made by someone else (another user's, in the shared temp folder) is refused.
    let meta = std::fs::symlink_metadata(&dir)?;
    use std::os::unix::fs::MetadataExt;
    if !meta.is_dir() || meta.uid() != nix::unistd::getuid().as_raw() || meta.permissions().mode() & 0o077 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{} must be a folder of yours with mode 0700", dir.display()),
        ));
    }
    Ok(dir)
}

/// This process's entry in the runtime folder.
pub fn own_entry() -> std::io::Result<PathBuf> {
    Ok(runtime_dir()?.join(format!("serve-{}.sock", std::process::id())))
}

/// A private-mode server's entry: a link to its sandbox's socket, removed when dropped.
#[derive(Debug)]
pub struct Registration {
    entry: PathBuf,
}

impl Registration {
    /// Links this process's entry to `socket`.
    pub fn link(socket: &Path) -> std::io::Result<Registration> {
        Registration::link_at(&own_entry()?, socket)
    }

    /// Links `entry` to `socket` (replacing a stale socket or link there, nothing else).
    pub fn link_at(entry: &Path, socket: &Path) -> std::io::Result<Registration> {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(entry) {
            if !(meta.file_type().is_symlink() || meta.file_type().is_socket()) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", entry.display()),
                ));
            }
            std::fs::remove_file(entry)?;
        }
        std::os::unix::fs::symlink(socket, entry)?;
        Ok(Registration { entry: entry.to_path_buf() })
    }

    /// The entry's path.
    pub fn entry(&self) -> &Path {
        &self.entry
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.entry);
    }
}

/// The running servers (pid, socket), oldest pid first; stale entries are removed.
pub fn running() -> std::io::Result<Vec<(u32, PathBuf)>> {
    let dir = runtime_dir()?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("serve-").and_then(|n| n.strip_suffix(".sock")).and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() && entry.path().exists() {
            found.push((pid, entry.path()));
        } else {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// The socket of the server with pid `serve`, or of the only one running.
pub fn find(serve: Option<u32>) -> Result<PathBuf, DiscoverError> {
    let dir = runtime_dir().unwrap_or_else(|_| std::env::temp_dir());
    let mut running = running().unwrap_or_default();
    match serve {
        Some(pid) => running.into_iter().find(|(p, _)| *p == pid).map(|(_, path)| path).ok_or(DiscoverError::NotRunning(pid)),
        None if running.len() == 1 => Ok(running.remove(0).1),
        None if running.is_empty() => Err(DiscoverError::None(dir)),
        None => Err(DiscoverError::Several(running)),
    }
}
