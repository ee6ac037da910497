//! Power events and what they do to the card's volatile session (spec §3.11, §13.4).
//!
//! A reader delivers three events: power off (contacts unpowered, field off, card pulled
//! out), power on, and a warm reset (vpcd's reset control, what `SCardReconnect` with
//! `SCARD_RESET_CARD` sends). Counters and PIN values are non-volatile and survive all
//! three; what differs is the session (current application and EF, verified PINs, the
//! secure-messaging session).
//!
//! Choices (spec §13.4 leaves room; tagged as in the spec):
//! - **Power off always clears the session**, and makes the ISD/MF level current again
//!   (`[code]`, myna-card: only a power-down clears a security status).
//! - **A warm reset keeps the session on the contactless interface by default**
//!   ([`WarmReset::Keep`]): the survey used a contactless reader (the RC-S300), where the
//!   reader's "reset" may never reach the card, and the surveyed card kept its security
//!   status across it (`[code]`, myna-card README "Who else may hold the card"). Keeping
//!   it by default is also the stricter test: a client that relies on a reset to log out
//!   is caught. **On the contact interface the default clears it** ([`WarmReset::Clear`]):
//!   there a warm reset is a real RST line to the chip, which restarts its OS `[inf]`.
//!   A profile chooses either for either interface (`reset: { warm: keep | clear }`).
//! - **Disconnecting and reconnecting without a reset** (`SCARD_LEAVE_CARD`) sends the card
//!   nothing, so it keeps everything; that needs no code here.
//! - **`6F 00` on the first command after power-up** is optional and off by default
//!   (`reset: { first_command_after_power_up: 6F00 }`): the surveyed card answered it so
//!   (`[code]`, myna-card `power_cycle` sends a throw-away `00 A4 00 00` for that reason),
//!   but no other source reports it `[inf]`. The command is not executed. A warm reset
//!   does not arm it again (it is not a power-up).

use serde::Deserialize;

/// An event a reader delivers to the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerEvent {
    /// Power off: contacts unpowered, field off, card removed, the reader gone.
    Off,
    /// Power on (a cold reset is [`PowerEvent::Off`] then this).
    On,
    /// A warm reset: vpcd's reset control, `SCardReconnect` with `SCARD_RESET_CARD`.
    WarmReset,
}

/// The interface the card is read through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    /// ISO 7816-3 contacts.
    #[default]
    Contact,
    /// ISO 14443 (NFC), the ATR made up by the reader (PC/SC Part 3).
    Contactless,
}

impl Interface {
    /// The interface an ATR was made by: PC/SC Part 3 ATRs of contactless cards start
    /// `3B 8x 80 01` (spec §2.2); every other ATR comes from contacts.
    pub fn of_atr(atr: &[u8]) -> Interface {
        match atr {
            [0x3B, t0, 0x80, 0x01, ..] if t0 & 0xF0 == 0x80 => Interface::Contactless,
            _ => Interface::Contact,
        }
    }

    /// The warm-reset behaviour of this interface when the profile does not choose one.
    pub fn default_warm_reset(self) -> WarmReset {
        match self {
            Interface::Contact => WarmReset::Clear,
            Interface::Contactless => WarmReset::Keep,
        }
    }
}

/// What a warm reset does to the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WarmReset {
    /// Nothing changes: current application, EF, verified PINs and SM session stay.
    Keep,
    /// Like a power cycle: the session is cleared.
    Clear,
}

/// How the card answers power events (resolved from the profile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerBehaviour {
    /// What a warm reset does.
    pub warm_reset: WarmReset,
    /// Answer the first command after each power-up with `6F 00`, unexecuted.
    pub refuse_first_command: bool,
}

impl Default for PowerBehaviour {
    fn default() -> PowerBehaviour {
        PowerBehaviour { warm_reset: Interface::Contact.default_warm_reset(), refuse_first_command: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{ATR_CONTACT, ATR_CONTACTLESS, ATR_OPENSC};

    #[test]
    fn interface_of_the_known_atrs() {
        assert_eq!(Interface::of_atr(ATR_CONTACT), Interface::Contact);
        assert_eq!(Interface::of_atr(ATR_OPENSC), Interface::Contact);
        assert_eq!(Interface::of_atr(ATR_CONTACTLESS), Interface::Contactless);
        assert_eq!(Interface::of_atr(&[0x3B, 0x80, 0x80, 0x01, 0x01]), Interface::Contactless);
        assert_eq!(Interface::of_atr(&[0x3B, 0x88, 0x81, 0x01]), Interface::Contact);
    }
}
