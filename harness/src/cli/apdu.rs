//! `mynasim apdu`: APDUs to a card in process.

use std::path::PathBuf;

use anyhow::Result;
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;
use mynasim_harness::transcript;
use mynasim_simulator::decode::Decoder;

/// Send APDUs (hex) to a card in process and print the responses, each exchange named in
/// the card's terms on `#` lines.
#[derive(clap::Args)]
pub struct Args {
    /// Card profile (YAML).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Command APDUs in hex, e.g. 00A4040C0AD392F000260100000001 (spaces allowed).
    #[arg(value_parser = parse_apdu)]
    apdus: Vec<Apdu>,
}

/// A command APDU as given on the command line.
#[derive(Clone, Debug)]
struct Apdu(Vec<u8>);

/// Hex digit pairs, at least a 4-byte header: a wrong one is a usage error (exit code 2).
fn parse_apdu(text: &str) -> Result<Apdu, String> {
    let bytes = mynasim_simulator::apdu::parse_hex(text)
        .ok_or_else(|| "not hex: write pairs of hex digits 0-9 A-F, such as 00A4040C0AD392F000260100000001".to_owned())?;
    if bytes.len() < 4 {
        return Err(format!("an APDU has at least 4 bytes (CLA INS P1 P2), this one {}", bytes.len()));
    }
    Ok(Apdu(bytes))
}

/// Runs `apdu`: each response printed; the state saved after each command.
pub fn run(args: Args) -> Result<()> {
    let mut loaded = load_card(args.profile.as_deref(), &mut DirKeyCache::default_location())?;
    for Apdu(apdu) in args.apdus {
        let mut decoder = Decoder::at(&loaded.card);
        outln!("# {}", decoder.command(&apdu));
        let mut response = Vec::new();
        loaded.answer(&apdu, &mut response);
        outln!("{}", transcript::command(&apdu));
        outln!("{}", transcript::response(&response));
        outln!("#   {}", decoder.response(&response));
    }
    Ok(())
}
