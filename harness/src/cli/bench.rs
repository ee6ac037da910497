//! `mynasim bench`: the APDU and signing paths against their ceilings, side by side.

use anyhow::{Context, Result};

/// Measure every path against its ceiling or peer, side by side in one run.
///
/// In process: APDU cost, signing against OpenSSL one core, 1 to 1,000 cards signing at
/// once, memory per card, issue to first APDU. Through a private pcscd (needs root or user
/// namespaces, pcscd and vsmartcard-vpcd): READ BINARY against a trivial 90 00 card and
/// vsmartcard's vicc, signing, 1 to 8 cards at once, SoftHSM2 against OpenSC + mynasim
/// through PKCS#11, `serve --private` and `run` start-up, the contactless timing profile.
/// A progress line per measurement goes to standard error, the table to standard output.
/// Exit code 1 when a target is missed, unless --no-verdict.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds per compared pair (split in interleaved slices).
    #[arg(long, default_value_t = 3.0, value_parser = positive_seconds)]
    seconds: f64,
    /// Only the in-process paths.
    #[arg(long)]
    in_process: bool,
    /// Kept for old scripts: the pcscd paths are measured by default now.
    #[arg(long, hide = true)]
    pcsc: bool,
    /// Alternating round trips per card through pcscd.
    #[arg(long, default_value_t = 2000)]
    rounds: usize,
    /// Every path, tiny counts, seconds in all (CI: the figures only show nothing rotted).
    #[arg(long)]
    smoke: bool,
    /// Write the report as JSON (the shape BENCHMARKS.md documents) to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
    /// Draw the SVG charts into this folder.
    #[arg(long, value_name = "DIR")]
    charts: Option<std::path::PathBuf>,
    /// Exit 0 even when a target is missed (noisy machines, CI smoke).
    #[arg(long)]
    no_verdict: bool,
    /// Instead: the old single-pair READ BINARY measurement with the cards served without
    /// TCP_NODELAY/TCP_QUICKACK, to see the stall they remove (use few --rounds).
    #[arg(long)]
    no_socket_fix: bool,
    /// Instead: measure the scenario harness on this suite (e.g. scenarios/): the whole
    /// suite's time, each scenario's sandbox start to its first step, and an APDU-only
    /// scenario in process.
    #[arg(long, value_name = "DIR")]
    scenarios: Option<std::path::PathBuf>,
    /// With --scenarios: how many times to run the suite.
    #[arg(long, default_value_t = 3)]
    suite_runs: usize,
}

/// `--seconds`: a positive number, checked while the arguments are parsed (exit code 2).
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err("write a positive number of seconds, such as 3 or 0.5".to_owned()),
    }
}

/// A target was missed (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0} benchmark target(s) missed (--no-verdict to exit 0 anyway)")]
pub struct TargetsMissed(pub usize);

