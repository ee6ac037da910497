//! `apdu`: one command through the reader; the status word, data and saved values.

use std::time::Instant;

use crate::scenario::format::{ApduStep, DataExpect, DataKind, Pos, SaveSource, SwExpect};
use crate::scenario::matchers::hex_excerpt;
use crate::scenario::result::{Exchange, Failure};
use crate::scenario::runner::Context;
use crate::scenario::template::{hex, Value};
use mynasim_simulator::decode::Decoder;

/// Sends `apdu` to card `card` and records the exchange; the R-APDU or no answer.
pub(crate) fn exchange(cx: &mut Context<'_>, card: usize, apdu: &[u8], pos: Pos) -> Result<Vec<u8>, Failure> {
    // The card's own selection (the worker serves the card it talks to); the command is
    // named from it only when a report needs the name, not on every APDU (bench timings).
    let decoder = cx.cards[card].slot.with_card(|loaded| Decoder::at(&loaded.card));
    let reader = cx.readers.get_mut(card).and_then(Option::as_mut).ok_or_else(|| Failure::new("internal: no reader for this card"))?;
    let started = Instant::now();
    let result = reader.transmit(apdu);
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let command = if cx.show_pins { hex(apdu) } else { crate::transcript::masked_hex(apdu) };
    cx.transcript.push(Exchange {
        card: cx.cards[card].spec.name.clone(),
        command,
        decoder,
        response: result.as_ref().ok().map(|r| hex(r)),
        micros,
        line: pos.line,
    });
    result.map_err(|e| Failure::new(format!("no answer: {e}")))
}

pub(super) fn run(cx: &mut Context<'_>, step: &ApduStep, pos: Pos, card: usize) -> Result<(), Failure> {
    let apdu = step.command.0.bytes(&cx.vars).map_err(|e| Failure::new(e.to_string()))?;
    if apdu.len() < 4 {
        return Err(Failure::new(format!("a command APDU has at least 4 bytes (CLA INS P1 P2), this one has {}", apdu.len())));
    }
    let response = exchange(cx, card, &apdu, pos)?;
    let (data, sw) = response.split_at(response.len().saturating_sub(2));
    let sw = match sw {
        [a, b] => u16::from_be_bytes([*a, *b]),
        _ => return Err(Failure::differ("response", "a status word", hex_excerpt(&response, 16))),
    };
    if let SwExpect::OneOf(patterns) = &step.sw {
        if !patterns.iter().any(|p| p.matches(sw)) {
            let expected = patterns.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ");
            let mut failure = Failure::differ("status word", expected, format!("{sw:04X} ({})", mynasim_simulator::Sw(sw).meaning()));
            if !data.is_empty() {
                failure = failure.with_detail(format!("data: {}", hex_excerpt(data, 32)));
            }
            return Err(failure);
        }
    }
    if let Some(expect) = &step.data {
        check_data(cx, expect, data)?;
    }
    for (name, source) in &step.save.0 {
        let value = match source {
            None | Some(SaveSource::Data) => data.to_vec(),
            Some(SaveSource::Sw) => sw.to_be_bytes().to_vec(),
            Some(_) => return Err(Failure::new("internal: apdu save source")),
        };
        cx.vars.set(name.clone(), Value::Bytes(value));
    }
    Ok(())
}

pub(crate) fn check_data(cx: &Context<'_>, expect: &DataExpect, data: &[u8]) -> Result<(), Failure> {
    let shown = || hex_excerpt(data, 32);
    if let Some(p) = &expect.equals {
        if !p.0.matches(data) {
            return Err(Failure::differ("data", format!("{} bytes matching the pattern", p.0.len()), shown()));
        }
    }
    if let Some(same) = &expect.same_as {
        let want = same.0.bytes(&cx.vars).map_err(|e| Failure::new(e.to_string()))?;
        if want != data {
            return Err(Failure::differ("data", hex_excerpt(&want, 32), shown()));
        }
    }
    if let Some(p) = &expect.prefix {
        if !p.0.matches_prefix(data) {
            return Err(Failure::differ("data prefix", format!("starts with the {}-byte pattern", p.0.len()), shown()));
        }
    }
    if let Some(len) = expect.len {
        if data.len() != len {
            return Err(Failure::differ("data length", format!("{len} bytes"), format!("{} bytes", data.len())));
        }
    }
    if let Some(re) = &expect.regex {
        if !re.0.regex.is_match(&hex(data)) {
            return Err(Failure::differ("data", format!("hex matching /{}/", re.0.text), shown()));
        }
    }
    match expect.is {
        Some(DataKind::Certificate) => {
            crate::verify::is_der_certificate(data)
                .map_err(|e| Failure::differ("data", "a DER X.509 certificate", format!("{e}: {}", shown())))?;
        }
        Some(DataKind::Tlv) => {
            crate::verify::parses_as_tlv(data).map_err(|e| Failure::differ("data", "BER-TLV", format!("{e}: {}", shown())))?;
        }
        None => {}
    }
    Ok(())
}
