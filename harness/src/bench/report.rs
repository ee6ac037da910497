//! The bench report: named measurements, each with its figure, the ceiling or peer it is
//! compared with, the ratio, and the target with a verdict; plus the series and
//! latency distributions the charts draw. Serialised as the stable `--json` shape
//! (version [`REPORT_VERSION`]; BENCHMARKS.md documents every field).

use serde::{Deserialize, Serialize};

/// The `version` field of the JSON report; bumped when a field changes meaning or goes.
pub const REPORT_VERSION: u32 = 1;

/// What a measurement is compared with, measured in the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// What it is, e.g. `OpenSSL RSA-2048 one core`.
    pub name: String,
    /// Its figure, in the measurement's unit.
    pub value: f64,
}

/// A target from the issue.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "bound", rename_all = "snake_case")]
pub enum Target {
    /// `value / reference` must be at least this.
    RatioAtLeast(f64),
    /// `value` must be at most this (in the measurement's unit).
    AtMost(f64),
}

/// How a measurement fared against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The target is met.
    Pass,
    /// The target is missed.
    Fail,
    /// No target: a figure for the record.
    Info,
}

/// One named measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// A stable identifier, dotted (`pcsc.read_binary.vs_null`): what CI tracks.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// The figure.
    pub value: f64,
    /// Its unit (`signs/s`, `APDU/s`, `ms`, `MiB`).
    pub unit: String,
    /// What it is compared with, if anything.
    pub reference: Option<Reference>,
    /// `value / reference.value`.
    pub ratio: Option<f64>,
    /// The target, if it sets one.
    pub target: Option<Target>,
    /// Pass, fail or info.
    pub verdict: Verdict,
}

impl Measurement {
    /// A figure with no reference and no target.
    pub fn info(name: &str, description: &str, value: f64, unit: &str) -> Measurement {
        Measurement {
            name: name.to_owned(),
            description: description.to_owned(),
            value,
            unit: unit.to_owned(),
            reference: None,
            ratio: None,
            target: None,
            verdict: Verdict::Info,
        }
    }

    /// Compared with `reference` (same unit); the ratio is computed here.
    pub fn against(mut self, reference_name: &str, reference: f64) -> Measurement {
        self.reference = Some(Reference { name: reference_name.to_owned(), value: reference });
        self.ratio = Some(self.value / reference);
        self.verdict = verdict(self.value, self.ratio, self.target);
        self
    }

    /// With a target; the verdict is computed here.
    pub fn target(mut self, target: Target) -> Measurement {
        self.target = Some(target);
        self.verdict = verdict(self.value, self.ratio, self.target);
        self
    }

    /// The progress line (`name: figure unit = ratio x reference [verdict]`).
    pub fn line(&self) -> String {
        let mut line = format!("{}: {} {}", self.name, figure(self.value), self.unit);
        if let (Some(r), Some(ratio)) = (&self.reference, self.ratio) {
            line.push_str(&format!(" = {ratio:.3} x {} ({} {})", r.name, figure(r.value), self.unit));
        }
        match self.target {
            Some(Target::RatioAtLeast(b)) => line.push_str(&format!(" [target >= {b} x: {}]", verdict_word(self.verdict))),
            Some(Target::AtMost(b)) => line.push_str(&format!(" [target <= {b} {}: {}]", self.unit, verdict_word(self.verdict))),
            None => {}
        }
        line
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::Info => "no verdict",
    }
}

