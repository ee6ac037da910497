//! Scenarios: YAML files that drive clients against the card, check its state and inject
//! faults (the scenario harness, `mynasim run`).
//!
//! The parts, as in a test runner: [`mod@format`] (the file format, positions on every step),
//! [`check`] (load a file and check what spans steps: cards, variables, names, so a bad
//! file is refused before anything runs), [`runner`] (one scenario over a private pcscd or
//! in process, producing one [`result::ScenarioResult`]), `steps/` (one module per step
//! kind), and [`report`] (summary and progress, JUnit, JSON, replayable transcripts: they
//! only read results).

// A failure carries what was expected and what came back, so it is large; it is built at
// most once per scenario, on the cold path.
#![allow(clippy::result_large_err)]

pub mod check;
pub mod clock;
pub mod format;
pub mod matchers;
pub mod reader;
pub mod report;
pub mod result;
pub mod runner;
mod steps;
pub mod suite;
pub mod template;
pub mod worker;

pub use check::{discover, load, LoadedScenario, ScenarioError};
