//! The card: applications, persistent PIN state and the volatile session, driven one APDU
//! at a time (spec §3). Pure: bytes in, bytes out; randomness comes from the injected RNG.

use rand_core::RngCore;
use sha2::{Digest, Sha256};

use crate::apdu::Apdu;
use crate::applets::isd::{self, IssuerSecurityDomain};
use crate::applets::{self, Applet, AppletId, ChangeCommand, KeyUse, SessionKeySupport};
use crate::command::{self, Command, KeyChoice, SignMode, SmClass, Target};
use crate::files::{read_binary, Content, Ef};
use crate::pins::{PinId, PinRecord, PinSet, VerifyOutcome};
use crate::pki::{MAX_PKCS1_DATA, MODULUS_LEN, SHA256_DIGEST_INFO_PREFIX};
use crate::power::{PowerBehaviour, PowerEvent, WarmReset};
use crate::profile::DeviceKind;
use crate::sm::{self, SmState};
use crate::state::PersistentState;
use crate::sw::Sw;

/// Volatile state: cleared by power off, and by a warm reset unless the profile keeps it
/// (spec §3.8, §3.11, §13.4, [`crate::power`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// Index of the current application; `None` = the MF level, the Issuer Security Domain
    /// (spec §13.1).
    pub applet: Option<usize>,
    /// Index of the current EF / object within it (or within the ISD's files).
    pub current: Option<usize>,
    /// PINs verified since the application was selected.
    pub verified: PinSet,
    /// The text AP's secure-messaging session (spec §5.6).
    pub sm: SmState,
}

/// A virtual My Number card.
pub struct Card {
    atr: Vec<u8>,
    contact_atr: Vec<u8>,
    isd: IssuerSecurityDomain,
    applets: Vec<Applet>,
    pins: Vec<PinRecord>,
    session: Session,
    power: PowerBehaviour,
    /// Set by power-up when the profile refuses the first command (`6F 00`).
    refuse_next_command: bool,
    rng: Box<dyn RngCore + Send>,
    card_id: String,
    state_changed: bool,
    kind: DeviceKind,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card").field("card_id", &self.card_id).field("session", &self.session).finish_non_exhaustive()
    }
}

impl Card {
    /// Assembles a card from issued parts; `pins` holds every PIN in [`PinId::ALL`] order
    /// (only [`crate::issue::issue`] builds cards).
    pub(crate) fn new(
        atr: Atrs,
        isd: IssuerSecurityDomain,
        power: PowerBehaviour,
        applets: Vec<Applet>,
        pins: Vec<PinRecord>,
        card_id: String,
        rng: Box<dyn RngCore + Send>,
    ) -> Card {
        Card {
            atr: atr.presented,
            contact_atr: atr.contact,
            isd,
            applets,
            pins,
            session: Session::default(),
            power,
            refuse_next_command: false,
            rng,
            card_id,
            state_changed: false,
            kind: DeviceKind::Card,
        }
    }

    /// This card as a phone token of `kind` (its applets already issued for it).
    pub(crate) fn with_kind(mut self, kind: DeviceKind) -> Card {
        self.kind = kind;
        self
    }

    /// The card or a phone token.
    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    /// A card identical to this one as issued (same files, keys and PIN state), with a
    /// fresh session and its own RNG: issuing the same personalization again gives the
    /// same card, and this is how a caller reuses one issue for many cards.
    pub fn duplicate(&self, rng: Box<dyn RngCore + Send>) -> Card {
        Card {
            atr: self.atr.clone(),
            contact_atr: self.contact_atr.clone(),
            isd: self.isd.clone(),
            applets: self.applets.clone(),
            pins: self.pins.clone(),
            session: Session::default(),
            power: self.power,
            refuse_next_command: false,
            rng,
            card_id: self.card_id.clone(),
            state_changed: false,
            kind: self.kind,
        }
    }

    /// The ATR (unchanged across resets, spec §3.11).
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// The contact ATR, with TS, that GET DATA `5F51` reports without TS (spec §13.3); the
    /// same as [`Card::atr`] unless the card presents a contactless ATR or the profile chose
    /// another.
    pub fn contact_atr(&self) -> &[u8] {
        &self.contact_atr
    }

