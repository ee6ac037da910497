//! Runs one scenario over cards that are already in their slots (a private pcscd set up
//! by [`super::worker`], or in process) and produces its [`ScenarioResult`]. Steps run in
//! order; the first failure ends the scenario and is reported with the step's position.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mynasim_simulator::state::PersistentState;
use serde_saphyr::Spanned;
use time::OffsetDateTime;

use super::check::{LoadedScenario, ScenarioCard};
use super::format::{Pos, Step};
use super::reader::Reader;
use super::result::{BenchResult, Exchange, Failure, Mode, Outcome, ScenarioResult};
use super::steps;
use super::template::{Value, Vars};
use crate::slot::Slot;

/// What the runner can do to the pcscd the cards live in (only in a sandbox).
pub trait Pcscd: Send {
    /// Stops pcscd and starts it again; returns once the cards are present again.
    fn restart(&mut self) -> Result<(), String>;
    /// Kills pcscd and leaves it dead.
    fn kill(&mut self);
    /// Environment variables for programs (`PCSCLITE_CSOCK_NAME`).
    fn program_env(&self) -> Vec<(String, String)>;
    /// The end of pcscd's log (for failure reports).
    fn log_tail(&self) -> String;
}

/// One card of the running scenario.
pub struct CardRuntime {
    /// As the scenario declared it.
    pub spec: ScenarioCard,
    /// Its slot.
    pub slot: Slot,
    /// Its exported certificates (`${card.dir}`).
    pub dir: PathBuf,
}

/// Everything a step can touch.
pub struct Context<'a> {
    /// The scenario.
    pub scenario: &'a LoadedScenario,
    /// Where it runs.
    pub mode: Mode,
    /// The cards.
    pub cards: &'a [CardRuntime],
    /// One reader per card; `None` while a parallel branch has it.
    pub readers: Vec<Option<Box<dyn Reader>>>,
    /// The pcscd (sandbox only; `None` in process and inside parallel branches).
    pub pcscd: Option<&'a mut dyn Pcscd>,
    /// Environment for programs (`PCSCLITE_CSOCK_NAME`).
    pub program_env: Vec<(String, String)>,
    /// Variables.
    pub vars: Vars,
    /// The scenario's scratch folder (programs' working directory).
    pub work: PathBuf,
    /// The verification clock.
    pub clock: OffsetDateTime,
    /// Serial numbers (hex) of certificates revoked by `set: {revoke: …}`.
    pub revoked: Vec<String>,
    /// Persistent state of every card after each named step (and at `start`).
    pub snapshots: HashMap<String, Vec<PersistentState>>,
    /// APDUs so far.
    pub transcript: Vec<Exchange>,
    /// Steps run so far.
    pub steps_run: usize,
    /// Show PIN bytes in transcripts.
    pub show_pins: bool,
    /// When the whole scenario must end.
    pub deadline: Instant,
    /// `--bench-scale`: bench blocks' `times`, `for` and `warmup` are multiplied by it.
    pub bench_scale: f64,
    /// The figures of the bench blocks run so far.
    pub benches: Vec<BenchResult>,
}

impl Context<'_> {
    /// The index of the card a step acts on.
    pub fn card_index(&self, on: Option<&str>) -> usize {
        on.and_then(|name| self.cards.iter().position(|c| c.spec.name == name)).unwrap_or(0)
    }

    /// The persistent state of every card now.
    pub fn persistent_states(&self) -> Vec<PersistentState> {
        self.cards.iter().map(|c| c.slot.with_card(|l| l.card.persistent_state())).collect()
    }

    fn set_card_facts(&mut self) {
        for (i, card) in self.cards.iter().enumerate() {
            let facts = card_facts(card);
            for (fact, value) in facts {
                if i == 0 {
                    self.vars.set(format!("card.{fact}"), value.clone());
                }
                self.vars.set(format!("cards.{}.{fact}", card.spec.name), value);
            }
        }
        let dir = self.scenario.file.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        let dir = std::path::absolute(if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { &dir }).unwrap_or(dir);
        self.vars.set("scenario.dir", Value::Text(dir.display().to_string()));
        self.vars.set("work", Value::Text(self.work.display().to_string()));
    }
}

/// The `${card.X}` facts of a card (names in [`super::check::CARD_FACTS`]).
pub fn card_facts(card: &CardRuntime) -> Vec<(String, Value)> {
    let text = |s: &str| Value::Text(s.to_owned());
    let mut out = vec![("name".to_owned(), text(&card.spec.name)), ("dir".to_owned(), text(&card.dir.display().to_string()))];
    if let Ok(p) = card.spec.profile.resolve(crate::load::today_in_japan(), &card.spec.label) {
        let date = |d: time::Date| format!("{:04}{:02}{:02}", d.year(), d.month() as u8, d.day());
        out.extend([
            ("my_number".to_owned(), text(&p.holder.my_number)),
            ("holder.name".to_owned(), text(&p.holder.name)),
            ("holder.address".to_owned(), text(&p.holder.address)),
            ("holder.birth_date".to_owned(), text(&date(p.holder.birth_date))),
            ("holder.sex".to_owned(), Value::Text(char::from(p.holder.sex.jis_code()).to_string())),
            ("expires".to_owned(), text(&date(p.expires))),
            ("serial".to_owned(), text(&p.serial)),
            ("security_code".to_owned(), text(&p.security_code)),
        ]);
    }
    card.slot.with_card(|loaded| {
        for pin in super::format::PinName::ALL {
            let value = String::from_utf8_lossy(&loaded.card.pin(pin.id()).value).into_owned();
            out.push((format!("pins.{}", pin.as_str()), Value::Text(value)));
        }
    });
    out
}

