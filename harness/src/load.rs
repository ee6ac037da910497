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
        matches!(self, LoadError::Profile(_) | LoadError::PhotoFormat { .. } | LoadError::StateSyntax(_) | LoadError::StateMismatch { .. })
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
    let (text, name, base) = match profile {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|source| LoadError::ReadProfile { path: path.to_path_buf(), source })?,
            path.display().to_string(),
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        None => (String::new(), "default".to_owned(), PathBuf::from(".")),
    };
    let parsed = Profile::from_yaml(&text, &name)?;
    let mut personalization = parsed.resolve(today_in_japan(), &name)?;
    if let Some(photo) = &parsed.photo {
        let path = base.join(photo);
        let data = std::fs::read(&path).map_err(|source| LoadError::ReadPhoto { profile: name.clone(), path: path.clone(), source })?;
        if !mynasim_simulator::images::is_jp2(&data) {
            return Err(LoadError::PhotoFormat { profile: name, path });
        }
        personalization.photo = Some(data);
    }
    let rng = Box::new(rand_chacha::ChaCha20Rng::from_entropy());
    let mut card =
        issue::issue(&personalization, cache, rng).map_err(|source| LoadError::Issue { profile: name.clone(), source })?;
    let state_file = parsed.state_file.as_ref().map(|f| base.join(f));
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
