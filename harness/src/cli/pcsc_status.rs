//! `mynasim pcsc-status`, and asking pcscd which readers hold a card.

use anyhow::{Context, Result};

/// The readers holding a card, once at least `count` do, asked of pcscd (the system's, or
/// the one in PCSCLITE_CSOCK_NAME).
pub fn wait_for_cards(count: usize, timeout: std::time::Duration) -> Result<Vec<String>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let present = reader_states().map(|states| states.into_iter().filter(|(_, p)| *p).map(|(r, _)| r).collect::<Vec<_>>());
        match present {
            Ok(readers) if readers.len() >= count => return Ok(readers),
            Ok(_) | Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(50)),
            Ok(readers) => anyhow::bail!(
                "pcscd shows {} card(s) after {timeout:?}, expected {count}; is vpcd configured for these ports?",
                readers.len()
            ),
            Err(e) => return Err(e).context("pcscd does not answer; is it running?"),
        }
    }
}

/// Every reader of pcscd with whether it holds a card.
fn reader_states() -> Result<Vec<(String, bool)>> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).context("cannot reach pcscd")?;
    let mut names = [0u8; 4096];
    let readers: Vec<std::ffi::CString> = match ctx.list_readers(&mut names) {
        Ok(readers) => readers.map(|r| r.to_owned()).collect(),
        Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
        Err(e) => return Err(e).context("cannot list readers"),
    };
    let mut states: Vec<pcsc::ReaderState> = readers.iter().map(|r| pcsc::ReaderState::new(r.as_c_str(), pcsc::State::UNAWARE)).collect();
    if !states.is_empty() {
        ctx.get_status_change(std::time::Duration::ZERO, &mut states).context("cannot read reader states")?;
    }
    Ok(states.iter().map(|s| (s.name().to_string_lossy().into_owned(), s.event_state().contains(pcsc::State::PRESENT))).collect())
}

/// Runs `pcsc-status`: one line per reader, `present <reader>` or `empty <reader>`.
pub fn run() -> Result<()> {
    for (reader, present) in reader_states()? {
        outln!("{} {reader}", if present { "present" } else { "empty" });
    }
    Ok(())
}
