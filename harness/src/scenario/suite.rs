//! Running many scenarios: each pcscd scenario in a worker process of its own (its own
//! namespaces, pcscd and cards), in-process scenarios on threads here, `jobs` at a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::check::LoadedScenario;
use super::result::{Failure, Mode, ScenarioResult};
use super::worker::{self, WorkerOptions};

/// How to run a suite.
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// The `mynasim` binary for workers.
    pub mynasim: PathBuf,
    /// Scenarios at once.
    pub jobs: usize,
    /// Run everything in process (scenarios that need pcscd are skipped).
    pub in_process: bool,
    /// Shared by every scenario.
    pub worker: WorkerOptions,
}

/// Where each scenario will run, and why (a note for the summary).
pub fn plan(scenario: &LoadedScenario, options: &SuiteOptions, pcscd_missing: Option<&str>) -> (Mode, Option<String>) {
    match (options.in_process, pcscd_missing) {
        (true, _) => (Mode::InProcess, None),
        (false, Some(why)) if !scenario.needs_pcscd => (Mode::InProcess, Some(format!("ran in process: {why}"))),
        (false, Some(why)) => (Mode::Pcsc, Some(format!("needs pcscd: {why}"))),
        (false, None) => (Mode::Pcsc, None),
    }
}

/// Runs every scenario; `done` is told about each result as it arrives. Results come back
/// in the order of `scenarios`.
pub fn run_all(scenarios: &[LoadedScenario], options: &SuiteOptions, done: &(dyn Fn(&ScenarioResult) + Sync)) -> Vec<ScenarioResult> {
    let missing = if options.in_process { None } else { worker::pcscd_unavailable() };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScenarioResult>>> = Mutex::new(scenarios.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1).min(scenarios.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(scenario) = scenarios.get(i) else { break };
                let result = run_one(scenario, options, missing.as_deref());
                done(&result);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(result);
                }
            });
        }
    });
    results.into_inner().unwrap_or_default().into_iter().flatten().collect()
}

/// Runs one scenario where [`plan`] says.
pub fn run_one(scenario: &LoadedScenario, options: &SuiteOptions, pcscd_missing: Option<&str>) -> ScenarioResult {
    let (mode, note) = plan(scenario, options, pcscd_missing);
    let mut result = match (mode, &note) {
        (Mode::Pcsc, Some(why)) => ScenarioResult::skipped(scenario.file.clone(), scenario.name.clone(), mode, why.clone()),
        (Mode::InProcess, _) if scenario.needs_pcscd => ScenarioResult::skipped(
            scenario.file.clone(),
            scenario.name.clone(),
            mode,
            "needs pcscd (run steps, pcscd restarts or kills), not run in process".to_owned(),
        ),
        (Mode::InProcess, _) => worker::run_in_process(scenario, &options.worker),
        (Mode::Pcsc, None) => {
            // The steps' own limit, plus the sandbox's start (60 s at most, see worker.rs).
            let limit = options.worker.time_limit(scenario) + Duration::from_secs(90);
            run_worker(&options.mynasim, &scenario.file, &scenario.name, &options.worker, limit)
        }
    };
    if let (Some(note), super::result::Outcome::Passed | super::result::Outcome::Failed) = (note, result.outcome) {
        result.notes.push(note);
    }
    result
}

/// Runs a scenario file in a worker process and reads its result. A worker that outlives
/// `limit` (the scenario's own time limit plus the sandbox's start) is killed, and with it
/// its namespace.
pub fn run_worker(mynasim: &Path, file: &Path, name: &str, options: &WorkerOptions, limit: Duration) -> ScenarioResult {
    let broken = |f: Failure| ScenarioResult::broken(file.to_path_buf(), name.to_owned(), Mode::Pcsc, f);
    let mut child = match worker::spawn_worker(mynasim, file, options) {
        Ok(c) => c,
        Err(e) => return broken(Failure::new(format!("cannot start the scenario's sandbox (unshare): {e}"))),
    };
    // Read both streams on threads so neither pipe fills while we watch the clock.
    let read = |stream: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut s) = stream {
                let _ = s.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let stderr = read(child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return broken(Failure::new(format!(
                    "the scenario did not finish within {limit:?} and was stopped (raise `timeout:` if it needs longer)"
                )));
            }
            Err(e) => break Err(e),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match serde_json::from_str::<ScenarioResult>(stdout.trim()) {
        Ok(result) => result,
        Err(_) => {
            let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            let tail: Vec<&str> = stderr.lines().collect();
            broken(
                Failure::new(format!("the scenario's worker ended without a result ({status})"))
                    .with_detail(tail[tail.len().saturating_sub(20)..].join("\n")),
            )
        }
    }
}
