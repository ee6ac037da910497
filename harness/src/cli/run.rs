//! `mynasim run`: check every scenario file, run them `--jobs` at a time, print progress
//! and a summary, write the reports asked for.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use mynasim_harness::scenario::report::{json, junit, summary, transcript};
use mynasim_harness::scenario::result::{Outcome, ScenarioResult};
use mynasim_harness::scenario::suite::{self, SuiteOptions};
use mynasim_harness::scenario::worker::{self, WorkerOptions};
use mynasim_harness::scenario::{discover, load, LoadedScenario};

/// Run scenarios: YAML files that drive clients against cards in private pcscds, check
/// the cards' state and inject faults. Prints a line per scenario and a summary.
///
/// Folders are searched for *.yaml (profiles/ folders skipped). Every file is checked
/// before anything runs; a bad file is an error naming its line and column (exit 2).
/// Each pcscd scenario runs in its own mount, network and PID namespaces; scenarios with
/// APDU steps only run in process when pcscd is unavailable (or with --in-process).
/// Exit codes: 0 all passed, 1 a scenario failed, 2 bad input. The file format and every
/// step are described in README.md, section "Scenarios".
#[derive(clap::Args)]
pub struct Args {
    /// Scenario files or folders (default: scenarios/).
    paths: Vec<PathBuf>,
    /// Scenarios at once (default: the number of cores).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Run every scenario in process, without pcscd (those that need it are skipped).
    #[arg(long)]
    in_process: bool,
    /// Write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print the results as JSON on standard output (the summary goes to standard error).
    #[arg(long)]
    json: bool,
    /// Write one APDU transcript per scenario into this folder (replayable with scriptor).
    #[arg(long, value_name = "DIR")]
    transcript_dir: Option<PathBuf>,
    /// Show PIN bytes in transcripts and reports.
    #[arg(long)]
    show_pins: bool,
    /// Run bench blocks longer or shorter: their `times`, `for` and `warmup` are multiplied
    /// by FACTOR (at least one iteration), and above 1 the scenarios' time limits too.
    /// The shipped benchmarks run for a few seconds in CI; `--bench-scale 20` measures
    /// them over a longer stretch.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = positive_factor)]
    bench_scale: f64,
    /// Only check the files: parse them, resolve cards and variables, run nothing.
    #[arg(long)]
    check: bool,
    /// Run one scenario inside the current namespaces and print its result as JSON
    /// (what `mynasim run` starts for each scenario).
    #[arg(long, hide = true, value_name = "FILE")]
    worker: Option<PathBuf>,
}

fn positive_factor(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("{text:?} is not a positive number; write e.g. 0.5, 1 or 20")),
    }
}

/// Some scenario files are invalid (exit code 2); their errors were printed.
#[derive(Debug, thiserror::Error)]
#[error("{0} scenario file(s) are invalid; nothing ran")]
pub struct BadScenarios(pub usize);

/// Some scenarios failed (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("{0} scenario(s) failed")]
pub struct ScenariosFailed(pub usize);

/// Loads every file; all errors are printed before giving up.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<LoadedScenario>> {
    let paths = if paths.is_empty() { vec![PathBuf::from("scenarios")] } else { paths.to_vec() };
    let files = discover(&paths).map_err(|e| anyhow::anyhow!("{e}")).context(BadScenarios(1))?;
    if files.is_empty() {
        return Err(anyhow::anyhow!(
            "no scenario files (*.yaml) under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))
        .context(BadScenarios(0));
    }
    let mut loaded = Vec::new();
    let mut bad = 0;
    for file in &files {
        match load(file) {
            Ok(s) => loaded.push(s),
            Err(e) => {
                bad += 1;
                eprintln!("{e}\n");
            }
        }
    }
    if bad > 0 {
        return Err(BadScenarios(bad).into());
    }
    Ok(loaded)
}

/// Runs `run`.
pub fn run(args: Args) -> Result<()> {
    if let Some(file) = &args.worker {
        return worker(file, WorkerOptions { show_pins: args.show_pins, bench_scale: args.bench_scale });
    }
    let scenarios = load_all(&args.paths)?;
    if args.check {
        for s in &scenarios {
            println!("ok {} ({} steps, {})", s.file.display(), s.doc.steps.len(), if s.needs_pcscd { "pcscd" } else { "APDUs only" });
        }
        return Ok(());
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    let options = SuiteOptions {
        mynasim: std::env::current_exe().context("cannot find the mynasim binary")?,
        jobs,
        in_process: args.in_process,
        worker: WorkerOptions { show_pins: args.show_pins, bench_scale: args.bench_scale },
    };
    if !args.in_process {
        if let Some(why) = worker::pcscd_unavailable() {
            eprintln!("note: no private pcscd here ({why}); APDU-only scenarios run in process, the others are skipped");
        }
    }
    let total = scenarios.len();
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    // Scenario lines go to standard output, unless it carries the JSON.
    let human = |text: &str| {
        if args.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    };
    let progress = |result: &ScenarioResult| {
        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
        if result.outcome == Outcome::Failed {
            failed.fetch_add(1, Ordering::SeqCst);
        }
        if terminal {
            eprint!("\r\x1b[K");
        }
        human(&summary::line(result));
        for bench in &result.benches {
            human(&summary::bench(bench));
        }
        if terminal {
            eprint!("{}", summary::progress(n, total, failed.load(Ordering::SeqCst)));
            let _ = std::io::stderr().flush();
        }
    };
    let results = suite::run_all(&scenarios, &options, &progress);
    if terminal {
        eprint!("\r\x1b[K");
    }
    let seconds = started.elapsed().as_secs_f64();
    for r in results.iter().filter(|r| r.outcome == Outcome::Failed) {
        human(&format!("\n{}", summary::failure(r)));
    }
    human(&summary::totals(&results, seconds));
    if let Some(path) = &args.junit {
        write_report(path, junit::render(&results, seconds).as_bytes())?;
    }
    if let Some(dir) = &args.transcript_dir {
        transcript::write_all(&results, dir).with_context(|| format!("cannot write transcripts to {}", dir.display()))?;
    }
    if args.json {
        println!("{}", json::render(&results, seconds)?);
    }
    let failures = results.iter().filter(|r| r.outcome == Outcome::Failed).count();
    if failures > 0 {
        return Err(ScenariosFailed(failures).into());
    }
    Ok(())
}

fn write_report(path: &Path, data: &[u8]) -> Result<()> {
    mynasim_harness::load::write_atomically(path, data).with_context(|| format!("cannot write {}", path.display()))
}

/// `mynasim run --worker FILE`: one scenario inside the namespaces `mynasim run` made,
/// its result as JSON on standard output.
fn worker(file: &Path, options: WorkerOptions) -> Result<()> {
    // The parent holds our standard input open; its end means the parent is gone: leave,
    // and the kernel ends everything in our PID namespace with us.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(3);
    });
    let scenario = load(file).map_err(|e| anyhow::anyhow!("{e}")).context(BadScenarios(1))?;
    let result = worker::run_in_sandbox(&scenario, &options);
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &result)?;
    writeln!(out)?;
    out.flush()?;
    // Leave at once: card threads are still serving, and the namespace ends with us.
    std::process::exit(0);
}
