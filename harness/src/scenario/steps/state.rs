//! `state`: the card's internal state, read straight from the simulator (not through
//! APDUs): tries left, blocked and verified flags, the current application and EF, the
//! secure-messaging session, presence, and "nothing else changed since step N".

use mynasim_simulator::sm::SmState;

use crate::scenario::format::{PinName, StateExpect};
use crate::scenario::result::Failure;
use crate::scenario::runner::Context;

pub(super) fn run(cx: &mut Context<'_>, expect: &StateExpect, card: usize) -> Result<(), Failure> {
    let runtime = &cx.cards[card];
    if let Some(inserted) = expect.inserted {
        let actual = runtime.slot.is_inserted();
        if actual != inserted {
            return Err(Failure::differ(
                "card presence",
                if inserted { "inserted" } else { "removed" },
                if actual { "inserted" } else { "removed" },
            ));
        }
    }
    runtime.slot.with_card(|loaded| -> Result<(), Failure> {
        let card = &loaded.card;
        let session = card.session();
        for (pin, want) in &expect.pins {
            let record = card.pin(pin.id());
            if let Some(remaining) = want.remaining {
                if record.remaining != remaining {
                    return Err(Failure::differ(
                        format!("{} PIN tries left", pin.as_str()),
                        remaining.to_string(),
                        record.remaining.to_string(),
                    ));
                }
            }
            if let Some(blocked) = want.blocked {
                if record.is_blocked() != blocked {
                    return Err(Failure::differ(
                        format!("{} PIN blocked", pin.as_str()),
                        blocked.to_string(),
                        record.is_blocked().to_string(),
                    ));
                }
            }
            if let Some(verified) = want.verified {
                if session.verified.contains(pin.id()) != verified {
                    return Err(Failure::differ(format!("{} PIN verified", pin.as_str()), verified.to_string(), (!verified).to_string()));
                }
            }
        }
        if let Some(want) = &expect.verified {
            let actual: Vec<&str> = PinName::ALL.iter().filter(|p| session.verified.contains(p.id())).map(|p| p.as_str()).collect();
            let mut want: Vec<&str> = want.iter().map(|p| p.as_str()).collect();
            want.sort_by_key(|n| PinName::ALL.iter().position(|p| p.as_str() == *n));
            if actual != want {
                return Err(Failure::differ("verified PINs", format!("[{}]", want.join(", ")), format!("[{}]", actual.join(", "))));
            }
        }
        let applet = session.applet.and_then(|i| card.applets().get(i));
        if let Some(want) = &expect.applet {
            let actual = applet.map_or("none", |a| a.id.key());
            if actual != want {
                return Err(Failure::differ("current application", want.clone(), actual));
            }
        }
        if let Some(want) = &expect.ef {
            let actual = match (applet, session.current) {
                (Some(a), Some(i)) => a.files.get(i).map_or("none".to_owned(), |f| format!("{:04X}", f.fid)),
                _ => "none".to_owned(),
            };
            if !actual.eq_ignore_ascii_case(want) {
                return Err(Failure::differ("current EF", want.clone(), actual));
            }
        }
        if let Some(want) = expect.sm {
            let open = matches!(session.sm, SmState::Open(_));
            if open != want {
                return Err(Failure::differ(
                    "secure-messaging session",
                    if want { "open" } else { "closed" },
                    if open { "open" } else { "closed" },
                ));
            }
        }
        Ok(())
    })?;
    if let Some(since) = &expect.unchanged_since {
        let before = cx.snapshots.get(since).ok_or_else(|| Failure::new(format!("internal: no snapshot at {since:?}")))?;
        let now = cx.persistent_states();
        for (i, (old, new)) in before.iter().zip(&now).enumerate() {
            for (a, b) in old.pins.iter().zip(&new.pins) {
                let listed = expect.pins.keys().any(|p| p.id() == a.pin) && i == card;
                if a != b && !listed {
                    let what = |r: &mynasim_simulator::pins::PinRecord| format!("{}/{} tries", r.remaining, r.max_tries);
                    let value_changed = if a.record.value != b.record.value { ", value changed" } else { "" };
                    return Err(Failure::differ(
                        format!("state changed since {since:?} (card {})", cx.cards[i].spec.name),
                        format!("{}: {}", a.pin.describe(), what(&a.record)),
                        format!("{}: {}{value_changed}", b.pin.describe(), what(&b.record)),
                    ));
                }
            }
        }
    }
    Ok(())
}
