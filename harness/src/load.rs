//! Loading a card from a profile file: the profile, its photo, its state file, today's date
//! in Japan, keys from the disk cache. Saving state atomically.
//!
//! Files the user names are read only if they are regular files (a FIFO would block the
//! reader, `/dev/zero` would never end), and never more than a cap: a profile
//! [`MAX_PROFILE_BYTES`], a photo [`MAX_PHOTO_BYTES`] (the card's own limit), a state file
//! [`MAX_STATE_BYTES`]. Anything else is bad input (exit code 2).
//!
//! A card with a state file holds an exclusive advisory lock ([`flock(2)`]) on the sibling
//! `<state file>.lock`, which holds the holder's pid, for as long as its [`LoadedCard`]
//! lives: the state file itself is replaced by a rename on every save, so it cannot carry the
//! lock. A second process (`serve`, `apdu`, a scenario) on the same state file is refused
//! with the holder's pid ([`LoadError::Locked`], exit code 1: the input is right, the card
//! is busy; run it again when the other process ends). Cards loaded in one process share
//! the lock (a card restart loads the new card before the old one goes). `inspect` reads
//! without the lock and writes nothing ([`load_card_read_only`]).
//!
//! [`flock(2)`]: https://man7.org/linux/man-pages/man2/flock.2.html

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use mynasim_simulator::pki::{KeyCache, PkiError};
use mynasim_simulator::profile::{Profile, ProfileError, MAX_PHOTO_BYTES};
use mynasim_simulator::state::PersistentState;
use mynasim_simulator::{issue, Card};
use rand_core::SeedableRng;

/// The largest profile file read, in bytes (the longest shipped one is under 1 KB).
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;
/// The largest state file read, in bytes (one is about 1.5 KB).
pub const MAX_STATE_BYTES: u64 = 1 << 20;

/// What is wrong with a file the user named.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// It does not exist.
    #[error("no such file; check the path")]
    Missing,
    /// It is a directory, FIFO, device or socket.
    #[error("it is a {0}, not a regular file; name a file")]
    NotRegular(&'static str),
    /// It is larger than what is read of it.
    #[error("it is larger than {limit} bytes, the most read of it")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// It is not UTF-8 text.
    #[error("it is not UTF-8 text (byte {offset} is not); save it as UTF-8")]
    NotUtf8 {
        /// The first byte that is not.
        offset: usize,
    },
    /// Reading failed.
    #[error(transparent)]
    Io(std::io::Error),
}

impl FileProblem {
    /// True when the file itself is wrong, not the machine.
    fn is_bad_input(&self) -> bool {
        match self {
            FileProblem::Io(e) => matches!(e.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotADirectory),
            _ => true,
        }
    }
}