/// Runs `bench`.
pub fn run(args: Args) -> Result<()> {
    if let Some(dir) = &args.scenarios {
        return scenario_bench(dir, args.suite_runs);
    }
    if args.no_socket_fix {
        return stall_bench(args.rounds);
    }
    let options = mynasim_harness::bench::BenchOptions {
        mynasim: std::env::current_exe()?,
        seconds: if args.smoke { args.seconds.min(0.6) } else { args.seconds },
        rounds: if args.smoke { args.rounds.min(200) } else { args.rounds },
        in_process_only: args.in_process,
        smoke: args.smoke,
    };
    let report = mynasim_harness::bench::measure(&options)?;
    outln!("{:<44} {:>12} {:<14} {:>9}  {:<8} compared with", "measurement", "figure", "unit", "ratio", "verdict");
    for m in &report.measurements {
        let ratio = m.ratio.map_or(String::new(), |r| format!("{r:.3}"));
        let verdict = match m.verdict {
            mynasim_harness::bench::report::Verdict::Pass => "pass",
            mynasim_harness::bench::report::Verdict::Fail => "FAIL",
            mynasim_harness::bench::report::Verdict::Info => "-",
        };
        let reference = m.reference.as_ref().map_or(String::new(), |r| format!("{} ({:.1})", r.name, r.value));
        outln!("{:<44} {:>12.3} {:<14} {:>9}  {:<8} {reference}", m.name, m.value, m.unit, ratio, verdict);
    }
    for s in &report.skipped {
        outln!("skipped: {s}");
    }
    for e in &report.errors {
        outln!("FAILED: {e}");
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.charts {
        for file in mynasim_harness::bench::charts::write_all(&report, dir)? {
            eprintln!("bench: wrote {}", file.display());
        }
    }
    if !report.errors.is_empty() {
        anyhow::bail!("{} benchmark path(s) failed to run (a bug, whatever the verdicts)", report.errors.len());
    }
    let failures = report.failures().len();
    if failures > 0 && !args.no_verdict {
        return Err(TargetsMissed(failures).into());
    }
    Ok(())
}

/// `bench-drive`: the PC/SC driver child (see `mynasim_harness::bench::drive`).
#[derive(clap::Args)]
pub struct DriveArgs {
    /// The operation on each reader, in reader order.
    #[arg(long = "op", required = true)]
    ops: Vec<mynasim_harness::bench::drive::Op>,
    /// Concurrent mode: seconds.
    #[arg(long, conflicts_with = "rounds")]
    seconds: Option<f64>,
    /// Alternating mode: rounds.
    #[arg(long)]
    rounds: Option<usize>,
    /// Alternating mode: reader i sends every N rounds (one per reader).
    #[arg(long)]
    every: Vec<usize>,
}

/// Runs `bench-drive`.
pub fn drive(args: DriveArgs) -> Result<()> {
    use mynasim_harness::bench::drive::{self, Mode};
    let mode = match (args.seconds, args.rounds) {
        (Some(s), _) => Mode::Concurrent(std::time::Duration::from_secs_f64(s)),
        (None, rounds) => Mode::Alternate { rounds: rounds.unwrap_or(0), every: args.every },
    };
    drive::run(&args.ops, &mode, &mut std::io::stdin().lock(), &mut std::io::stdout().lock())
}

/// `bench-pkcs11`: the PKCS#11 signing loop child (see `mynasim_harness::bench::peers`).
#[derive(clap::Args)]
pub struct Pkcs11Args {
    /// The PKCS#11 module.
    #[arg(long)]
    module: std::path::PathBuf,
    /// The user PIN.
    #[arg(long)]
    pin: String,
    /// Seconds of signing.
    #[arg(long)]
    seconds: f64,
}

/// Runs `bench-pkcs11`.
pub fn pkcs11(args: Pkcs11Args) -> Result<()> {
    let result = mynasim_harness::bench::peers::pkcs11_loop(&args.module, &args.pin, std::time::Duration::from_secs_f64(args.seconds))?;
    outln!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// Runs `bench-first-apdu`: issue the default card (key cache from `MYNASIM_KEY_CACHE`)
/// and answer a SELECT; prints the seconds that took.
pub fn first_apdu() -> Result<()> {
    let cache = mynasim_harness::keycache::DirKeyCache::default_location();
    let seconds = mynasim_harness::bench::startup::in_process_to_first_apdu(cache.dir())?;
    outln!("{seconds}");
    Ok(())
}

fn stall_bench(rounds: usize) -> Result<()> {
    let exe = std::env::current_exe()?;
    let result = mynasim_harness::bench::through_pcscd(&exe, rounds, false)?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    outln!("through pcscd + vpcd (cards without TCP_NODELAY/QUICKACK), READ BINARY over {rounds} APDUs each, alternating:");
    outln!("  mynasim card: median {:.3} ms, p99 {:.3} ms", ms(result.card.median), ms(result.card.p99));
    outln!("  90 00 card:   median {:.3} ms, p99 {:.3} ms", ms(result.null.median), ms(result.null.p99));
    Ok(())
}

/// The median and 90th percentile of `values` (sorted here).
fn median_p90(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values.get(((values.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    (at(0.5), at(0.9))
}

fn scenario_bench(dir: &std::path::Path, runs: usize) -> Result<()> {
    use mynasim_harness::scenario::result::{Mode, Outcome};
    use mynasim_harness::scenario::suite::{self, SuiteOptions};
    let scenarios = super::run::load_all(&[dir.to_path_buf()])?;
    let jobs = std::thread::available_parallelism().map_or(2, usize::from);
    let options = SuiteOptions { mynasim: std::env::current_exe()?, jobs, in_process: false, worker: Default::default() };
    outln!("{} scenarios in {}, {jobs} at a time, {runs} runs", scenarios.len(), dir.display());
    let mut suite_seconds = Vec::new();
    let mut setups = Vec::new();
    let mut failed = 0;
    for _ in 0..runs.max(1) {
        let started = std::time::Instant::now();
        let results = suite::run_all(&scenarios, &options, &|_| {});
        suite_seconds.push(started.elapsed().as_secs_f64());
        failed += results.iter().filter(|r| r.outcome == Outcome::Failed).count();
        setups.extend(results.iter().filter(|r| r.mode == Mode::Pcsc && r.outcome != Outcome::Skipped).map(|r| r.setup_seconds));
    }
    let (median, p90) = median_p90(&mut suite_seconds);
    outln!(
        "whole suite: median {median:.1} s, slowest of {} runs {:.1} s ({failed} scenario failures in all)",
        suite_seconds.len(),
        suite_seconds.last().copied().unwrap_or(0.0)
    );
    let _ = p90;
    let (median, p90) = median_p90(&mut setups);
    outln!(
        "sandbox start to first step (namespaces, pcscd, cards present), {} scenarios: median {:.0} ms, p90 {:.0} ms",
        setups.len(),
        median * 1e3,
        p90 * 1e3
    );
    // An APDU-only scenario in process, many times.
    if let Some(apdu_only) = scenarios.iter().find(|s| !s.needs_pcscd) {
        let worker = mynasim_harness::scenario::worker::WorkerOptions::default();
        let mut times = Vec::new();
        for _ in 0..200 {
            let started = std::time::Instant::now();
            let result = mynasim_harness::scenario::worker::run_in_process(apdu_only, &worker);
            times.push(started.elapsed().as_secs_f64());
            anyhow::ensure!(result.outcome == Outcome::Passed, "{} failed in process", apdu_only.file.display());
        }
        let (median, p90) = median_p90(&mut times);
        outln!(
            "in process, {} ({} steps): median {:.2} ms, p90 {:.2} ms over 200 runs",
            apdu_only.file.display(),
            apdu_only.doc.steps.len(),
            median * 1e3,
            p90 * 1e3
        );
    }
    Ok(())
}
