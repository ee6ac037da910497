//! `mynasim check`: the real-client checks against a card in a private pcscd.

use std::path::PathBuf;

use anyhow::{Context, Result};
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;
use mynasim_harness::sandbox::{CardSource, Sandbox, SandboxOptions};

/// Run the real-client checks (OpenSC, pkcs11-tool + openssl, jpki-cli) against a card in
/// a private pcscd and print a summary. Exit code 1 if any check fails.
///
/// The last check locks the card's auth PIN (the card is thrown away afterwards).
#[derive(clap::Args)]
pub struct Args {
    /// Card profile (YAML); none = the default card.
    profile: Option<PathBuf>,
}

/// Runs `check`.
pub fn run(args: Args) -> Result<()> {
    run_checks(args.profile)
}

fn run_checks(profile: Option<PathBuf>) -> Result<()> {
    use mynasim_harness::checks::{CheckContext, CHECKS};
    let twin = load_card(profile.as_deref(), &mut DirKeyCache::default_location())?;
    let mut options = SandboxOptions::new(std::env::current_exe().context("cannot find the mynasim binary")?);
    options.cards = vec![CardSource::Profile(profile)];
    let started = std::time::Instant::now();
    let sandbox = Sandbox::start(&options)?;
    outln!("card {} in a private pcscd, ready in {:.2} s", twin.name, started.elapsed().as_secs_f64());
    let cx = CheckContext { sandbox: &sandbox, card: &twin, work: tempfile::tempdir()? };
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in CHECKS {
        match check(&cx) {
            Ok(detail) => {
                passed += 1;
                outln!("  ok    {name}: {detail}");
            }
            Err(e) => {
                failed += 1;
                outln!("  FAIL  {name}: {e:#}");
            }
        }
    }
    outln!("{passed} passed, {failed} failed");
    if failed > 0 {
        anyhow::bail!("{failed} real-client check(s) failed");
    }
    Ok(())
}

