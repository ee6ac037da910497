//! Where a scenario runs: a private pcscd in namespaces of its own, or in process.
//!
//! A pcscd scenario runs in a worker process, `mynasim run --worker FILE`, started inside
//! new mount, network and PID namespaces ([`crate::sandbox::namespaces`], as the sandbox's):
//! a tmpfs covers `/run` so pcscd's fixed socket `/run/pcscd/pcscd.comm` is private
//! (shared/PLATFORM.md), only loopback exists so vpcd's port is reachable from nowhere
//! else and parallel scenarios never collide, and the worker is PID 1 of its namespace,
//! so when it ends for any reason the kernel kills pcscd, the card threads' peers and any
//! program a step left behind. Inside, the worker serves the cards itself (a thread per
//! slot, [`crate::slot::Slot`]) and talks PC/SC to its pcscd in process: the `state` and
//! `set` steps read and change the very card pcscd talks to, and pcsc-lite's one socket
//! per process is this sandbox's. The worker prints its [`ScenarioResult`] as JSON.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::check::LoadedScenario;
use super::reader::{DirectReader, PcscReader, Reader};
use super::result::{Failure, Mode, ScenarioResult};
use super::runner::{self, CardRuntime, Pcscd, RunSetup};
use crate::keycache::DirKeyCache;
use crate::sandbox::VPCD_DRIVER;
use crate::slot::Slot;

/// Options of a run that every scenario shares.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Show PIN bytes in transcripts.
    pub show_pins: bool,
    /// `--bench-scale`: multiplies bench blocks' `times`, `for` and `warmup` (and, above
    /// 1, the scenario's time limit). 1 runs them as written.
    pub bench_scale: f64,
}

impl Default for WorkerOptions {
    fn default() -> WorkerOptions {
        WorkerOptions { show_pins: false, bench_scale: 1.0 }
    }
}

impl WorkerOptions {
    /// A scenario's time limit under these options.
    pub fn time_limit(&self, scenario: &LoadedScenario) -> Duration {
        scenario.doc.timeout.map_or(runner::SCENARIO_TIMEOUT, |t| t.0).mul_f64(self.bench_scale.max(1.0))
    }
}

/// Loads the scenario's cards into slots, each with its folder `work/cards/NAME/`: the
/// exported certificates if the scenario reads `${card.dir}`, and a state file if the
/// profile has one (copied there first: a scenario never changes the user's file) or the
/// scenario restarts the card program (which reloads it from there).
pub fn prepare_cards(scenario: &LoadedScenario, work: &Path) -> Result<Vec<CardRuntime>, Failure> {
    let mut cache = DirKeyCache::default_location();
    let mut cards = Vec::new();
    for spec in &scenario.cards {
        let dir = work.join("cards").join(&spec.name);
        std::fs::create_dir_all(&dir).map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
        let mut spec = spec.clone();
        if spec.profile.state_file.is_some() || scenario.restarts_cards {
            let state = dir.join("state.yaml");
            if let Some(original) = spec.profile.state_file.as_ref().map(PathBuf::from).filter(|p| p.is_file()) {
                std::fs::copy(&original, &state)
                    .map_err(|e| Failure::new(format!("cannot copy state file {}: {e}", original.display())))?;
            }
            spec.profile.state_file = Some(state.display().to_string());
        }
        let loaded = crate::load::load_profile(spec.profile.clone(), &spec.label, &mut cache)
            .map_err(|e| Failure::new(format!("cannot load card `{}`: {e}", spec.name)))?;
        if scenario.uses_card_dir {
            crate::export::write_certificates(&loaded, &dir).map_err(|e| Failure::new(e.to_string()))?;
        }
        cards.push(CardRuntime { spec, slot: Slot::new(loaded), dir });
    }
    Ok(cards)
}

/// The scenario's scratch folder (removed when dropped) and its cards in their slots.
fn setup(scenario: &LoadedScenario) -> Result<(tempfile::TempDir, Vec<CardRuntime>), Failure> {
    let work = tempfile::Builder::new()
        .prefix("mynasim-scenario-")
        .tempdir()
        .map_err(|e| Failure::new(format!("cannot create a work folder: {e}")))?;
    let cards = prepare_cards(scenario, work.path())?;
    Ok((work, cards))
}

/// Runs a scenario with its cards in process (no pcscd).
pub fn run_in_process(scenario: &LoadedScenario, options: &WorkerOptions) -> ScenarioResult {
    let started = Instant::now();
    let broken = |f: Failure| ScenarioResult::broken(scenario.file.clone(), scenario.name.clone(), Mode::InProcess, f);
    let (work, cards) = match setup(scenario) {
        Ok(set) => set,
        Err(f) => return broken(f),
    };
    let readers: Vec<Box<dyn Reader>> = cards.iter().map(|c| Box::new(DirectReader::new(c.slot.clone())) as Box<dyn Reader>).collect();
    runner::run(RunSetup {
        scenario,
        mode: Mode::InProcess,
        cards: &cards,
        readers,
        pcscd: None,
        work: work.path().to_path_buf(),
        show_pins: options.show_pins,
        setup_seconds: started.elapsed().as_secs_f64(),
        time_limit: options.time_limit(scenario),
        bench_scale: options.bench_scale,
    })
}

