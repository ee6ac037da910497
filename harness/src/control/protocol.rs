//! The control protocol, version [`VERSION`]: JSON lines over a unix socket.
//!
//! On connecting, the server sends one [`Hello`] line. Then each line the client sends is
//! one request (a [`Request`], tagged by `op`, with an optional `id` echoed in its reply),
//! and the server answers each with one [`Reply`] line, in order. `{"op":"watch"}` turns
//! the connection into the event stream: after its reply, the server sends one [`Event`]
//! line per event until the client closes the connection.
//!
//! ```text
//! < {"mynasim_control":1,"server":"mynasim 0.1.0","pid":4242,"cards":["default"]}
//! > {"id":1,"op":"lock","pin":"auth"}
//! < {"id":1,"ok":true,"result":{"card":"default","done":"auth PIN locked (0 of 3 tries left)"}}
//! > {"op":"watch"}
//! < {"ok":true,"result":{"watching":["default"]}}
//! < {"event":"apdu","card":"default","at_ms":1764640000123,"command":"0020008004********",...}
//! ```
//!
//! A request naming no `card` acts on the only card; with several cards it must name one,
//! by name (the profile's file name without its extension, as `status` lists them) or by slot number. A change
//! is durable (in the card's state file, if it has one) before its reply is sent. The
//! full reference is docs/control-protocol.md. Versions only grow: fields may be added to
//! replies and events; a request or field a server does not know is refused with a reply
//! saying so.

use serde::{Deserialize, Serialize};

use crate::scenario::format::{FaultSpec, PinName};
use mynasim_simulator::state::PersistentState;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The server's first line on every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version ([`VERSION`]).
    pub mynasim_control: u32,
    /// The serving program and its version, e.g. `mynasim 0.1.0`.
    pub server: String,
    /// The serving process.
    pub pid: u32,
    /// The cards, in slot order.
    pub cards: Vec<String>,
}

/// One request: a JSON object whose `op` names the operation.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Every card's status: [`StatusReply`].
    Status,
    /// Sets a PIN's tries left and/or its value.
    Pin {
        /// Which card (see the module docs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
        /// Which PIN.
        pin: PinName,
        /// Tries left (0 blocks it), at most its maximum.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remaining: Option<u8>,
        /// A new value (it must suit the PIN: 4 digits for `auth`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// Blocks a PIN (0 tries left).
    Lock {
        /// Which card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
        /// Which PIN.
        pin: PinName,
    },
    /// Gives a PIN all its tries back, its value unchanged.
    Unlock {
        /// Which card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
        /// Which PIN.
        pin: PinName,
    },
    /// The municipal office's reset (a kiosk's, for `sign`): all tries back and, if given,
    /// a new value.
    OfficeReset {
        /// Which card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
        /// Which PIN.
        pin: PinName,
        /// The new value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_pin: Option<String>,
    },
    /// Pulls the card out of the reader (the vpcd connection closes; PC/SC clients see
    /// the card removed once pcscd polls the reader).
    Remove {
        /// Which card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
    },
    /// Puts the card back.
    Insert {
        /// Which card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
    },
    /// A warm reset of the card alone, unseen by pcscd (a glitch on the reset line): the
    /// session is kept or cleared as the profile's `reset: warm:` says.
    Reset {
        /// Which card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
    },
    /// The card loses power for a moment, unseen by pcscd (a contactless card leaving the
    /// field and coming back): its session is cleared; the client's next command meets a
    /// freshly powered card.
    PowerCycle {
        /// Which card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
    },
    /// Swaps in another card from a profile: out, then the new card in, as a person swaps
    /// cards (PC/SC clients see a removal and an insertion).
    Swap {
        /// Which card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
        /// The profile (YAML) of the card to put in, a path the server can read.
        profile: String,
    },
    /// Adds a fault, or clears them: the same object as a scenario's `fault` step
    /// (`latency`, `sw` + `executed`, `tear`, `match`, `count`, `clear`, `drop_connection`).
    Fault {
        /// Which card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        card: Option<String>,
        /// The fault.
        fault: FaultSpec,
    },
    /// Every card's persistent state and presence: a [`Snapshot`].
    Snapshot,
    /// Puts back a [`Snapshot`]'s PINs and presence.
    Restore {
        /// What `snapshot` returned.
        snapshot: Snapshot,
    },
    /// Turns the connection into the event stream.
    Watch,
}

/// The server's answer to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The request's `id`, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// Whether it was done.
    pub ok: bool,
    /// What it returned, when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why not, when not `ok`: what to fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a change request returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// The card it acted on.
    pub card: String,
    /// What was done, in words.
    pub done: String,
}

