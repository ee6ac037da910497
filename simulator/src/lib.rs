//! A virtual Japanese My Number card (マイナンバーカード): APDUs in, APDUs out.
//!
//! The card core of mynasim. It holds every application of the real card (JPKI, the text
//! and surface 券面 APs, the common and juki APs), their files, PIN counters, locks and
//! status words, and a test PKI, all described by the project's specification
//! (`shared/spec/my-number-card.md`, cited as "spec §N" throughout).
//!
//! The core does no I/O: no files, sockets, threads or clocks. Time comes in as the
//! `today` of [`profile::Profile::resolve`], randomness as the RNG given to
//! [`issue::issue`], generated keys go through a caller-provided [`pki::KeyCache`].
//!
//! ```
//! use mynasim_simulator::{issue, pki::MemoryKeyCache, profile::Profile};
//! use rand_core::SeedableRng;
//!
//! let today = time::macros::date!(2026 - 11 - 23);
//! let personalization = Profile::from_yaml("", "default")?.resolve(today, "default")?;
//! let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(1));
//! let mut card = issue::issue(&personalization, &mut MemoryKeyCache::default(), rng)?;
//! let response = card.transmit(&[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01]);
//! assert_eq!(response, [0x90, 0x00]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod apdu;
pub mod applets;
pub mod card;
pub mod command;
pub mod files;
pub mod images;
pub mod issue;
pub mod mynumber;
pub mod pins;
pub mod pki;
pub mod power;
pub mod profile;
pub mod sm;
pub mod state;
pub mod sw;
pub mod tlv;

pub use card::Card;
pub use sw::Sw;
