//! Real-card timing: the `latency: contactless` and `latency: contact` profiles (scenario
//! step `fault`, whose tables of estimates live in [`crate::slot::TimingProfile`]) measured through pcscd against
//! what it configures. Two scenarios run the same commands, one with the profile: the
//! added latency per command class (measured with the profile less without, medians of
//! the scenario transcript's round trips) against the configured delay.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::scenario::result::ScenarioResult;
use crate::slot::TimingProfile;

/// The command classes measured, by INS; their configured delays are the profile's own
/// ([`crate::slot::TimingProfile::added_ms`]).
pub const CLASSES: [(&str, u8); 4] = [("SELECT", 0xA4), ("READ BINARY", 0xB0), ("VERIFY", 0x20), ("COMPUTE DIGITAL SIGNATURE", 0x2A)];

/// One command class: the configured delay and the measured one.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassTiming {
    /// `READ BINARY`.
    pub class: &'static str,
    /// Configured added delay, ms.
    pub configured_ms: f64,
    /// Median round trip with the profile less without, ms.
    pub added_ms: f64,
}

fn scenario(rounds: usize, profile: Option<TimingProfile>) -> String {
    let mut s = String::from("name: timing\nsteps:\n");
    if let Some(profile) = profile {
        s.push_str(&format!("  - fault: {{ latency: {} }}\n", profile.name()));
    }
    for _ in 0..rounds {
        s.push_str("  - apdu: 00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01\n");
        s.push_str("  - apdu: 00 A4 02 0C 02 00 06\n");
        s.push_str("  - apdu: 00 B0 00 00 20\n");
        s.push_str("  - apdu: 00 20 00 98 ${len(card.pins.auth)} ${card.pins.auth}\n");
        s.push_str(&format!(
            "  - apdu: {}\n",
            crate::transcript::spaced_hex(&super::sign_apdu(mynasim_simulator::command::SignMode::Pkcs1Raw))
        ));
    }
    s
}

/// The part of `mynasim run --json`'s output read here.
#[derive(serde::Deserialize)]
struct Summary {
    scenarios: Vec<ScenarioResult>,
}

/// Runs a scenario through pcscd (`mynasim run --json`) and returns its result.
fn run(mynasim: &Path, text: &str) -> Result<ScenarioResult> {
    let dir = tempfile::Builder::new().prefix("mynasim-bench-timing-").tempdir()?;
    let file = dir.path().join("timing.yaml");
    std::fs::write(&file, text)?;
    let output = Command::new(mynasim).args(["--log", "warn", "run", "--json"]).arg(&file).stdin(Stdio::null()).output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let summary: Summary = serde_json::from_str(text.trim()).with_context(|| format!("bad `mynasim run --json` output {:.300}", text))?;
    let result = summary.scenarios.into_iter().next().context("no scenario result")?;
    if result.failure.is_some() {
        bail!("the timing scenario failed: {:?}", result.failure);
    }
    Ok(result)
}

fn median_of(result: &ScenarioResult, ins: u8) -> f64 {
    let ins = format!("{ins:02X}");
    // The first exchange also pays for the client's first transmit on a new connection.
    let mut ms: Vec<f64> = result
        .transcript
        .iter()
        .skip(1)
        .filter(|e| e.command.split_whitespace().nth(1).or_else(|| e.command.get(2..4)) == Some(ins.as_str()))
        .map(|e| e.micros as f64 / 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    super::report::quantile_sorted(&ms, 0.5)
}

/// Measures each class over `rounds` repetitions, with and without the profile.
pub fn profile(mynasim: &Path, profile: TimingProfile, rounds: usize) -> Result<Vec<ClassTiming>> {
    let plain = run(mynasim, &scenario(rounds, None))?;
    let slow = run(mynasim, &scenario(rounds, Some(profile)))?;
    Ok(CLASSES
        .iter()
        .map(|(class, ins)| ClassTiming {
            class,
            configured_ms: profile.added_ms(*ins) as f64,
            added_ms: median_of(&slow, *ins) - median_of(&plain, *ins),
        })
        .collect())
}
