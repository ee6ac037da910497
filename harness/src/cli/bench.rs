//! `mynasim bench`: the APDU and signing paths against their ceilings, side by side.

use anyhow::Result;
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;

/// Measure the APDU and signing paths against their ceilings, side by side in one run.
///
/// In process: SELECT + READ BINARY per APDU, and signatures per second for each
/// COMPUTE DIGITAL SIGNATURE P1 against OpenSSL's own RSA-2048 signing. With --pcsc:
/// the READ BINARY round trip through a private pcscd, the card against a trivial
/// 90 00 card (needs root or user namespaces, pcscd and vsmartcard-vpcd).
#[derive(clap::Args)]
pub struct Args {
    /// Seconds per signing measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Also measure through a private pcscd.
    #[arg(long)]
    pcsc: bool,
    /// Round trips per card through pcscd.
    #[arg(long, default_value_t = 2000)]
    rounds: usize,
    /// Serve the cards without TCP_NODELAY/TCP_QUICKACK, to see the stall they remove
    /// (use few --rounds: about 44 ms each).
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

/// Runs `bench`.
pub fn run(args: Args) -> Result<()> {
    match &args.scenarios {
        Some(dir) => scenario_bench(dir, args.suite_runs),
        None => run_bench(args.seconds, args.pcsc, args.rounds, !args.no_socket_fix),
    }
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

fn run_bench(seconds: f64, pcsc: bool, rounds: usize, socket_fix: bool) -> Result<()> {
    use mynasim_harness::bench;
    if !(seconds > 0.0 && seconds.is_finite()) {
        anyhow::bail!("--seconds must be a positive number");
    }
    let duration = std::time::Duration::from_secs_f64(seconds);
    let mut loaded = load_card(None, &mut DirKeyCache::default_location())?;
    let card = &mut loaded.card;
    bench::apdu_ns(card, 100_000);
    outln!("in process, SELECT EF + READ BINARY: {:.0} ns per APDU", bench::apdu_ns(card, 1_000_000));
    bench::prepare_for_signing(card, b"1234")?;
    let speed = bench::openssl_speed_signs_per_second(seconds.ceil() as u32)?;
    outln!("`openssl speed rsa2048`: {speed:.0} signs/s");
    let rates = bench::signing_side_by_side(card, duration)?;
    outln!(
        "OpenSSL RSA-2048 PKCS#1 sign in this process (ceiling): {:.0} signs/s = {:.2} x openssl speed",
        rates.ceiling,
        rates.ceiling / speed
    );
    for (mode, rate) in &rates.modes {
        outln!(
            "80 2A P1={:02X} ({mode:?}): {rate:.0} signs/s = {:.2} x the ceiling, {:.2} x openssl speed",
            mode.p1(),
            rate / rates.ceiling,
            rate / speed
        );
    }
    if pcsc {
        let exe = std::env::current_exe()?;
        let result = bench::through_pcscd(&exe, rounds, socket_fix)?;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let fix = if socket_fix { "" } else { " (cards without TCP_NODELAY/QUICKACK)" };
        outln!("through pcscd + vpcd{fix}, READ BINARY round trip over {rounds} APDUs each, alternating:");
        outln!("  mynasim card: median {:.3} ms, p99 {:.3} ms", ms(result.card.median), ms(result.card.p99));
        outln!("  90 00 card:   median {:.3} ms, p99 {:.3} ms", ms(result.null.median), ms(result.null.p99));
        outln!(
            "  ratio (card / null): median {:.2}, p99 {:.2}",
            ms(result.card.median) / ms(result.null.median),
            ms(result.card.p99) / ms(result.null.p99)
        );
        outln!(
            "  80 2A P1=00 through pcscd ({} signatures): median {:.3} ms ({:.0} signs/s), p99 {:.3} ms",
            rounds / 10 + 1,
            ms(result.sign.median),
            1e3 / ms(result.sign.median),
            ms(result.sign.p99)
        );
    }
    Ok(())
}
