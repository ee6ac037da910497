//! Loading a card from a profile file: the profile, its photo, its state file, today's date
//! in Japan, keys from the disk cache. Saving state atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use mynasim_simulator::pki::{KeyCache, PkiError};
use mynasim_simulator::profile::{Profile, ProfileError};
use mynasim_simulator::state::PersistentState;
use mynasim_simulator::{issue, Card};
use rand_core::SeedableRng;

/// Why a card could not be loaded or its state saved.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The profile file cannot be read.
    #[error("cannot read profile {path}")]
    ReadProfile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
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
    #[error("{profile}: cannot read photo {path}")]
    ReadPhoto {
        /// The profile.
        profile: String,
        /// The photo file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The profile's photo is not JPEG 2000.
    #[error("{profile}: photo {path} is not a JPEG 2000 (JP2) file")]
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
}

impl LoadError {
    /// True when the input (profile, photo, state file) is at fault: exit code 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            LoadError::Profile(_)
                | LoadError::Extends { .. }
                | LoadError::PhotoFormat { .. }
                | LoadError::StateSyntax(_)
                | LoadError::StateMismatch { .. }
        )
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
                save_state(path, &self.card.persistent_state())?;
            }
        }
        Ok(())
    }
}

/// Today's date in Japan (the card's issuing clock).
pub fn today_in_japan() -> time::Date {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::now_utc().to_offset(jst).date()
}

/// Loads a profile file (`None` = the built-in default card).
pub fn load_card(profile: Option<&Path>, cache: &mut dyn KeyCache) -> Result<LoadedCard> {
    match profile {
        Some(path) => {
            let parsed = read_profile(path)?;
            load_profile(parsed, &path.display().to_string(), cache)
        }
        None => load_profile(Profile::default(), "default", cache),
    }
}

/// Reads a profile file with everything it `extends`, merged (the file's own fields win).
/// Relative paths (`photo`, `state_file`) become absolute, relative to the file that
/// wrote them.
pub fn read_profile(path: &Path) -> Result<Profile> {
    read_profile_chain(path, &mut Vec::new())
}

fn read_profile_chain(path: &Path, seen: &mut Vec<PathBuf>) -> Result<Profile> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::ReadProfile { path: path.to_path_buf(), source })?;
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
        return Err(error("profiles extend each other in a cycle".to_owned()));
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
pub fn load_profile(parsed: Profile, name: &str, cache: &mut dyn KeyCache) -> Result<LoadedCard> {
    let name = name.to_owned();
    let mut personalization = parsed.resolve(today_in_japan(), &name)?;
    if let Some(photo) = &parsed.photo {
        let path = PathBuf::from(photo);
        let data = std::fs::read(&path).map_err(|source| LoadError::ReadPhoto { profile: name.clone(), path: path.clone(), source })?;
        if !mynasim_simulator::images::is_jp2(&data) {
            return Err(LoadError::PhotoFormat { profile: name, path });
        }
        personalization.photo = Some(data);
    }
    let mut card = issue_cached(&personalization, cache).map_err(|source| LoadError::Issue { profile: name.clone(), source })?;
    let state_file = parsed.state_file.as_ref().map(PathBuf::from);
    if let Some(path) = &state_file {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let source = path.display().to_string();
                let state: PersistentState = serde_saphyr::from_str(&text).map_err(|e| {
                    LoadError::StateSyntax(e.render_with_options(serde_saphyr::render_options! { source_name: Some(&source) }))
                })?;
                card.restore(&state).map_err(|message| LoadError::StateMismatch { path: path.clone(), message })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => save_state(path, &card.persistent_state())?,
            Err(source) => return Err(LoadError::StateIo { action: "read", path: path.clone(), source }),
        }
    }
    Ok(LoadedCard { card, state_file, name, holder: personalization.holder, expires: personalization.expires })
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
