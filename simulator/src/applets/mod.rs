//! The card's applications (spec §2.4, §7.1): each module lays out one application's files,
//! keys and rules; [`crate::card::Card`] runs the commands over them.

pub mod common;
pub mod isd;
pub mod jpki;
pub mod juki;
pub mod surface;
pub mod text;

use serde::{Deserialize, Serialize};

use crate::command::SignMode;
use crate::files::{Content, Ef, KeyIndex};
use crate::pins::PinId;
use crate::pki::RsaKey;

/// Which application (serialized in lower case: `jpki`, `text`, `surface`, `common`, `juki`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppletId {
    /// 公的個人認証AP (spec §4).
    Jpki,
    /// 券面事項入力補助AP (spec §5).
    Text,
    /// 券面事項確認AP (spec §6).
    Surface,
    /// 共通カードAP (spec §7.2).
    Common,
    /// 住基AP (spec §7.3).
    Juki,
}

impl AppletId {
    /// Every application, in the card's order: the order a partial DF name is matched in
    /// ([`find_by_name`]).
    pub const ALL: [AppletId; 5] = [AppletId::Jpki, AppletId::Text, AppletId::Surface, AppletId::Common, AppletId::Juki];

    /// Its short name, as serialized and as scenarios and the control protocol write it.
    pub const fn key(self) -> &'static str {
        match self {
            AppletId::Jpki => "jpki",
            AppletId::Text => "text",
            AppletId::Surface => "surface",
            AppletId::Common => "common",
            AppletId::Juki => "juki",
        }
    }

    /// Its DF name (AID).
    pub const fn aid(self) -> &'static [u8] {
        match self {
            AppletId::Jpki => jpki::AID,
            AppletId::Text => text::AID,
            AppletId::Surface => surface::AID,
            AppletId::Common => common::AID,
            AppletId::Juki => juki::AID,
        }
    }
}

/// SELECT by DF name (spec §2.5, §3.2, §3.8): the index of the application in `applets`
/// (in the card's order) whose AID (`aid`) is `name`, else of the first whose AID begins
/// with `name`. The one place the rule is written: the card selects with it, the APDU
/// decoder names with it.
pub fn find_by_name<T>(applets: &[T], aid: impl Fn(&T) -> &[u8], name: &[u8]) -> Option<usize> {
    applets.iter().position(|a| aid(a) == name).or_else(|| applets.iter().position(|a| aid(a).starts_with(name)))
}

/// How a PIN's value is changed in an application (spec §3.6, §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeCommand {
    /// ISO CHANGE REFERENCE DATA `00 24 01 80`.
    ChangeReferenceData,
    /// JICSAP CHANGE KEY `80 32 00 80`.
    ChangeKey,
}

/// What SET SESSION KEY answers in an application (spec §5.6 item 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKeySupport {
    /// The text AP: accepted after the PIN.
    Offered,
    /// `66 F1` (surface, common).
    Unsupported,
    /// `69 82` (JPKI, juki).
    Refused,
}

/// What a private key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// COMPUTE DIGITAL SIGNATURE with the listed P1 modes.
    Signature(&'static [SignMode]),
    /// INTERNAL AUTHENTICATE (DigestInfo(SHA-256(challenge)), PKCS#1 v1.5).
    InternalAuthenticate,
    /// Decrypts SET SESSION KEY messages (the private half of the text AP's EF 0006).
    SessionKeyDelivery,
}

/// A private key of an application.
#[derive(Clone, Debug)]
pub struct AppletKey {
    /// The key.
    pub key: RsaKey,
    /// The PIN that must be verified first, if any.
    pub guard: Option<PinId>,
    /// What it may do.
    pub usage: KeyUse,
}

/// One application: its DF name, files and rules.
#[derive(Clone, Debug)]
pub struct Applet {
    /// Which application.
    pub id: AppletId,
    /// DF name (AID).
    pub aid: &'static [u8],
    /// EFs, PIN objects and key objects.
    pub files: Vec<Ef>,
    /// Private keys, indexed by [`Content::Key`].
    pub keys: Vec<AppletKey>,
    /// The key of `P2 = 00` ("the application's default key"), if any.
    pub default_key: Option<KeyIndex>,
    /// The PIN-change command this application accepts.
    pub change_command: ChangeCommand,
    /// SET SESSION KEY behaviour.
    pub session_key: SessionKeySupport,
}

impl Applet {
    /// Index of the EF with this FID.
    pub fn find(&self, fid: u16) -> Option<usize> {
        self.files.iter().position(|ef| ef.fid == fid)
    }

    /// Index of the EF with this short identifier.
    pub fn find_sfi(&self, sfi: u8) -> Option<usize> {
        self.files.iter().position(|ef| ef.sfi() == Some(sfi))
    }

    /// The data of a transparent EF (for inspection and tests).
    pub fn binary(&self, fid: u16) -> Option<&[u8]> {
        match &self.files[self.find(fid)?].content {
            Content::Binary(data) => Some(data),
            _ => None,
        }
    }

    /// The key used for `usage`, if the application has one.
    pub fn key_for_use(&self, usage: KeyUse) -> Option<&RsaKey> {
        self.keys.iter().find(|k| k.usage == usage).map(|k| &k.key)
    }

    /// The key of a key object.
    pub fn key_at(&self, fid: u16) -> Option<&RsaKey> {
        match self.files[self.find(fid)?].content {
            Content::Key(index) => self.keys.get(index).map(|k| &k.key),
            _ => None,
        }
    }
}