/// Three significant figures, without exponent notation for ordinary magnitudes.
fn figure(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs();
    if magnitude >= 100.0 {
        format!("{v:.0}")
    } else if magnitude >= 10.0 {
        format!("{v:.1}")
    } else if magnitude >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The verdict of a value (and its ratio) against a target. A missing or non-finite
/// figure fails a target: a path that did not measure cannot pass.
pub fn verdict(value: f64, ratio: Option<f64>, target: Option<Target>) -> Verdict {
    match target {
        None => Verdict::Info,
        Some(Target::RatioAtLeast(bound)) => match ratio {
            Some(r) if r.is_finite() && r >= bound => Verdict::Pass,
            _ => Verdict::Fail,
        },
        Some(Target::AtMost(bound)) if value.is_finite() && value <= bound => Verdict::Pass,
        Some(Target::AtMost(_)) => Verdict::Fail,
    }
}

/// A curve: y against x (throughput against the number of cards).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Stable identifier (`scaling.pcsc.sign`).
    pub name: String,
    /// Legend text.
    pub label: String,
    /// The x axis's meaning (`cards`).
    pub x: String,
    /// The y axis's unit (`signs/s`).
    pub y: String,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A latency distribution: quantiles 0, 5, ..., 100 %.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Stable identifier (`latency.vicc`).
    pub name: String,
    /// Legend text.
    pub label: String,
    /// How many samples.
    pub samples: usize,
    /// Milliseconds at quantiles 0 %, 5 %, ..., 100 % (21 values).
    pub quantiles_ms: Vec<f64>,
}

impl Distribution {
    /// From samples in milliseconds (at least one).
    pub fn of(name: &str, label: &str, samples: &mut [f64]) -> Distribution {
        samples.sort_by(f64::total_cmp);
        let quantiles_ms = (0..=20).map(|i| quantile_sorted(samples, f64::from(i) / 20.0)).collect();
        Distribution { name: name.to_owned(), label: label.to_owned(), samples: samples.len(), quantiles_ms }
    }

    /// The median, in milliseconds.
    pub fn median_ms(&self) -> f64 {
        self.quantiles_ms.get(10).copied().unwrap_or(f64::NAN)
    }
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank; NaN when there are none.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The machine the figures come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Cores available to this process.
    pub cores: usize,
    /// `/proc/cpuinfo`'s model name.
    pub cpu: String,
    /// The kernel release.
    pub kernel: String,
}

impl Machine {
    /// This machine.
    pub fn here() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| t.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, m)| m.trim().to_owned()))
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|k| k.trim().to_owned()).unwrap_or_default();
        Machine { cores: cores(), cpu, kernel }
    }
}

/// Cores available to this process (at least 1).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The mynasim version that measured.
    pub mynasim: String,
    /// Where.
    pub machine: Machine,
    /// Whether this was the `--smoke` run (seconds in all; figures only show the paths work).
    pub smoke: bool,
    /// Every measurement, in the order taken.
    pub measurements: Vec<Measurement>,
    /// Curves for the charts.
    pub series: Vec<Series>,
    /// Latency distributions for the charts.
    pub distributions: Vec<Distribution>,
    /// Paths that could not be measured here, and why (a missing package).
    pub skipped: Vec<String>,
    /// Paths that broke (a bug, not noise: the CLI exits 1 for these even with
    /// `--no-verdict`, so the CI smoke catches a path that rotted).
    pub errors: Vec<String>,
}