/// How a scenario run is set up.
pub struct RunSetup<'a> {
    /// The scenario.
    pub scenario: &'a LoadedScenario,
    /// Where it runs.
    pub mode: Mode,
    /// The cards, in their slots.
    pub cards: &'a [CardRuntime],
    /// Their readers.
    pub readers: Vec<Box<dyn Reader>>,
    /// The pcscd, in a sandbox.
    pub pcscd: Option<&'a mut dyn Pcscd>,
    /// Scratch folder.
    pub work: PathBuf,
    /// Show PIN bytes in transcripts.
    pub show_pins: bool,
    /// Seconds spent setting up before this call.
    pub setup_seconds: f64,
    /// The scenario's time limit (its `timeout:`, or [`SCENARIO_TIMEOUT`], scaled).
    pub time_limit: Duration,
    /// Multiplies bench blocks' iterations and durations (1 as written).
    pub bench_scale: f64,
}

/// Default time limit of a scenario.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the scenario's steps.
pub fn run(setup: RunSetup<'_>) -> ScenarioResult {
    let started = Instant::now();
    let scenario = setup.scenario;
    let timeout = setup.time_limit;
    let mut cx = Context {
        scenario,
        mode: setup.mode,
        cards: setup.cards,
        readers: setup.readers.into_iter().map(Some).collect(),
        program_env: setup.pcscd.as_ref().map(|p| p.program_env()).unwrap_or_default(),
        pcscd: setup.pcscd,
        vars: Vars::default(),
        work: setup.work,
        clock: OffsetDateTime::now_utc(),
        revoked: Vec::new(),
        snapshots: HashMap::new(),
        transcript: Vec::new(),
        steps_run: 0,
        show_pins: setup.show_pins,
        deadline: started + timeout,
        bench_scale: setup.bench_scale,
        benches: Vec::new(),
    };
    cx.set_card_facts();
    let mut failure = None;
    for (name, value) in &scenario.doc.vars {
        match value.value.0.text(&cx.vars) {
            Ok(text) => cx.vars.set(name.clone(), Value::Text(text)),
            Err(e) => {
                failure = Some(Failure { pos: Some(Pos::of(&value.referenced)), ..Failure::new(format!("vars.{name}: {e}")) });
                break;
            }
        }
    }
    let states = cx.persistent_states();
    cx.snapshots.insert("start".to_owned(), states);
    if failure.is_none() {
        failure = run_steps(&mut cx, &scenario.doc.steps, None).err();
    }
    if let Some(f) = failure.as_mut() {
        if f.detail.is_none() {
            if let Some(pcscd) = cx.pcscd.as_ref() {
                let tail = pcscd.log_tail();
                if !tail.trim().is_empty() && f.title.contains("PC/SC") {
                    f.detail = Some(format!("pcscd log:\n{tail}"));
                }
            }
        }
    }
    ScenarioResult {
        file: scenario.file.clone(),
        name: scenario.name.clone(),
        outcome: if failure.is_some() { Outcome::Failed } else { Outcome::Passed },
        mode: setup.mode,
        notes: Vec::new(),
        failure,
        steps_run: cx.steps_run,
        seconds: started.elapsed().as_secs_f64() + setup.setup_seconds,
        setup_seconds: setup.setup_seconds,
        transcript: cx.transcript,
        benches: cx.benches,
    }
}

/// Runs steps in order; `on` is the card of an enclosing parallel branch.
pub fn run_steps(cx: &mut Context<'_>, steps: &[Spanned<Step>], on: Option<&str>) -> Result<(), Failure> {
    for step in steps {
        run_step(cx, step, on)?;
        snapshot_if_named(cx, &step.value);
    }
    Ok(())
}

/// Runs one step (after the scenario's time limit, a failure); `on` as for [`run_steps`].
pub fn run_step(cx: &mut Context<'_>, step: &Spanned<Step>, on: Option<&str>) -> Result<(), Failure> {
    let pos = Pos::of(&step.referenced);
    if Instant::now() > cx.deadline {
        return Err(Failure {
            pos: Some(pos),
            step: step.value.kind.keyword().to_owned(),
            ..Failure::new("the scenario's time limit ran out")
        });
    }
    cx.steps_run += 1;
    let card = cx.card_index(step.value.on.as_deref().or(on));
    steps::run(cx, &step.value, pos, card).map_err(|mut f| {
        f.pos.get_or_insert(pos);
        if f.step.is_empty() {
            f.step = steps::describe(&step.value, cx.show_pins);
        }
        f
    })
}

/// After a step with a `name:`, the state `unchanged_since` compares with.
pub fn snapshot_if_named(cx: &mut Context<'_>, step: &Step) {
    if let Some(name) = &step.name {
        let states = cx.persistent_states();
        cx.snapshots.insert(name.clone(), states);
    }
}