    /// The MF level: the Issuer Security Domain's file and GET DATA objects (spec §13.1, §13.2).
    pub fn isd(&self) -> &IssuerSecurityDomain {
        &self.isd
    }

    /// A power event from the reader (spec §3.11, §13.4, [`crate::power`]): power off
    /// clears the session, power on too (and arms the profile's `6F 00`), a warm reset
    /// clears it or keeps it as the profile says. Counters and PIN values always stay.
    pub fn power(&mut self, event: PowerEvent) {
        match event {
            PowerEvent::Off => {
                self.session = Session::default();
                self.refuse_next_command = false;
            }
            PowerEvent::On => {
                self.session = Session::default();
                self.refuse_next_command = self.power.refuse_first_command;
            }
            PowerEvent::WarmReset => {
                if self.power.warm_reset == WarmReset::Clear {
                    self.session = Session::default();
                }
            }
        }
    }

    /// A cold reset: power off, then on.
    pub fn reset(&mut self) {
        self.power(PowerEvent::Off);
        self.power(PowerEvent::On);
    }

    /// How this card answers power events.
    pub fn power_behaviour(&self) -> PowerBehaviour {
        self.power
    }

    /// The volatile session (for inspection and tests).
    pub fn session(&self) -> Session {
        self.session
    }

    /// The applications.
    pub fn applets(&self) -> &[Applet] {
        &self.applets
    }

    /// One application.
    pub fn applet(&self, id: AppletId) -> Option<&Applet> {
        self.applets.iter().find(|a| a.id == id)
    }

    /// A PIN's counter and value.
    pub fn pin(&self, pin: PinId) -> &PinRecord {
        &self.pins[pin.index()]
    }

    /// Identifies the card a state file belongs to.
    pub fn card_id(&self) -> &str {
        &self.card_id
    }

    /// The state a real card keeps across power cycles (counters, changed PINs).
    pub fn persistent_state(&self) -> PersistentState {
        PersistentState::capture(&self.card_id, &self.pins)
    }

    /// Restores persisted state; refuses a state of another card.
    pub fn restore(&mut self, state: &PersistentState) -> Result<(), String> {
        self.pins = state.pins_for(&self.card_id, &self.pins)?;
        Ok(())
    }

    /// Replaces a PIN's value and counter, as the issuer does from outside the card (the
    /// municipal office resetting a blocked PIN, a kiosk resetting the signature
    /// password). Marks the state changed; the PIN is no longer verified.
    pub fn set_pin(&mut self, pin: PinId, record: PinRecord) {
        self.pins[pin.index()] = record;
        self.session.verified.remove(pin);
        self.state_changed = true;
    }

    /// True once if persistent state changed since the last call (the caller saves it).
    pub fn take_state_changed(&mut self) -> bool {
        std::mem::take(&mut self.state_changed)
    }

    /// Processes one C-APDU; `response` is cleared and receives data and SW1 SW2.
    /// Never panics on any input.
    pub fn process(&mut self, apdu: &[u8], response: &mut Vec<u8>) {
        response.clear();
        if std::mem::take(&mut self.refuse_next_command) {
            response.extend_from_slice(&Sw::NO_PRECISE_DIAGNOSIS.to_bytes());
            return;
        }
        let outcome = Apdu::parse(apdu).and_then(|apdu| Command::try_from(&apdu)).and_then(|command| self.execute(command, response));
        let sw = match outcome {
            Ok(sw) => sw,
            Err(sw) => {
                response.clear();
                sw
            }
        };
        response.extend_from_slice(&sw.to_bytes());
    }

