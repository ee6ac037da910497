//! `bench` blocks: the block's steps run again and again (`times:` or `for:`), after an
//! optional warm-up, on one card or on several at once (one lane per card, through the
//! machinery of `parallel`). Every iteration and every step is timed with a monotonic
//! clock around the step itself; a failing step counts as an error of that step and of
//! its iteration, which stops there. The figures go to [`Context::benches`] (and so to
//! every report); then the errors and the thresholds are checked.
//!
//! All lanes finish their warm-up before any starts measuring (a barrier), so the cards
//! are measured over the same stretch of time; the block's throughput is its passed
//! iterations over the wall time from that start to the last lane's end.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_saphyr::Spanned;

use super::flow::on_lanes;
use crate::bench::Percentiles;
use crate::scenario::format::{BenchCards, BenchSpec, DurationValue, Pos, RepeatCount, Step};
use crate::scenario::report::summary::human_micros;
use crate::scenario::result::{BenchCard, BenchFigures, BenchResult, BenchStep, Failure};
use crate::scenario::runner::{run_step, run_steps, snapshot_if_named, Context};

/// APDUs of a bench block's lane kept in the scenario's transcript (the last ones).
const TRANSCRIPT_KEPT: usize = 64;

/// What one lane measured.
struct Lane {
    card: String,
    /// Durations of the iterations that passed.
    iterations: Vec<Duration>,
    /// Iterations run (passed or not).
    count: u64,
    /// Iterations that failed.
    errors: u64,
    /// Per step: durations of the runs that passed, runs, failures.
    steps: Vec<(Vec<Duration>, u64, u64)>,
    started: Instant,
    ended: Instant,
    warmed: u64,
    /// The first failure (of the warm-up, which ends the block, or of an iteration).
    failure: Option<(Failure, bool)>,
}

/// Runs a bench block whose step is at `pos`, on card `card` unless `cards:` says.
pub(super) fn run(
    cx: &mut Context<'_>,
    spec: &BenchSpec,
    steps: &[Spanned<Step>],
    step: &Step,
    pos: Pos,
    card: usize,
) -> Result<(), Failure> {
    let lanes: Vec<(usize, Pos)> = match &spec.cards {
        None => vec![(card, pos)],
        Some(BenchCards::All) => (0..cx.cards.len()).map(|c| (c, pos)).collect(),
        Some(BenchCards::Named(names)) => names.iter().map(|n| (cx.card_index(Some(n)), pos)).collect(),
    };
    let count = scaled(spec.count, cx.bench_scale);
    let warmup = spec.warmup.map(|w| scaled(w, cx.bench_scale));
    let max_errors = spec.expect.max_errors.as_ref().map_or(0, |m| m.value);
    let barrier = Barrier::new(lanes.len());
    let results = on_lanes(cx, &lanes, &|lane, _, name| measure(lane, steps, name, count, warmup, max_errors, &barrier))?;
    let mut measured = Vec::new();
    for r in results {
        measured.push(r?);
    }
    let name = step.name.clone().unwrap_or_else(|| "bench".to_owned());
    let result = figures(&name, pos, &measured, steps, cx.show_pins);
    let iterations = result.iterations.clone();
    let per_card = result.per_card.clone();
    cx.benches.push(result);

    let warm_failure = measured.iter_mut().find(|l| matches!(l.failure, Some((_, true)))).and_then(|l| l.failure.take());
    if let Some((mut failure, _)) = warm_failure {
        failure.detail = Some(prepend(format!("during the warm-up of bench `{name}` (nothing was measured)"), failure.detail));
        return Err(failure);
    }
    if iterations.errors > max_errors {
        let first = measured.iter_mut().find_map(|l| l.failure.take()).map(|(f, _)| f);
        let mut failure = first.unwrap_or_else(|| Failure::new("a step failed"));
        let what = format!(
            "bench `{name}`: {} of {} iterations failed, {max_errors} allowed (`expect: {{max_errors: N}}` allows some); this is the first",
            iterations.errors, iterations.count
        );
        failure.detail = Some(prepend(what, failure.detail));
        return Err(failure);
    }
    check_thresholds(spec, &iterations, &per_card)
}

