//! The one result type of a scenario run. The runner produces it; every report (summary,
//! JUnit, JSON, transcripts) only reads it. It crosses from a worker process to the parent
//! as JSON.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use mynasim_simulator::decode::Decoder;

use super::format::Pos;

/// How a scenario ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// A step failed (or the scenario could not start).
    Failed,
    /// Not run (e.g. it needs pcscd and none is available).
    Skipped,
}

/// Where the scenario ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A private pcscd with vpcd, the cards on its slots.
    Pcsc,
    /// The cards in process, no pcscd.
    InProcess,
}

/// A failed step: where, what was expected, what came back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The step's position in the file (`None`: before any step, e.g. the sandbox).
    pub pos: Option<Pos>,
    /// The step as a short text (`apdu 00 20 00 80 04 ********`).
    pub step: String,
    /// What failed, in a few words ("status word", "exit code", "program timed out").
    pub title: String,
    /// What was expected.
    pub expected: Option<String>,
    /// What came back.
    pub actual: Option<String>,
    /// More (program output, logs).
    pub detail: Option<String>,
}

impl Failure {
    /// A failure with a title only.
    pub fn new(title: impl Into<String>) -> Failure {
        Failure { pos: None, step: String::new(), title: title.into(), expected: None, actual: None, detail: None }
    }

    /// With what was expected and what came back.
    pub fn differ(title: impl Into<String>, expected: impl Into<String>, actual: impl Into<String>) -> Failure {
        Failure { expected: Some(expected.into()), actual: Some(actual.into()), ..Failure::new(title) }
    }

    /// With more detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Failure {
        self.detail = Some(detail.into());
        self
    }
}

/// One command and its answer, as the scenario saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// Which card.
    pub card: String,
    /// The command, hex; PIN bytes as `**` unless pins are shown.
    pub command: String,
    /// The card's selection when the command was sent, to name it ([`Exchange::name`]).
    #[serde(default)]
    pub decoder: Decoder,
    /// The answer, hex (data then SW), or `None` when none came.
    pub response: Option<String>,
    /// Round trip in microseconds.
    pub micros: u64,
    /// The step's line.
    pub line: u32,
}

impl Exchange {
    /// The command in the card's terms ([`mynasim_simulator::decode`]), named at the card's
    /// selection when it was sent.
    pub fn name(&self) -> String {
        crate::transcript::command_name(&self.decoder, &self.command)
    }
}

/// A scenario's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// The file.
    pub file: PathBuf,
    /// The scenario's name.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Where it ran.
    pub mode: Mode,
    /// Why it was skipped, or notes such as "ran in process".
    pub notes: Vec<String>,
    /// The first failure.
    pub failure: Option<Failure>,
    /// Steps that ran (repeats counted each time).
    pub steps_run: usize,
    /// Seconds from start to end.
    pub seconds: f64,
    /// Seconds to set up the cards and pcscd (to the first step).
    pub setup_seconds: f64,
    /// Every APDU exchanged.
    pub transcript: Vec<Exchange>,
    /// The figures of each `bench:` block that ran, in order (absent from the JSON when
    /// there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub benches: Vec<BenchResult>,
}

/// What a `bench:` block measured. Times are microseconds (`_us`, fractional); rates
/// are per second of wall time of the measured phase (warm-up excluded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// The block's `name:` (or `bench`).
    pub name: String,
    /// Its position.
    pub pos: Pos,
    /// Warm-up iterations run per card before measuring.
    pub warmup: u64,
    /// The block's iterations (its steps once), all cards together; `per_second` is the
    /// total throughput.
    pub iterations: BenchFigures,
    /// The same per card, in the order driven.
    pub per_card: Vec<BenchCard>,
    /// Each step of the block (nested blocks count as one step), all cards together.
    pub steps: Vec<BenchStep>,
}

/// Figures of timed runs: of a block's iterations or of one step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchFigures {
    /// Runs measured.
    pub count: u64,
    /// Of them, runs that failed (their time is left out of the latencies).
    pub errors: u64,
    /// Wall time of the measurement, seconds.
    pub seconds: f64,
    /// Runs that passed per second of `seconds`.
    pub per_second: f64,
    /// Median latency of the runs that passed, µs (0 when none passed).
    pub median_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Slowest, µs.
    pub max_us: f64,
}

/// One card's iterations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchCard {
    /// The card's name.
    pub card: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: BenchFigures,
}

/// One step of a bench block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchStep {
    /// The step as a short text (as in failure reports).
    pub step: String,
    /// Its position.
    pub pos: Pos,
    /// Its figures.
    #[serde(flatten)]
    pub figures: BenchFigures,
}

impl ScenarioResult {
    /// A result for a scenario that did not run.
    pub fn skipped(file: PathBuf, name: String, mode: Mode, why: String) -> ScenarioResult {
        ScenarioResult {
            file,
            name,
            outcome: Outcome::Skipped,
            mode,
            notes: vec![why],
            failure: None,
            steps_run: 0,
            seconds: 0.0,
            setup_seconds: 0.0,
            transcript: Vec::new(),
            benches: Vec::new(),
        }
    }

    /// A result for a scenario that could not start or whose worker died.
    pub fn broken(file: PathBuf, name: String, mode: Mode, failure: Failure) -> ScenarioResult {
        ScenarioResult {
            outcome: Outcome::Failed,
            failure: Some(failure),
            notes: Vec::new(),
            ..ScenarioResult::skipped(file, name, mode, String::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exchange_is_named_after_crossing_as_json() {
        // The JPKI AP current, EF 0018 (the auth PIN) selected: what `Decoder::at` records.
        let mut decoder = Decoder::new();
        for (command, answer) in [("00A4040C0AD392F000260100000001", "9000"), ("00A4020C020018", "9000")] {
            decoder.command(&mynasim_simulator::apdu::parse_hex(command).unwrap());
            decoder.response(&mynasim_simulator::apdu::parse_hex(answer).unwrap());
        }
        let exchange = Exchange {
            card: "card".to_owned(),
            command: "0020008004********".to_owned(),
            decoder,
            response: Some("63C2".to_owned()),
            micros: 1,
            line: 5,
        };
        let json = serde_json::to_string(&exchange).unwrap();
        assert!(json.contains(r#""applet":"jpki""#), "{json}");
        let back: Exchange = serde_json::from_str(&json).unwrap();
        assert_eq!(back, exchange);
        assert_eq!(back.name(), "VERIFY 0018 (auth PIN) (4 bytes, masked)");
    }
}
