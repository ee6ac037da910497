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
//!
//! ## The real-card survey's other corrections (spec §13.5) and the choices they left
//!
//! - VERIFY by SFI makes the key the current EF; \[inf\] so do the status query and CHANGE
//!   REFERENCE DATA / CHANGE KEY by SFI (`card::Card`'s `pin_object`).
//! - INTERNAL AUTHENTICATE answers with common-AP 0019 only: JPKI keys `69 82`, \[inf\] with
//!   the PIN verified too; the 券面 keys `69 85` (`card::Card`'s `internal_authenticate`).
//! - Key IDs carry `08 05` ([`pki::cv::KEY_ID_MIDDLE`]); CV subjects follow the surveyed
//!   card's `<municipality>31` / `<municipality>21` ([`issue`]).
//! - Digit images 6×12 a digit ([`images::render_digits_png`]).
//! - SM: long-form DO lengths; `69 87` and `69 88` end the session ([`sm`]).
//! - `80 A2`, `80 FC`, `80 8A` exist card-wide ([`command`]).
//! - Smartphone JPKI tokens: [`profile::DeviceKind`].

pub mod apdu;
pub mod applets;
pub mod card;
pub mod command;
pub mod decode;
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
