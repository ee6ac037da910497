//! Loading a card from a profile file: the profile, its photo, its state file, today's date
//! in Japan, keys from the disk cache. Saving state atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mynasim_simulator::pki::KeyCache;
use mynasim_simulator::profile::Profile;
use mynasim_simulator::state::PersistentState;
use mynasim_simulator::{issue, Card};
use rand_core::SeedableRng;

/// A card with where its state lives.
pub struct LoadedCard {
    /// The card.
    pub card: Card,
    /// The state file, if the profile names one.
    pub state_file: Option<PathBuf>,
    /// A name for logs (the profile's file name).
    pub name: String,
    /// The holder's name as on the card (for checks).
    pub holder_name: String,
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
            std::fs::read_to_string(path).with_context(|| format!("cannot read profile {}", path.display()))?,
            path.display().to_string(),
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        None => (String::new(), "default".to_owned(), PathBuf::from(".")),
    };
    let parsed = Profile::from_yaml(&text, &name)?;
    let mut personalization = parsed.resolve(today_in_japan(), &name)?;
    if let Some(photo) = &parsed.photo {
        let path = base.join(photo);
        let data = std::fs::read(&path).with_context(|| format!("{name}: cannot read photo {}", path.display()))?;
        if !mynasim_simulator::images::is_jp2(&data) {
            bail!("{name}: photo {} is not a JPEG 2000 (JP2) file", path.display());
        }
        personalization.photo = Some(data);
    }
    let rng = Box::new(rand_chacha::ChaCha20Rng::from_entropy());
    let mut card = issue::issue(&personalization, cache, rng).with_context(|| format!("{name}: cannot issue the card"))?;
    let state_file = parsed.state_file.as_ref().map(|f| base.join(f));
    if let Some(path) = &state_file {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let source = path.display().to_string();
                let state: PersistentState = serde_saphyr::from_str(&text).map_err(|e| {
                    anyhow::anyhow!(e.render_with_options(serde_saphyr::render_options! { source_name: Some(&source) }))
                })?;
                card.restore(&state).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => save_state(path, &card.persistent_state())?,
            Err(e) => return Err(e).with_context(|| format!("cannot read state file {}", path.display())),
        }
    }
    Ok(LoadedCard { card, state_file, name, holder_name: personalization.holder.name })
}

/// Writes the state file atomically.
pub fn save_state(path: &Path, state: &PersistentState) -> Result<()> {
    let text = serde_saphyr::to_string(state).context("cannot serialise the card state")?;
    let body = format!("# mynasim card state: retry counters and PIN values. Written by mynasim; delete to reset.\n{text}");
    write_atomically(path, body.as_bytes()).with_context(|| format!("cannot write state file {}", path.display()))
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