/// Why a card could not be loaded or its state saved.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The profile file cannot be read.
    #[error("cannot read profile {path}: {problem}")]
    ReadProfile {
        /// The file.
        path: PathBuf,
        /// Why.
        problem: FileProblem,
    },
    /// The profile is wrong (the message names file, line and column).
    #[error("{0}")]
    Profile(ProfileError),
    /// A profile's `extends` names no profile that exists, or profiles extend each other.
    #[error("{profile}: extends {extends:?}: {message}")]
    Extends {
        /// The profile that extends.
        profile: String,
        /// What it extends.
        extends: String,
        /// What is wrong.
        message: String,
    },
    /// The profile's photo cannot be read.
    #[error("{profile}: photo: cannot read {path}: {problem}")]
    ReadPhoto {
        /// The profile.
        profile: String,
        /// The photo file.
        path: PathBuf,
        /// Why.
        problem: FileProblem,
    },
    /// The photo is larger than the card holds.
    #[error("{profile}: photo: {path} is {size} bytes; the card holds a photo of at most {MAX_PHOTO_BYTES} bytes (its EF 0002 must stay readable); write a smaller JPEG 2000 file")]
    PhotoTooLarge {
        /// The profile.
        profile: String,
        /// The photo file.
        path: PathBuf,
        /// Its size (at least).
        size: u64,
    },
    /// The profile's photo is not JPEG 2000.
    #[error("{profile}: photo: {path} is not a JPEG 2000 (JP2) file; convert it, e.g. `opj_compress -i face.png -o face.jp2`")]
    PhotoFormat {
        /// The profile.
        profile: String,
        /// The photo file.
        path: PathBuf,
    },
    /// Keys or certificates could not be made.
    #[error("{profile}: cannot issue the card")]
    Issue {
        /// The profile.
        profile: String,
        /// Why.
        source: PkiError,
    },
    /// The state file is not valid (the message names file, line and column).
    #[error("{0}")]
    StateSyntax(String),
    /// The state file belongs to another card or is inconsistent.
    #[error("{path}: {message}")]
    StateMismatch {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The state file cannot be read (it is not a regular file, too large, not UTF-8).
    #[error("cannot read state file {path}: {problem}")]
    ReadState {
        /// The state file.
        path: PathBuf,
        /// Why.
        problem: FileProblem,
    },
    /// The state file cannot be read or written.
    #[error("cannot {action} state file {path}")]
    StateIo {
        /// "read" or "write".
        action: &'static str,
        /// The state file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process holds the card of this state file.
    #[error("state file {path} is in use by {holder} (lock {lock}); stop that process first, or give this card a state_file of its own")]
    Locked {
        /// The state file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// "process 1234", as the lock file says.
        holder: String,
    },
    /// The card was loaded read-only (`inspect`) and something tried to save its state.
    #[error("state file {path}: this card was opened read-only; its state is not saved")]
    ReadOnly {
        /// The state file.
        path: PathBuf,
    },
}

impl LoadError {
    /// True when the input (profile, photo, state file) is at fault: exit code 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            LoadError::ReadProfile { problem, .. } | LoadError::ReadPhoto { problem, .. } | LoadError::ReadState { problem, .. } => {
                problem.is_bad_input()
            }
            LoadError::Profile(_)
            | LoadError::Extends { .. }
            | LoadError::PhotoFormat { .. }
            | LoadError::PhotoTooLarge { .. }
            | LoadError::StateSyntax(_)
            | LoadError::StateMismatch { .. } => true,
            LoadError::Issue { .. } | LoadError::StateIo { .. } | LoadError::Locked { .. } | LoadError::ReadOnly { .. } => false,
        }
    }
}

impl From<ProfileError> for LoadError {
    fn from(e: ProfileError) -> LoadError {
        LoadError::Profile(e)
    }
}

type Result<T, E = LoadError> = std::result::Result<T, E>;

/// A card with where its state lives.
pub struct LoadedCard {
    /// The card.
    pub card: Card,
    /// The state file, if the profile names one.
    pub state_file: Option<PathBuf>,
    /// A name for logs (the profile's file name).
    pub name: String,
    /// The holder as printed on the card.
    pub holder: mynasim_simulator::profile::Holder,
    /// The card's expiry date.
    pub expires: time::Date,
    /// The state file's lock, held as long as this card lives; `None` without a state file
    /// or when read-only.
    lock: Option<Arc<StateLock>>,
    /// Loaded by [`load_card_read_only`]: never saves.
    read_only: bool,
}

impl LoadedCard {
    /// Answers one command with its state change already durable: a real card writes its
    /// EEPROM before it answers, so a wrong PIN's spent try is on disk before `63 Cx`
    /// leaves. If the state cannot be saved, the answer becomes `65 81` (memory failure)
    /// and the failure is logged.
    pub fn answer(&mut self, apdu: &[u8], response: &mut Vec<u8>) {
        self.card.process(apdu, response);
        if let Err(e) = self.save_if_changed() {
            tracing::error!(card = %self.name, "{e}; answering 65 81 (memory failure)");
            response.clear();
            response.extend_from_slice(&mynasim_simulator::Sw::MEMORY_FAILURE.to_bytes());
        }
    }

    /// Writes the persistent state if it changed since the last call.
    pub fn save_if_changed(&mut self) -> Result<()> {
        if self.card.take_state_changed() {
            if let Some(path) = &self.state_file {
                if self.read_only {
                    return Err(LoadError::ReadOnly { path: path.clone() });
                }
                save_state(path, &self.card.persistent_state())?;
            }
        }
        Ok(())
    }

