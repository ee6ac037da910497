//! `mynasim apdu`: APDUs to a card in process.

use std::path::PathBuf;

use anyhow::{Context, Result};
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;
use mynasim_harness::transcript;

/// Send APDUs (hex) to a card in process and print the responses.
#[derive(clap::Args)]
pub struct Args {
    /// Card profile (YAML).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Command APDUs in hex, e.g. 00A4040C0AD392F000260100000001.
    apdus: Vec<String>,
}

/// Runs `apdu`: each response printed; the state saved after each command.
pub fn run(args: Args) -> Result<()> {
    let mut loaded = load_card(args.profile.as_deref(), &mut DirKeyCache::default_location())?;
    for text in args.apdus {
        let apdu = mynasim_simulator::apdu::parse_hex(&text).with_context(|| format!("{text:?} is not hex"))?;
        let mut response = Vec::new();
        loaded.answer(&apdu, &mut response);
        outln!("{}", transcript::command(&apdu));
        outln!("{}", transcript::response(&response));
    }
    Ok(())
}
