//! Live control of running cards: a small versioned protocol ([`protocol`]) over a unix
//! socket ([`server`]), spoken by `mynasim ctl` ([`client`]) and, over HTTP, by the web
//! inspector; the event stream ([`events`]) of what the cards see; where the sockets live
//! ([`discover`]).
//!
//! The operations are the scenario steps' (`set`, `fault`, `card`, `state`), acting on the
//! same [`Slot`](crate::slot::Slot)s: what a scenario does to a card, a person can do by
//! hand while their program runs.

pub mod client;
pub mod discover;
pub mod events;
pub mod protocol;
pub mod server;
pub mod status;