    /// The lock file this card holds, if any.
    pub fn lock_file(&self) -> Option<&Path> {
        self.lock.as_deref().map(|l| l.path.as_path())
    }
}

/// The exclusive `flock` on `<state file>.lock`. Dropped: the lock file is removed (while
/// still locked, so a process that opened it meanwhile sees it is gone and retries) and
/// the lock released.
struct StateLock {
    path: PathBuf,
    _guard: nix::fcntl::Flock<std::fs::File>,
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The locks this process holds, by lock-file path.
fn held_locks() -> &'static Mutex<std::collections::HashMap<PathBuf, Weak<StateLock>>> {
    static HELD: std::sync::OnceLock<Mutex<std::collections::HashMap<PathBuf, Weak<StateLock>>>> = std::sync::OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// Locks the card of `state` for this process (see the module doc).
fn lock_state(state: &Path) -> Result<Arc<StateLock>> {
    use std::os::unix::fs::MetadataExt;
    let mut name = state.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".lock");
    let path = std::path::absolute(state.with_file_name(name)).unwrap_or_else(|_| state.with_extension("lock"));
    let io = |source| LoadError::StateIo { action: "lock", path: state.to_path_buf(), source };
    let mut held = held_locks().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(lock) = held.get(&path).and_then(Weak::upgrade) {
        return Ok(lock);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // A holder removes the file as it lets go: if the file we locked is no longer at
    // `path`, try again with the new one.
    for _ in 0..100 {
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(guard) => {
                let ours = guard.metadata().map_err(io)?;
                match std::fs::metadata(&path) {
                    Ok(now) if (now.dev(), now.ino()) == (ours.dev(), ours.ino()) => {}
                    _ => continue,
                }
                guard.set_len(0).map_err(io)?;
                (&*guard).write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io)?;
                let lock = Arc::new(StateLock { path: path.clone(), _guard: guard });
                held.retain(|_, l| l.strong_count() > 0);
                held.insert(path, Arc::downgrade(&lock));
                return Ok(lock);
            }
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut pid = String::new();
                let _ = (&mut file).take(32).read_to_string(&mut pid);
                let holder = match pid.trim() {
                    "" => "another process (its pid not yet written)".to_owned(),
                    pid => format!("process {pid}"),
                };
                return Err(LoadError::Locked { path: state.to_path_buf(), lock: path, holder });
            }
            Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
        }
    }
    Err(io(std::io::Error::other("the lock file keeps changing")))
}

/// Reads a file the user named: a regular file of at most `limit` bytes. A FIFO is opened
/// without blocking and refused; a device is refused before a byte is read.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, FileProblem> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new().read(true).custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits()).open(path).map_err(|e| match e
        .kind()
    {
        std::io::ErrorKind::NotFound => FileProblem::Missing,
        std::io::ErrorKind::IsADirectory => FileProblem::NotRegular("directory"),
        _ => FileProblem::Io(e),
    })?;
    let kind = file.metadata().map_err(FileProblem::Io)?.file_type();
    let not_regular = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("directory")
    } else if kind.is_fifo() {
        Some("FIFO (named pipe)")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("device")
    } else if kind.is_socket() {
        Some("socket")
    } else {
        Some("special file")
    };
    if let Some(what) = not_regular {
        return Err(FileProblem::NotRegular(what));
    }
    let mut data = Vec::new();
    file.take(limit + 1).read_to_end(&mut data).map_err(FileProblem::Io)?;
    if data.len() as u64 > limit {
        return Err(FileProblem::TooLarge { limit });
    }
    Ok(data)
}

/// [`read_file`] of UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileProblem> {
    String::from_utf8(read_file(path, limit)?).map_err(|e| FileProblem::NotUtf8 { offset: e.utf8_error().valid_up_to() })
}

/// Today's date in Japan (the card's issuing clock).
pub fn today_in_japan() -> time::Date {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::now_utc().to_offset(jst).date()
}

/// Loads a profile file (`None` = the built-in default card), locking its state file and
/// creating it if missing.
pub fn load_card(profile: Option<&Path>, cache: &mut dyn KeyCache) -> Result<LoadedCard> {
    load_card_with(profile, cache, false)
}