    /// Processes one C-APDU and returns the R-APDU.
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let mut response = Vec::with_capacity(258);
        self.process(apdu, &mut response);
        response
    }

    fn execute(&mut self, command: Command<'_>, out: &mut Vec<u8>) -> Result<Sw, Sw> {
        match command {
            Command::SelectApplication { name } if name == isd::AID => self.select_issuer_security_domain(),
            Command::SelectApplication { name } => self.select_application(name),
            Command::SelectIssuerSecurityDomain => self.select_issuer_security_domain(),
            // Spec §13.1: 6A 86 at the MF level; with an AP current, 90 00 and nothing changes.
            Command::SelectMasterFile if self.session.applet.is_none() => Err(Sw::INCORRECT_P1P2),
            Command::SelectMasterFile => Ok(Sw::SUCCESS),
            Command::SelectFile { fid } => self.select_file(fid),
            Command::ReadBinary { target, offset, le, le_is_max } => self.read_binary(target, offset, le, le_is_max, out),
            Command::ReadRecord { target, record } => {
                let index = self.resolve(target)?;
                let ef = self.current_files().get(index).ok_or(Sw::NO_CURRENT_EF)?;
                match &ef.content {
                    Content::Records(records) => {
                        ef.read.check(self.session.verified)?;
                        let data = records.get(usize::from(record) - 1).ok_or(Sw::RECORD_NOT_FOUND)?;
                        out.extend_from_slice(data);
                        Ok(Sw::SUCCESS)
                    }
                    _ => Err(Sw::INCOMPATIBLE_FILE_STRUCTURE),
                }
            }
            Command::Verify { target, value } => self.verify(target, value),
            Command::ChangeReferenceData { target, new_value } => self.change(ChangeCommand::ChangeReferenceData, target, new_value),
            Command::ChangeKey { target, new_value } => self.change(ChangeCommand::ChangeKey, target, new_value),
            Command::ComputeSignature { mode, key, data } => self.compute_signature(mode, key, data, out),
            Command::GetChallenge { len } => {
                // Works at MF level and in every AP (spec §6.4).
                let start = out.len();
                out.resize(start + len, 0);
                self.rng.fill_bytes(&mut out[start..]);
                Ok(Sw::SUCCESS)
            }
            Command::InternalAuthenticate { key, data } => self.internal_authenticate(key, data, out),
            Command::SetSessionKey { data } => match self.current_applet().map(|a| a.session_key) {
                Some(SessionKeySupport::Unsupported) => Err(Sw::SESSION_KEY_UNSUPPORTED),
                Some(SessionKeySupport::Offered) if self.session.verified.contains(PinId::TextPin) => self.set_session_key(data),
                // Text AP without the PIN (照合番号A is not enough), JPKI, juki, MF level:
                // 69 82 (spec §5.6 items 1, 7).
                _ => Err(Sw::SECURITY_STATUS_NOT_SATISFIED),
            },
            Command::GetData { tag, max_len } => self.get_data(tag, max_len, out),
            // The iPhone token's marker: accepted there, state unchanged ([inf] nothing public says
            // what it ends); physical cards refuse it (spec §13.5: "rejected with 67 00"), and so,
            // [inf], does the Android token, whose JPKI AP is the card's.
            Command::LastCommandIndicator => match self.kind {
                DeviceKind::IphoneToken => Ok(Sw::SUCCESS),
                DeviceKind::Card | DeviceKind::AndroidToken => Err(Sw::WRONG_LENGTH),
            },
            // [inf] MANAGE ATTRIBUTES needs an issuer authentication no client can perform:
            // 69 82 for both scopes, with or without a current EF/DF, in every AP.
            Command::ManageAttributes { scope: _ } => Err(Sw::SECURITY_STATUS_NOT_SATISFIED),
            Command::SecureMessaging { class, ins, p1, p2, data } => {
                let in_text_ap = self.current_applet().is_some_and(|a| a.session_key == SessionKeySupport::Offered);
                match (in_text_ap, class, ins) {
                    // Spec §5.6 item 5: CLA 0C in the text AP (no CCS key can exist); an SM-layer
                    // refusal, so it ends an open session (spec §13.5, crate::sm).
                    (true, SmClass::Authenticated, _) => {
                        if matches!(self.session.sm, SmState::Open(_)) {
                            self.session.sm = SmState::Broken;
                        }
                        Err(Sw::SM_OBJECTS_MISSING)
                    }
                    (true, SmClass::Proprietary, _) => self.secure_messaging(ins, p1, p2, data, out),
                    // Spec §3.1 and §5.6 (earlier README): READ/VERIFY 69 FC, others 68 82.
                    (false, _, 0xB0 | 0x20) => Err(Sw::SM_NO_SESSION),
                    (false, _, _) => Err(Sw::SECURE_MESSAGING_UNSUPPORTED),
                }
            }
        }
    }

    fn current_applet(&self) -> Option<&Applet> {
        self.session.applet.and_then(|i| self.applets.get(i))
    }

    /// The EFs of the current DF: the current AP's, or the ISD's at the MF level.
    fn current_files(&self) -> &[Ef] {
        match self.session.applet {
            None => &self.isd.files,
            Some(i) => self.applets.get(i).map_or(&[], |a| &a.files),
        }
    }

    /// SELECT of the Issuer Security Domain (spec §13.1): leaves the current AP with its
    /// security status, current EF and secure-messaging session.
    fn select_issuer_security_domain(&mut self) -> Result<Sw, Sw> {
        if !self.isd.selectable {
            return Err(Sw::NOT_FOUND);
        }
        self.session.applet = None;
        self.session.current = None;
        self.session.verified = PinSet::EMPTY;
        self.session.sm = SmState::None;
        Ok(Sw::SUCCESS)
    }

    /// GET DATA (spec §13.2, §13.3): `5F51`, the contact ATR without TS, in every state
    /// (\[inf\] the survey saw it at the MF level on some cards and in an AP on others; one
    /// card answering in both is the superset); the ISD's objects with the ISD current only.
    /// The value alone; `67 00` when Le cannot hold it ([`crate::applets::isd`]).
    fn get_data(&self, tag: u16, max_len: usize, out: &mut Vec<u8>) -> Result<Sw, Sw> {
        let value = match tag {
            // [inf] A phone has no contact interface, so no contact ATR to report.
            isd::tag::CONTACT_ATR if self.kind.is_phone() => return Err(Sw::DATA_NOT_FOUND),
            isd::tag::CONTACT_ATR => self.contact_atr.get(1..).unwrap_or_default(),
            _ if self.session.applet.is_none() => self.isd.data_object(tag).ok_or(Sw::DATA_NOT_FOUND)?,
            _ => return Err(Sw::DATA_NOT_FOUND),
        };
        if value.len() > max_len {
            return Err(Sw::WRONG_LENGTH);
        }
        out.extend_from_slice(value);
        Ok(Sw::SUCCESS)
    }

    /// SELECT by DF name (spec §2.5, §3.2, §3.8; [`applets::find_by_name`]): full name, else
    /// the first AID that starts with the given bytes; `6A 82` leaves everything unchanged. Another AP clears
    /// the verified PINs; the same AP keeps them; both clear the current EF.
    fn select_application(&mut self, name: &[u8]) -> Result<Sw, Sw> {
        let index = applets::find_by_name(&self.applets, |a| a.aid, name).ok_or(Sw::NOT_FOUND)?;
        if self.session.applet != Some(index) {
            self.session.verified = PinSet::EMPTY;
        }
        self.session.applet = Some(index);
        self.session.current = None;
        // Any application select ends a secure-messaging session (spec §5.6 item 6).
        self.session.sm = SmState::None;
        Ok(Sw::SUCCESS)
    }

    /// SELECT EF by FID in the current DF (\[unk\] spec §3.2: an unknown FID: 6A 82, current
    /// EF unchanged). At the MF level only `001E` exists (spec §13.1).
    fn select_file(&mut self, fid: u16) -> Result<Sw, Sw> {
        let index = self.current_files().iter().position(|ef| ef.fid == fid).ok_or(Sw::NOT_FOUND)?;
        self.session.current = Some(index);
        Ok(Sw::SUCCESS)
    }

    /// READ BINARY (spec §3.3).
    fn read_binary(&mut self, target: Target, offset: usize, le: usize, le_is_max: bool, out: &mut Vec<u8>) -> Result<Sw, Sw> {
        let index = self.resolve(target)?;
        let ef = self.current_files().get(index).ok_or(Sw::NO_CURRENT_EF)?;
        match &ef.content {
            Content::Binary(data) => {
                ef.read.check(self.session.verified)?;
                let (chunk, sw) = read_binary(data, offset, le, le_is_max)?;
                out.extend_from_slice(chunk);
                Ok(sw)
            }
            _ => Err(Sw::INCOMPATIBLE_FILE_STRUCTURE),
        }
    }

    /// SET SESSION KEY in the text AP (spec §5.6 item 2).
    fn set_session_key(&mut self, data: &[u8]) -> Result<Sw, Sw> {
        let applet = self.current_applet().ok_or(Sw::SECURITY_STATUS_NOT_SATISFIED)?;
        let key = applet.key_for_use(KeyUse::SessionKeyDelivery).ok_or(Sw::SECURITY_STATUS_NOT_SATISFIED)?;
        if data.len() != MODULUS_LEN {
            return Err(Sw::WRONG_LENGTH);
        }
        if data >= &key.modulus()[..] {
            return Err(Sw::NO_PRECISE_DIAGNOSIS);
        }
        let plaintext = key.decrypt_oaep_sha256(data).map_err(|_| Sw::INCORRECT_DATA)?.ok_or(Sw::INCORRECT_DATA)?;
        self.session.sm = SmState::Open(sm::open(&plaintext)?);
        Ok(Sw::SUCCESS)
    }

    /// An SM command (CLA 08) in the text AP (spec §5.6 items 3–4). The counter advances
    /// for every command; a malformed one destroys the session (`69 88`, then `69 FC`).
    fn secure_messaging(&mut self, ins: u8, p1: u8, p2: u8, data: &[u8], out: &mut Vec<u8>) -> Result<Sw, Sw> {
        let SmState::Open(mut session) = self.session.sm else {
            return Err(Sw::SM_NO_SESSION);
        };
        let iv = session.next_iv();
        self.session.sm = SmState::Open(session);
        let result = match ins {
            0xA4 if p1 == 0x02 && p2 == 0x0C => session.decrypt_value(&iv, data).and_then(|fid| match fid.as_slice() {
                [hi, lo] => self.select_file(u16::from_be_bytes([*hi, *lo])),
                _ => Err(Sw::WRONG_LENGTH),
            }),
            0xA4 => Err(Sw::INCORRECT_P1P2),
            0x20 if p1 == 0x00 => command::key_object(p2)
                .and_then(|target| session.decrypt_value(&iv, data).map(|value| (target, value)))
                .and_then(|(target, value)| self.verify(target, Some(&value))),
            0x20 => Err(Sw::INCORRECT_P1P2),
            0xB0 => sm::read_length(data).and_then(|wanted| {
                let (target, offset) = command::read_binary_position(p1, p2)?;
                let mut plain = Vec::new();
                let sw = self.read_binary(target, offset, wanted.unwrap_or(usize::MAX), wanted.is_none(), &mut plain)?;
                session.encrypt_value(&iv, &plain, out)?;
                Ok(sw)
            }),
            _ => Err(Sw::INS_NOT_SUPPORTED),
        };
        if result == Err(Sw::SM_DATA_OBJECTS_INCORRECT) {
            self.session.sm = SmState::Broken;
        }
        result
    }

    /// The EF a command acts on; an SFI reference makes that EF current (spec §3.3). The MF
    /// level has no EF with a short identifier (spec §13.1): `6A 82`.
    fn resolve(&mut self, target: Target) -> Result<usize, Sw> {
        match target {
            Target::Current => self.session.current.ok_or(Sw::NO_CURRENT_EF),
            Target::Sfi(sfi) => {
                let applet = self.current_applet().ok_or(Sw::NOT_FOUND)?;
                let index = applet.find_sfi(sfi).ok_or(Sw::NOT_FOUND)?;
                self.session.current = Some(index);
                Ok(index)
            }
        }
    }

    /// The PIN object a VERIFY/CHANGE addresses. By SFI (P2 = `80|SFI`) the object becomes
    /// the current EF, as SELECT followed by the command would leave it (spec §13.5, myna-card
    /// `verify_sfi`: "same effect as select_ef followed by verify"), so a later `00 20 00 80`
    /// queries it. \[inf\] The evidence covers VERIFY with a value; the status query and
    /// CHANGE REFERENCE DATA / CHANGE KEY by SFI do the same, because the card resolves an SFI
    /// the same way for every command (READ BINARY by SFI makes its EF current, spec §3.3).
    fn pin_object(&mut self, target: Target) -> Result<PinId, Sw> {
        // No application: 69 86 for both forms, as before any SFI is looked up.
        self.current_applet().ok_or(Sw::NO_CURRENT_EF)?;
        let index = self.resolve(target)?;
        match self.current_applet().map(|applet| &applet.files[index].content) {
            Some(Content::Pin(pin)) => Ok(*pin),
            _ => Err(Sw::NO_CURRENT_EF),
        }
    }

    /// VERIFY (spec §3.5): no data = `63 Cx` query (never a try, also when blocked or
    /// verified); a wrong value clears this PIN's verified state.
    fn verify(&mut self, target: Target, value: Option<&[u8]>) -> Result<Sw, Sw> {
        let pin = self.pin_object(target)?;
        let Some(value) = value else {
            return Err(self.pins[pin.index()].status());
        };
        let record = &mut self.pins[pin.index()];
        let before = record.remaining;
        let outcome = record.verify(pin, value);
        self.state_changed |= record.remaining != before;
        match outcome {
            VerifyOutcome::Verified => {
                self.session.verified.insert(pin);
                Ok(Sw::SUCCESS)
            }
            VerifyOutcome::Refused(sw) => {
                if sw != Sw::WRONG_LENGTH {
                    self.session.verified.remove(pin);
                }
                Err(sw)
            }
        }
    }

    /// CHANGE REFERENCE DATA / CHANGE KEY after a VERIFY of the same PIN (spec §3.6, §7.2).
    fn change(&mut self, command: ChangeCommand, target: Target, new_value: &[u8]) -> Result<Sw, Sw> {
        let applet = self.current_applet().ok_or(Sw::NO_CURRENT_EF)?;
        if applet.change_command != command {
            // [inf] JPKI and the 券面 APs take ISO 00 24, the JICSAP APs 80 32 (spec §3.6, §7.2).
            return Err(Sw::INS_NOT_SUPPORTED);
        }
        let pin = self.pin_object(target)?;
        let format = pin.format();
        if !format.is_changeable() {
            // [unk] The 照合番号 are printed data, not holder secrets.
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        if !self.session.verified.contains(pin) {
            return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
        }
        if !format.accepts(new_value) {
            return Err(Sw::INCORRECT_DATA);
        }
        let record = &mut self.pins[pin.index()];
        record.value = zeroize::Zeroizing::new(new_value.to_vec());
        record.remaining = record.max_tries;
        self.state_changed = true;
        Ok(Sw::SUCCESS)
    }

    /// The key of `80 2A` / `00 88`: P2 = 00 the AP's default key, 80 the current object,
    /// 80|SFI directly (spec §3.7). Returns the applet-relative key index.
    fn key_for(&mut self, choice: KeyChoice) -> Result<usize, Sw> {
        let index = match choice {
            KeyChoice::Default => {
                return self.current_applet().and_then(|a| a.default_key).ok_or(Sw::INCORRECT_P1P2);
            }
            KeyChoice::Object(target) => self.resolve(target)?,
        };
        match self.current_applet().map(|a| &a.files[index].content) {
            Some(Content::Key(key)) => Ok(*key),
            _ => Err(Sw::NO_CURRENT_EF),
        }
    }

    /// COMPUTE DIGITAL SIGNATURE (spec §3.7, §5.5, §6.4).
    fn compute_signature(&mut self, mode: SignMode, choice: KeyChoice, data: &[u8], out: &mut Vec<u8>) -> Result<Sw, Sw> {
        let key_index = self.key_for(choice)?;
        let verified = self.session.verified;
        // Field borrows (not `current_applet()`), so the PSS branch can use `self.rng`.
        let applet = self.session.applet.and_then(|i| self.applets.get(i)).ok_or(Sw::NO_CURRENT_EF)?;
        let key = applet.keys.get(key_index).ok_or(Sw::NO_CURRENT_EF)?;
        let KeyUse::Signature(modes) = key.usage else {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        };
        if !modes.contains(&mode) {
            return Err(Sw::INCORRECT_P1P2);
        }
        if key.guard.is_some_and(|pin| !verified.contains(pin)) {
            return Err(Sw::SECURITY_STATUS_NOT_SATISFIED);
        }
        if data.is_empty() {
            return Err(Sw::WRONG_LENGTH);
        }
        let mut signature = [0u8; MODULUS_LEN];
        let failed = |_| Sw::CONDITIONS_NOT_SATISFIED;
        match mode {
            SignMode::Pkcs1Raw => {
                if data.len() > MAX_PKCS1_DATA {
                    return Err(Sw::WRONG_LENGTH);
                }
                key.key.sign_pkcs1(data, &mut signature).map_err(failed)?;
            }
            SignMode::Pkcs1Sha256Bare => key.key.sign_pkcs1(&Sha256::digest(data), &mut signature).map_err(failed)?,
            SignMode::Pkcs1PrehashedSha256 | SignMode::Pkcs1Sha256 => {
                let hash: [u8; 32] = if mode == SignMode::Pkcs1Sha256 { Sha256::digest(data).into() } else { prehashed(data)? };
                let mut digest_info = [0u8; 51];
                digest_info[..19].copy_from_slice(&SHA256_DIGEST_INFO_PREFIX);
                digest_info[19..].copy_from_slice(&hash);
                key.key.sign_pkcs1(&digest_info, &mut signature).map_err(failed)?;
            }
            SignMode::PssPrehashedSha256 | SignMode::PssSha256 => {
                let hash: [u8; 32] = if mode == SignMode::PssSha256 { Sha256::digest(data).into() } else { prehashed(data)? };
                let mut salt = [0u8; 32];
                self.rng.fill_bytes(&mut salt);
                key.key.sign_pss_sha256(&hash, &salt, &mut signature).map_err(failed)?;
            }
        }
        out.extend_from_slice(&signature);
        Ok(Sw::SUCCESS)
    }

    /// INTERNAL AUTHENTICATE (spec §7.2): PKCS#1 v1.5 over DigestInfo(SHA-256(challenge)),
    /// no credential. Only common-AP 0019 answers (spec §13.5, myna-card
    /// `internal_authenticate`): a key behind a PIN (JPKI 0017, 001A) answers `69 82`, the
    /// 券面 signing keys, made for `80 2A`, `69 85` (spec §5.5, §6.4).
    /// \[inf\] `69 82` also with the PIN verified: the survey says only 0019 answers, and a
    /// client that signed a login challenge with `00 88` here would fail on a real card.
    fn internal_authenticate(&mut self, choice: KeyChoice, data: &[u8], out: &mut Vec<u8>) -> Result<Sw, Sw> {
        let key_index = self.key_for(choice).map_err(|_| Sw::CONDITIONS_NOT_SATISFIED)?;
        let applet = self.current_applet().ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let key = applet.keys.get(key_index).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        if key.usage != KeyUse::InternalAuthenticate {
            return Err(if key.guard.is_some() { Sw::SECURITY_STATUS_NOT_SATISFIED } else { Sw::CONDITIONS_NOT_SATISFIED });
        }
        let signature = key.key.sign_sha256(data).map_err(|_| Sw::CONDITIONS_NOT_SATISFIED)?;
        out.extend_from_slice(&signature);
        Ok(Sw::SUCCESS)
    }
}

/// The two ATRs of a card: the one it presents (PC/SC) and its contact ATR (GET DATA `5F51`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Atrs {
    /// The ATR the card presents.
    pub presented: Vec<u8>,
    /// The contact ATR, with TS.
    pub contact: Vec<u8>,
}

/// P1 = 02 / 04 take a SHA-256 hash: any other size is refused with `69 85`
/// (\[card-rep:U1\] "wrong input sizes get 67 00 or 69 85").
fn prehashed(data: &[u8]) -> Result<[u8; 32], Sw> {
    data.try_into().map_err(|_| Sw::CONDITIONS_NOT_SATISFIED)
}
