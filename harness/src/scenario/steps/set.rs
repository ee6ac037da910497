//! `set`: the outside world changes the card. The municipal office resets a blocked
//! 4-digit PIN (its counter back to the maximum, optionally a new value); a kiosk resets
//! the signature password; counters and values set directly; the verification clock moved.

use zeroize::Zeroizing;

use crate::scenario::clock::ClockShift;
use crate::scenario::format::SetAction;
use crate::scenario::result::Failure;
use crate::scenario::runner::Context;
use crate::slot::{PinChange, Tries};

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
    let text = |v: &crate::scenario::format::TextTemplate| v.0.text(&cx.vars).map(Zeroizing::new).map_err(|e| Failure::new(e.to_string()));
    let mut changes = Vec::new();
    for (pin, change) in &set.pins {
        let value = change.value.as_ref().map(text).transpose()?;
        changes.push(PinChange { pin: *pin, tries: change.remaining.map(Tries::Exactly), value });
    }
    if let Some(pin) = set.office_reset.or(set.kiosk_reset) {
        let value = set.new_pin.as_ref().map(text).transpose()?;
        changes.push(PinChange { pin, tries: Some(Tries::All), value });
    }
    cx.cards[card].slot.change_pins(&changes).map_err(Failure::new)
}