/// Loads a profile file to look at it (`inspect`): no lock is taken, a missing state file
/// is not created (the profile's counters apply), nothing is ever written, so it works in
/// a read-only folder and beside a serving card.
pub fn load_card_read_only(profile: Option<&Path>, cache: &mut dyn KeyCache) -> Result<LoadedCard> {
    load_card_with(profile, cache, true)
}

fn load_card_with(profile: Option<&Path>, cache: &mut dyn KeyCache, read_only: bool) -> Result<LoadedCard> {
    match profile {
        Some(path) => {
            let parsed = read_profile(path)?;
            load(parsed, &path.display().to_string(), cache, read_only)
        }
        None => load(Profile::default(), "default", cache, read_only),
    }
}

/// Reads a profile file with everything it `extends`, merged (the file's own fields win).
/// Relative paths (`photo`, `state_file`) become absolute, relative to the file that
/// wrote them.
pub fn read_profile(path: &Path) -> Result<Profile> {
    read_profile_chain(path, &mut Vec::new())
}

fn read_profile_chain(path: &Path, seen: &mut Vec<PathBuf>) -> Result<Profile> {
    let text = read_text(path, MAX_PROFILE_BYTES).map_err(|problem| LoadError::ReadProfile { path: path.to_path_buf(), problem })?;
    let name = path.display().to_string();
    let parsed = Profile::from_yaml(&text, &name)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    seen.push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
    extend(parsed, &dir, &name, seen)
}

/// Resolves `profile.extends` (looked up from `dir`, see [`find_profile`]) and makes the
/// profile's relative paths absolute against `dir`. `name` names the profile in errors.
pub fn resolve_profile(profile: Profile, dir: &Path, name: &str) -> Result<Profile> {
    extend(profile, dir, name, &mut Vec::new())
}

fn extend(mut profile: Profile, dir: &Path, name: &str, seen: &mut Vec<PathBuf>) -> Result<Profile> {
    let absolute = |file: Option<String>| file.map(|f| dir.join(f).display().to_string());
    profile.photo = absolute(profile.photo.take());
    profile.state_file = absolute(profile.state_file.take());
    let Some(extends) = profile.extends.take() else {
        return Ok(profile);
    };
    let error = |message: String| LoadError::Extends { profile: name.to_owned(), extends: extends.clone(), message };
    let path = find_profile(&extends, dir).ok_or_else(|| {
        error(format!(
            "no such profile; write a file name relative to {} or the name of a file in a profiles/ folder above it",
            dir.display()
        ))
    })?;
    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if seen.contains(&canonical) {
        return Err(error("profiles extend each other in a cycle; remove one of the `extends:`".to_owned()));
    }
    let base = read_profile_chain(&path, seen)?;
    Ok(base.overlay(profile))
}

/// Where the profile called `name` is, seen from folder `dir`: a path (relative to `dir`)
/// if it has a `/` or ends in `.yaml`; otherwise `NAME.yaml` in the nearest `profiles/`
/// folder in `dir` or above it (so `sign-pin-one-try-left` finds
/// `scenarios/profiles/sign-pin-one-try-left.yaml` from any folder under `scenarios/`).
pub fn find_profile(name: &str, dir: &Path) -> Option<PathBuf> {
    if name.contains('/') || name.ends_with(".yaml") || name.ends_with(".yml") {
        let path = dir.join(name);
        return path.is_file().then_some(path);
    }
    // Walk up from the real folder (`.` has no ancestors of its own).
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors().map(|d| d.join("profiles").join(format!("{name}.yaml"))).find(|p| p.is_file())
}

/// Issues the card a parsed profile describes (its `extends` already resolved and its
/// paths absolute, as [`read_profile`] and [`resolve_profile`] leave them).
/// Its state file is locked and created if missing (see [`load_card`]).
pub fn load_profile(parsed: Profile, name: &str, cache: &mut dyn KeyCache) -> Result<LoadedCard> {
    load(parsed, name, cache, false)
}