fn prepend(line: String, detail: Option<String>) -> String {
    match detail {
        Some(d) => format!("{line}\n{d}"),
        None => line,
    }
}

/// `times`, `for` and `warmup` scaled by `--bench-scale` (at least one iteration).
fn scaled(count: RepeatCount, scale: f64) -> RepeatCount {
    match count {
        RepeatCount::Times(n) => RepeatCount::Times(((f64::from(n) * scale).ceil().min(f64::from(u32::MAX)) as u32).max(1)),
        RepeatCount::For(d) => RepeatCount::For(d.mul_f64(scale).max(Duration::from_micros(1))),
    }
}

/// Runs `iteration` as `count` says (at least once); it returns false to stop.
fn iterate(count: RepeatCount, mut iteration: impl FnMut() -> bool) {
    match count {
        RepeatCount::Times(n) => {
            for _ in 0..n {
                if !iteration() {
                    break;
                }
            }
        }
        RepeatCount::For(d) => {
            let end = Instant::now() + d;
            while iteration() && Instant::now() < end {}
        }
    }
}

fn measure(
    cx: &mut Context<'_>,
    steps: &[Spanned<Step>],
    card: &str,
    count: RepeatCount,
    warmup: Option<RepeatCount>,
    max_errors: u64,
    barrier: &Barrier,
) -> Lane {
    let mut lane = Lane {
        card: card.to_owned(),
        iterations: Vec::new(),
        count: 0,
        errors: 0,
        steps: steps.iter().map(|_| (Vec::new(), 0, 0)).collect(),
        started: Instant::now(),
        ended: Instant::now(),
        warmed: 0,
        failure: None,
    };
    if let Some(warmup) = warmup {
        iterate(warmup, || match run_steps(cx, steps, Some(card)) {
            Ok(()) => {
                lane.warmed += 1;
                true
            }
            Err(f) => {
                lane.failure = Some((f, true));
                false
            }
        });
    }
    // Every lane waits here, warm-up failed or not, so none waits forever.
    barrier.wait();
    lane.started = Instant::now();
    if lane.failure.is_none() {
        iterate(count, || {
            let start = Instant::now();
            lane.count += 1;
            let mut passed = true;
            for (i, step) in steps.iter().enumerate() {
                let t = Instant::now();
                let result = run_step(cx, step, Some(card));
                let took = t.elapsed();
                let record = &mut lane.steps[i];
                record.1 += 1;
                match result {
                    Ok(()) => record.0.push(took),
                    Err(f) => {
                        record.2 += 1;
                        lane.failure.get_or_insert((f, false));
                        passed = false;
                        break;
                    }
                }
                snapshot_if_named(cx, &step.value);
            }
            if passed {
                lane.iterations.push(start.elapsed());
            } else {
                lane.errors += 1;
            }
            // The transcript keeps the block's last APDUs, not all of a long run.
            if cx.transcript.len() > TRANSCRIPT_KEPT * 64 {
                let cut = cx.transcript.len() - TRANSCRIPT_KEPT;
                cx.transcript.drain(..cut);
            }
            // More errors than allowed: the scenario fails anyway, stop now. Past the
            // scenario's time limit every step fails: stop too.
            lane.errors <= max_errors && Instant::now() <= cx.deadline
        });
    }
    lane.ended = Instant::now();
    lane
}

/// Figures of `count` runs of which `errors` failed, the passed ones' durations in
/// `samples`, over `seconds` of wall time.
fn figures_of(samples: &mut [Duration], count: u64, errors: u64, seconds: f64) -> BenchFigures {
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let passed = samples.len() as f64;
    let per_second = if seconds > 0.0 { passed / seconds } else { 0.0 };
    let mut f = BenchFigures { count, errors, seconds, per_second, ..BenchFigures::default() };
    if !samples.is_empty() {
        let p = Percentiles::of(samples);
        (f.median_us, f.p90_us, f.p99_us, f.max_us) = (micros(p.median), micros(p.p90), micros(p.p99), micros(p.max));
    }
    f
}