impl Report {
    /// An empty report for this machine.
    pub fn new(smoke: bool) -> Report {
        Report {
            version: REPORT_VERSION,
            mynasim: env!("CARGO_PKG_VERSION").to_owned(),
            machine: Machine::here(),
            smoke,
            measurements: Vec::new(),
            series: Vec::new(),
            distributions: Vec::new(),
            skipped: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Adds a measurement and prints its progress line on standard error.
    pub fn add(&mut self, m: Measurement) {
        eprintln!("bench: {}", m.line());
        self.measurements.push(m);
    }

    /// Records a path that could not run, and says so on standard error.
    pub fn skip(&mut self, what: &str, why: impl std::fmt::Display) {
        eprintln!("bench: skipped {what}: {why}");
        self.skipped.push(format!("{what}: {why}"));
    }

    /// Records a path that broke, and says so on standard error.
    pub fn error(&mut self, what: &str, why: impl std::fmt::Display) {
        eprintln!("bench: {what} FAILED: {why}");
        self.errors.push(format!("{what}: {why}"));
    }

    /// The measurements that missed their target.
    pub fn failures(&self) -> Vec<&Measurement> {
        self.measurements.iter().filter(|m| m.verdict == Verdict::Fail).collect()
    }

    /// A measurement by name.
    pub fn get(&self, name: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_targets_pass_at_the_bound_and_fail_below_or_without_a_figure() {
        let at = Measurement::info("a", "", 95.0, "APDU/s").target(Target::RatioAtLeast(0.95)).against("null", 100.0);
        assert_eq!(at.ratio, Some(0.95));
        assert_eq!(at.verdict, Verdict::Pass);
        let below = Measurement::info("a", "", 94.0, "APDU/s").target(Target::RatioAtLeast(0.95)).against("null", 100.0);
        assert_eq!(below.verdict, Verdict::Fail);
        let no_reference = Measurement::info("a", "", 94.0, "APDU/s").target(Target::RatioAtLeast(0.95));
        assert_eq!(no_reference.verdict, Verdict::Fail);
        let nan = Measurement::info("a", "", f64::NAN, "APDU/s").target(Target::RatioAtLeast(0.95)).against("null", 100.0);
        assert_eq!(nan.verdict, Verdict::Fail);
    }

    #[test]
    fn ceiling_targets_pass_at_or_below_the_bound() {
        assert_eq!(verdict(0.6, None, Some(Target::AtMost(0.6))), Verdict::Pass);
        assert_eq!(verdict(0.61, None, Some(Target::AtMost(0.6))), Verdict::Fail);
        assert_eq!(verdict(f64::NAN, None, Some(Target::AtMost(0.6))), Verdict::Fail);
        assert_eq!(verdict(1e9, Some(0.1), None), Verdict::Info);
    }

    #[test]
    fn the_json_shape_is_stable() {
        let mut report = Report::new(true);
        report.add(Measurement::info("x.y", "d", 2.0, "ms").target(Target::AtMost(1.0)));
        report.add(Measurement::info("x.z", "d", 3.0, "signs/s").against("OpenSSL", 4.0).target(Target::RatioAtLeast(0.5)));
        report.distributions.push(Distribution::of("latency.null", "null", &mut [3.0, 1.0, 2.0]));
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["distributions", "errors", "machine", "measurements", "mynasim", "series", "skipped", "smoke", "version"]);
        let mut fields: Vec<&str> = json["measurements"][0].as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["description", "name", "ratio", "reference", "target", "unit", "value", "verdict"]);
        assert_eq!(json["version"], 1);
        let first = &json["measurements"][0];
        assert_eq!(first["target"], serde_json::json!({"kind": "at_most", "bound": 1.0}));
        assert_eq!(first["verdict"], "fail");
        assert_eq!(first["reference"], serde_json::Value::Null);
        let second = &json["measurements"][1];
        assert_eq!(second["reference"], serde_json::json!({"name": "OpenSSL", "value": 4.0}));
        assert_eq!(second["ratio"], 0.75);
        assert_eq!(second["target"], serde_json::json!({"kind": "ratio_at_least", "bound": 0.5}));
        assert_eq!(second["verdict"], "pass");
        assert_eq!(json["distributions"][0]["quantiles_ms"].as_array().unwrap().len(), 21);
        assert_eq!(report.failures().len(), 1);
        // And it reads back.
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn distributions_take_nearest_rank_quantiles() {
        let mut samples: Vec<f64> = (1..=101).map(f64::from).collect();
        samples.reverse();
        let d = Distribution::of("n", "l", &mut samples);
        assert_eq!(d.quantiles_ms[0], 1.0);
        assert_eq!(d.median_ms(), 51.0);
        assert_eq!(d.quantiles_ms[20], 101.0);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn progress_lines_name_the_reference_and_the_verdict() {
        let m = Measurement::info("sign", "", 1400.0, "signs/s").against("OpenSSL", 1500.0).target(Target::RatioAtLeast(0.9));
        assert_eq!(m.line(), "sign: 1400 signs/s = 0.933 x OpenSSL (1500 signs/s) [target >= 0.9 x: pass]");
    }
}