/// Why pcscd scenarios cannot run here, if they cannot.
pub fn pcscd_unavailable() -> Option<String> {
    for tool in ["unshare", "pcscd", "ip", "mount"] {
        if crate::process::find_program(tool).is_none() {
            return Some(format!("`{tool}` is not installed (apt-get install pcscd vsmartcard-vpcd iproute2 util-linux mount)"));
        }
    }
    if !Path::new(VPCD_DRIVER).exists() {
        return Some(format!("vpcd's driver {VPCD_DRIVER} is missing (apt-get install vsmartcard-vpcd)"));
    }
    None
}

/// The worker process for one pcscd scenario, started in its own namespaces. Its
/// standard output is the result as JSON; its standard input is a pipe whose end (the
/// parent died) ends the worker and with it the namespace.
pub fn spawn_worker(mynasim: &Path, file: &Path, options: &WorkerOptions) -> std::io::Result<Child> {
    let mut command = crate::sandbox::namespaces(None);
    command
        .arg(mynasim)
        .args(["run", "--worker"])
        .arg(file)
        .env_remove("PCSCLITE_CSOCK_NAME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if options.show_pins {
        command.arg("--show-pins");
    }
    if options.bench_scale != 1.0 {
        command.arg("--bench-scale").arg(options.bench_scale.to_string());
    }
    command.spawn()
}

/// The pcscd of a worker, a child of the worker.
struct WorkerPcscd {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
    readers: Vec<String>,
}

impl WorkerPcscd {
    fn start(config: PathBuf, log: PathBuf, readers: Vec<String>) -> Result<WorkerPcscd, String> {
        let mut pcscd = WorkerPcscd { child: None, config, log, readers };
        pcscd.spawn()?;
        Ok(pcscd)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(&self.log).map_err(|e| format!("cannot open the pcscd log: {e}"))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        self.child = Some(crate::sandbox::pcscd::spawn(&self.config, log.into(), err.into())?);
        Ok(())
    }

    /// Waits until every reader shows its card.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while !Path::new(PCSCD_SOCKET).exists() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("pcscd exited ({status}):\n{}", self.log_tail()));
            }
            if Instant::now() > deadline {
                return Err(format!("pcscd's socket did not appear within {timeout:?}:\n{}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for name in &self.readers {
            let mut reader = PcscReader::new(name);
            reader
                .wait_present(true, deadline.saturating_duration_since(Instant::now()))
                .map_err(|e| format!("{name}: {e}\n{}", self.log_tail()))?;
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::sandbox::pcscd::stop(&mut child);
        }
        let _ = std::fs::remove_file(PCSCD_SOCKET);
    }
}

/// pcscd's socket inside the worker's namespace.
const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";

impl Pcscd for WorkerPcscd {
    fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()?;
        self.wait_ready(Duration::from_secs(30))
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn program_env(&self) -> Vec<(String, String)> {
        vec![("PCSCLITE_CSOCK_NAME".to_owned(), PCSCD_SOCKET.to_owned())]
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for WorkerPcscd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a scenario inside a worker's namespaces (see the module docs): pcscd, vpcd and
/// the cards' threads here, the steps through PC/SC.
pub fn run_in_sandbox(scenario: &LoadedScenario, options: &WorkerOptions) -> ScenarioResult {
    let started = Instant::now();
    let broken = |f: Failure| ScenarioResult::broken(scenario.file.clone(), scenario.name.clone(), Mode::Pcsc, f);
    let (work, cards) = match setup(scenario) {
        Ok(set) => set,
        Err(f) => return broken(f),
    };
    let config = work.path().join("reader.conf.d");
    let conf = crate::sandbox::vpcd_reader_conf();
    if let Err(e) = std::fs::create_dir_all(&config).and_then(|()| std::fs::write(config.join("vpcd"), conf)) {
        return broken(Failure::new(format!("cannot write the reader configuration: {e}")));
    }
    let readers: Vec<String> = (0..cards.len()).map(|n| format!("Virtual PCD 00 {n:02}")).collect();
    let mut pcscd = match WorkerPcscd::start(config, work.path().join("pcscd.log"), readers.clone()) {
        Ok(p) => p,
        Err(e) => return broken(Failure::new(e)),
    };
    for (n, card) in cards.iter().enumerate() {
        let slot = card.slot.clone();
        let addr = format!("127.0.0.1:{}", crate::sandbox::card_port(n));
        std::thread::spawn(move || slot.serve(&addr, None, true));
    }
    if let Err(e) = pcscd.wait_ready(Duration::from_secs(30)) {
        return broken(Failure::new(format!("the private pcscd did not show the cards: {e}")));
    }
    let readers: Vec<Box<dyn Reader>> = readers.iter().map(|r| Box::new(PcscReader::new(r)) as Box<dyn Reader>).collect();
    let setup_seconds = started.elapsed().as_secs_f64();
    runner::run(RunSetup {
        scenario,
        mode: Mode::Pcsc,
        cards: &cards,
        readers,
        pcscd: Some(&mut pcscd),
        work: work.path().to_path_buf(),
        show_pins: options.show_pins,
        setup_seconds,
        time_limit: options.time_limit(scenario),
        bench_scale: options.bench_scale,
    })
}
