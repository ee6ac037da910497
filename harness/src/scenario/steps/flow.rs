//! `repeat` and `parallel` blocks.

use std::time::Instant;

use serde_saphyr::Spanned;

use crate::scenario::format::{Branch, Pos, RepeatCount, Step};
use crate::scenario::reader::Reader;
use crate::scenario::result::Failure;
use crate::scenario::runner::{run_steps, Context};

/// Repeats `steps` a number of times or for a while (at least once).
pub(super) fn repeat(cx: &mut Context<'_>, count: RepeatCount, steps: &[Spanned<Step>], on: Option<&str>) -> Result<(), Failure> {
    match count {
        RepeatCount::Times(n) => {
            for _ in 0..n {
                run_steps(cx, steps, on)?;
            }
        }
        RepeatCount::For(d) => {
            let end = Instant::now() + d;
            loop {
                run_steps(cx, steps, on)?;
                if Instant::now() >= end {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Runs each branch on its own thread, each with its card's reader; branches must drive
/// different cards.
pub(super) fn parallel(cx: &mut Context<'_>, branches: &[Spanned<Branch>]) -> Result<(), Failure> {
    let lanes: Vec<(usize, Pos)> = branches.iter().map(|b| (cx.card_index(b.value.on.as_deref()), Pos::of(&b.referenced))).collect();
    let results = on_lanes(cx, &lanes, &|lane, i, name| run_steps(lane, &branches[i].value.steps, Some(name)))?;
    results.into_iter().find_map(|r| r.and_then(|r| r).err()).map_or(Ok(()), Err)
}

/// A lane's readers: only its own card's is there.
type Readers = Vec<Option<Box<dyn Reader>>>;

/// The machinery of `parallel` (and of `bench` on several cards): runs `body` once per
/// lane `(card, position)`, each on its own thread with a context of its own that holds
/// only that card's reader (values saved stay in the lane). Afterwards the readers, the
/// transcript, the step count and bench figures come back to `cx`. Two lanes on one card
/// are a failure at the second lane's position; a lane that panicked is a failure.
pub(super) fn on_lanes<T: Send>(
    cx: &mut Context<'_>,
    lanes: &[(usize, Pos)],
    body: &(dyn Fn(&mut Context<'_>, usize, &str) -> T + Sync),
) -> Result<Vec<Result<T, Failure>>, Failure> {
    let mut prepared: Vec<(usize, Readers)> = Vec::new();
    for &(card, pos) in lanes {
        let Some(reader) = cx.readers.get_mut(card).and_then(Option::take) else {
            for (card, mut readers) in prepared.drain(..) {
                cx.readers[card] = readers[card].take();
            }
            return Err(Failure {
                pos: Some(pos),
                ..Failure::new(format!(
                    "two parallel branches drive card `{}`; give each branch its own card with `on:`",
                    cx.cards[card].spec.name
                ))
            });
        };
        let mut readers: Vec<_> = cx.cards.iter().map(|_| None).collect();
        readers[card] = Some(reader);
        prepared.push((card, readers));
    }
    let (cards, scenario, mode, work, clock, show_pins, deadline, bench_scale) =
        (cx.cards, cx.scenario, cx.mode, cx.work.clone(), cx.clock, cx.show_pins, cx.deadline, cx.bench_scale);
    let vars = cx.vars.clone();
    let revoked = cx.revoked.clone();
    let program_env = cx.program_env.clone();
    let snapshots = cx.snapshots.clone();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .into_iter()
            .enumerate()
            .map(|(i, (card, readers))| {
                let (vars, snapshots, work, program_env) = (vars.clone(), snapshots.clone(), work.clone(), program_env.clone());
                let revoked = revoked.clone();
                let handle = scope.spawn(move || {
                    let mut lane = Context {
                        scenario,
                        mode,
                        cards,
                        readers,
                        pcscd: None,
                        program_env,
                        vars,
                        work,
                        clock,
                        revoked,
                        snapshots,
                        transcript: Vec::new(),
                        steps_run: 0,
                        show_pins,
                        deadline,
                        bench_scale,
                        benches: Vec::new(),
                    };
                    let name = cards[card].spec.name.clone();
                    let result = body(&mut lane, i, &name);
                    (lane, result)
                });
                (card, handle)
            })
            .collect();
        handles.into_iter().map(|(card, h)| (card, h.join())).collect()
    });
    let mut out = Vec::new();
    for (card, joined) in results {
        match joined {
            Ok((mut lane, result)) => {
                cx.readers[card] = lane.readers[card].take();
                cx.transcript.append(&mut lane.transcript);
                cx.benches.append(&mut lane.benches);
                cx.steps_run += lane.steps_run;
                out.push(Ok(result));
            }
            Err(_) => out.push(Err(Failure::new("a parallel branch panicked"))),
        }
    }
    Ok(out)
}