fn figures(name: &str, pos: Pos, lanes: &[Lane], steps: &[Spanned<Step>], show_pins: bool) -> BenchResult {
    let start = lanes.iter().map(|l| l.started).min();
    let end = lanes.iter().map(|l| l.ended).max();
    let wall = match (start, end) {
        (Some(s), Some(e)) => e.saturating_duration_since(s).as_secs_f64(),
        _ => 0.0,
    };
    let per_card = lanes
        .iter()
        .map(|l| BenchCard {
            card: l.card.clone(),
            figures: figures_of(&mut l.iterations.clone(), l.count, l.errors, l.ended.saturating_duration_since(l.started).as_secs_f64()),
        })
        .collect();
    let mut all: Vec<Duration> = lanes.iter().flat_map(|l| l.iterations.iter().copied()).collect();
    let iterations = figures_of(&mut all, lanes.iter().map(|l| l.count).sum(), lanes.iter().map(|l| l.errors).sum(), wall);
    let steps = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut samples: Vec<Duration> = lanes.iter().flat_map(|l| l.steps[i].0.iter().copied()).collect();
            let count = lanes.iter().map(|l| l.steps[i].1).sum();
            let errors = lanes.iter().map(|l| l.steps[i].2).sum();
            BenchStep {
                step: super::describe(&s.value, show_pins),
                pos: Pos::of(&s.referenced),
                figures: figures_of(&mut samples, count, errors, wall),
            }
        })
        .collect();
    BenchResult { name: name.to_owned(), pos, warmup: lanes.iter().map(|l| l.warmed).max().unwrap_or(0), iterations, per_card, steps }
}

/// The first threshold missed, at its position; every missed one in the detail.
fn check_thresholds(spec: &BenchSpec, it: &BenchFigures, per_card: &[BenchCard]) -> Result<(), Failure> {
    let e = &spec.expect;
    let mut missed: Vec<Failure> = Vec::new();
    let below = |label: &str, limit: &Option<Spanned<DurationValue>>, us: f64, missed: &mut Vec<Failure>| {
        if let Some(limit) = limit {
            let required = limit.value.0.as_secs_f64() * 1e6;
            if us >= required {
                missed.push(Failure {
                    pos: Some(Pos::of(&limit.referenced)),
                    ..Failure::differ(
                        format!("the {label} iteration took {}, not below {}", human_micros(us), human_micros(required)),
                        format!("{label} below {}", human_micros(required)),
                        human_micros(us),
                    )
                });
            }
        }
    };
    below("median", &e.median_below, it.median_us, &mut missed);
    below("p90", &e.p90_below, it.p90_us, &mut missed);
    below("p99", &e.p99_below, it.p99_us, &mut missed);
    below("slowest (max)", &e.max_below, it.max_us, &mut missed);
    let rate = |what: String, limit: &Spanned<f64>, measured: f64, missed: &mut Vec<Failure>| {
        if measured < limit.value {
            missed.push(Failure {
                pos: Some(Pos::of(&limit.referenced)),
                ..Failure::differ(
                    format!("{what} {measured:.1} iterations per second, required at least {}", limit.value),
                    format!("at least {} per second", limit.value),
                    format!("{measured:.1} per second"),
                )
            });
        }
    };
    if let Some(limit) = &e.at_least_per_second {
        let who = if per_card.len() > 1 { "all cards together ran" } else { "the block ran" };
        rate(who.to_owned(), limit, it.per_second, &mut missed);
    }
    if let Some(limit) = &e.at_least_per_second_per_card {
        for card in per_card {
            rate(format!("card `{}` ran", card.card), limit, card.figures.per_second, &mut missed);
        }
    }
    let mut missed = missed.into_iter();
    let Some(mut first) = missed.next() else { return Ok(()) };
    let others: Vec<String> = missed.map(|f| f.title).collect();
    if !others.is_empty() {
        first.detail = Some(format!("also missed:\n{}", others.join("\n")));
    }
    Err(first)
}