/// `status`'s result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    /// Every card, in slot order.
    pub cards: Vec<CardStatus>,
}

/// One card as `status` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CardStatus {
    /// Its name (the profile's file name without its extension, or `default`).
    pub card: String,
    /// Its slot (vpcd port 35963 + slot in a private sandbox).
    pub slot: usize,
    /// The profile it was loaded from (`None`: the default card).
    pub profile: Option<String>,
    /// `card`, `android-token` or `iphone-token`.
    pub kind: String,
    /// The holder's name as printed.
    pub holder: String,
    /// The card's expiry date (`YYYY-MM-DD`).
    pub expires: String,
    /// The state file, if the profile has one.
    pub state_file: Option<String>,
    /// The JPKI certificates.
    pub certificates: Vec<CertificateStatus>,
    /// What changes while it runs.
    #[serde(flatten)]
    pub state: CardState,
}

/// A card's changing state (also the payload of [`Event::State`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardState {
    /// Counts the card's state changes. States reach a watcher from the card's own thread
    /// and from control requests, so they can arrive out of order: one with a lower `seq`
    /// than one already seen (in an event or a `status`) is older.
    pub seq: u64,
    /// In the reader.
    pub inserted: bool,
    /// Connected to vpcd (pcscd sees it) right now.
    pub connected: bool,
    /// Every PIN the card has.
    pub pins: Vec<PinStatus>,
    /// The current application as scenarios name it (`jpki`, `text`, …); `None`: the MF
    /// level.
    pub applet: Option<String>,
    /// The current application's name on the card (`公的個人認証AP`).
    pub applet_label: Option<String>,
    /// The current EF (`000A`).
    pub ef: Option<String>,
    /// What the current EF holds (`auth certificate`).
    pub ef_label: Option<String>,
    /// A secure-messaging session is open.
    pub sm: bool,
    /// The faults in force, in words.
    pub faults: Vec<String>,
}

/// One PIN's counter and flags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinStatus {
    /// Its name in requests and scenarios.
    pub pin: PinName,
    /// What it is on the card (`JPKI auth PIN (0018)`).
    pub label: String,
    /// Tries left.
    pub remaining: u8,
    /// Tries a correct entry restores.
    pub max_tries: u8,
    /// No tries left.
    pub blocked: bool,
    /// Verified in the current session.
    pub verified: bool,
}

/// A certificate on the card and its validity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateStatus {
    /// `auth`, `sign`, `auth_ca` or `sign_ca`.
    pub which: String,
    /// Its EF in the JPKI AP.
    pub ef: String,
    /// Subject, one line.
    pub subject: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// Valid now (by the server's clock).
    pub valid_now: bool,
}

/// Every card's persistent state and presence (`snapshot`, `restore`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The protocol version that wrote it.
    pub mynasim_control: u32,
    /// The cards, in slot order.
    pub cards: Vec<CardSnapshot>,
}

/// One card in a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSnapshot {
    /// Its name.
    pub card: String,
    /// In the reader.
    pub inserted: bool,
    /// Its PINs (values included: a snapshot is as secret as a state file).
    pub state: PersistentState,
}

/// One line of the event stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A command and its answer.
    Apdu {
        /// Which card.
        card: String,
        /// When the command arrived (Unix time, milliseconds).
        at_ms: u64,
        /// The command in hex, PIN bytes masked (`**`).
        command: String,
        /// The command in the card's terms (`VERIFY 0018 (auth PIN) (4 bytes, masked)`).
        name: String,
        /// The answer in hex; `None` when the card was torn out before answering.
        response: Option<String>,
        /// What the answer means (`63 C2 wrong PIN …, 2 tries left`).
        meaning: Option<String>,
        /// How long the card (and any latency fault) took, in microseconds.
        micros: u64,
    },
    /// The card's state changed (by a command or from outside).
    State {
        /// Which card.
        card: String,
        /// The state now.
        state: CardState,
    },
    /// A power event from the reader: `power off`, `power on`, `warm reset`.
    Power {
        /// Which card.
        card: String,
        /// Which.
        what: String,
    },
    /// The card connected to vpcd (after an insertion, or pcscd restarting).
    Connected {
        /// Which card.
        card: String,
    },
    /// The card went into the reader.
    Inserted {
        /// Which card.
        card: String,
    },
    /// The card left the reader.
    Removed {
        /// Which card.
        card: String,
    },
    /// A control request changed the card.
    Control {
        /// Which card.
        card: String,
        /// What was done.
        done: String,
    },
    /// This watcher fell behind and lost this many events.
    Dropped {
        /// How many.
        count: u64,
    },
}