fn load(parsed: Profile, name: &str, cache: &mut dyn KeyCache, read_only: bool) -> Result<LoadedCard> {
    let name = name.to_owned();
    let mut personalization = parsed.resolve(today_in_japan(), &name)?;
    if let Some(photo) = &parsed.photo {
        let path = PathBuf::from(photo);
        let data = match read_file(&path, MAX_PHOTO_BYTES as u64) {
            Ok(data) => data,
            Err(FileProblem::TooLarge { .. }) => {
                let size = std::fs::metadata(&path).map_or(MAX_PHOTO_BYTES as u64 + 1, |m| m.len());
                return Err(LoadError::PhotoTooLarge { profile: name, path, size });
            }
            Err(problem) => return Err(LoadError::ReadPhoto { profile: name, path, problem }),
        };
        if !mynasim_simulator::images::is_jp2(&data) {
            return Err(LoadError::PhotoFormat { profile: name, path });
        }
        personalization.photo = Some(data);
    }
    let state_file = parsed.state_file.as_ref().map(PathBuf::from);
    // Locked before the state is read: what is read is what this process then owns.
    let lock = match &state_file {
        Some(path) if !read_only => Some(lock_state(path)?),
        _ => None,
    };
    let mut card = issue_cached(&personalization, cache).map_err(|source| LoadError::Issue { profile: name.clone(), source })?;
    if let Some(path) = &state_file {
        match read_text(path, MAX_STATE_BYTES) {
            Ok(text) => {
                let state = parse_state(&text, path)?;
                card.restore(&state).map_err(|message| LoadError::StateMismatch { path: path.clone(), message })?;
            }
            Err(FileProblem::Missing) if read_only => {}
            Err(FileProblem::Missing) => save_state(path, &card.persistent_state())?,
            Err(FileProblem::Io(source)) => return Err(LoadError::StateIo { action: "read", path: path.clone(), source }),
            Err(problem) => return Err(LoadError::ReadState { path: path.clone(), problem }),
        }
    }
    Ok(LoadedCard { card, state_file, name, holder: personalization.holder, expires: personalization.expires, lock, read_only })
}

/// Parses a state file's text; `path` names it in errors.
pub fn parse_state(text: &str, path: &Path) -> Result<PersistentState> {
    let is_blank = text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if is_blank {
        return Err(LoadError::StateMismatch {
            path: path.to_path_buf(),
            message: "the state file is empty; delete it (the card then starts from the profile's counters) or restore it from a copy"
                .to_owned(),
        });
    }
    let source = path.display().to_string();
    serde_saphyr::from_str(text).map_err(|e| LoadError::StateSyntax(mynasim_simulator::profile::render_yaml_error(&e, &source)))
}

/// Issues the card of `personalization`, or duplicates the one issued before in this
/// process: issuing is deterministic (same personalization, same card) but signs a dozen
/// certificates and records, about 20 ms; a scenario suite issues the same cards again and
/// again.
fn issue_cached(personalization: &mynasim_simulator::profile::Personalization, cache: &mut dyn KeyCache) -> Result<Card, PkiError> {
    static ISSUED: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, Card>>> = std::sync::OnceLock::new();
    let rng = Box::new(rand_chacha::ChaCha20Rng::from_entropy());
    // The personalization's Debug form names every input of the issue (PINs included,
    // which never leave this map).
    let key = format!("{personalization:?}");
    let issued = ISSUED.get_or_init(Default::default);
    if let Some(card) = issued.lock().ok().and_then(|m| m.get(&key).map(|c| c.duplicate(rng.clone()))) {
        return Ok(card);
    }
    let card = issue::issue(personalization, cache, rng)?;
    if let Ok(mut map) = issued.lock() {
        map.insert(key, card.duplicate(Box::new(rand_chacha::ChaCha20Rng::from_entropy())));
    }
    Ok(card)
}

/// Writes the state file atomically.
pub fn save_state(path: &Path, state: &PersistentState) -> Result<()> {
    let io = |source| LoadError::StateIo { action: "write", path: path.to_path_buf(), source };
    let text = serde_saphyr::to_string(state).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let body = format!("# mynasim card state: retry counters and PIN values. Written by mynasim; delete to reset.\n{text}");
    write_atomically(path, body.as_bytes()).map_err(io)
}

/// Write-then-rename with fsync of the file and its directory: a crash leaves the old or
/// the new content, never a mix.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}
