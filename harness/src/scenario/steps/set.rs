//! `set`: the outside world changes the card. The municipal office resets a blocked
//! 4-digit PIN (its counter back to the maximum, optionally a new value); a kiosk resets
//! the signature password; counters and values set directly; the verification clock moved.

use mynasim_simulator::pins::PinRecord;
use zeroize::Zeroizing;

use crate::scenario::clock::ClockShift;
use crate::scenario::format::{PinName, SetAction};
use crate::scenario::result::Failure;
use crate::scenario::runner::Context;

pub(super) fn run(cx: &mut Context<'_>, set: &SetAction, card: usize) -> Result<(), Failure> {
    if let Some(which) = set.revoke {
        let der = super::verify::card_certificate(cx, card, which.into())?;
        let info = crate::verify::is_der_certificate(&der).map_err(|e| Failure::new(e.to_string()))?;
        cx.revoked.push(info.serial);
        return Ok(());
    }
    if let Some(clock) = &set.clock {
        let shift = ClockShift::parse(clock).map_err(Failure::new)?;
        cx.clock = shift.apply(cx.clock);
        return Ok(());
    }
    let mut changes: Vec<(PinName, Option<u8>, Option<String>)> = Vec::new();
    for (pin, change) in &set.pins {
        let value = change.value.as_ref().map(|v| v.0.text(&cx.vars)).transpose().map_err(|e| Failure::new(e.to_string()))?;
        changes.push((*pin, change.remaining, value));
    }
    let new_pin = set.new_pin.as_ref().map(|v| v.0.text(&cx.vars)).transpose().map_err(|e| Failure::new(e.to_string()))?;
    if let Some(pin) = set.office_reset.or(set.kiosk_reset) {
        changes.push((pin, Some(u8::MAX), new_pin));
    }
    cx.cards[card]
        .slot
        .modify_card(|loaded| -> Result<(), Failure> {
            for (pin, remaining, value) in changes {
                let old = loaded.card.pin(pin.id()).clone();
                let value = match value {
                    Some(v) => {
                        if !pin.id().format().accepts(v.as_bytes()) {
                            return Err(Failure::new(format!("{v:?} is not a valid value for the {} PIN", pin.as_str())));
                        }
                        Zeroizing::new(v.into_bytes())
                    }
                    None => old.value.clone(),
                };
                let remaining = match remaining {
                    Some(u8::MAX) => old.max_tries,
                    Some(n) if n > old.max_tries => {
                        return Err(Failure::new(format!("the {} PIN has at most {} tries, not {n}", pin.as_str(), old.max_tries)))
                    }
                    Some(n) => n,
                    None => old.remaining,
                };
                loaded.card.set_pin(pin.id(), PinRecord { value, max_tries: old.max_tries, remaining });
            }
            Ok(())
        })
        .map_err(|e| Failure::new(format!("cannot save the card's state: {e}")))?
}
