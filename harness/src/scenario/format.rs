//! The scenario file format: YAML, strict (unknown keys are errors), every step with its
//! position. Deserialising checks each value's shape (hex, status-word patterns, regular
//! expressions, durations), so a wrong value is an error at its line and column; the
//! cross-step checks (variables defined before use, profiles that exist) follow in
//! [`super::check`]. Nothing here does I/O or runs anything.
//!
//! ```yaml
//! name: three wrong PINs lock the auth PIN
//! card: default                  # a profile name, a path, or a profile inline (`extends:` + fields)
//! steps:
//!   - apdu: 00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01
//!   - apdu: 00 20 00 80 04 30 30 30 30
//!     sw: 63C2
//!   - state: { pins: { auth: { remaining: 2 } } }
//! ```

use std::time::Duration;

use indexmap::IndexMap;
use mynasim_simulator::pins::PinId;
use mynasim_simulator::profile::Profile;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::matchers::{HexPattern, Pattern, SwPattern};
use super::template::{Template, TemplateError};
use crate::slot::TimingProfile;

/// A position in a scenario file (1-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, Deserialize)]
pub struct Pos {
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
}

impl Pos {
    /// The position serde-saphyr recorded.
    pub fn of(location: &serde_saphyr::Location) -> Pos {
        Pos { line: u32::try_from(location.line()).unwrap_or(0), column: u32::try_from(location.column()).unwrap_or(0) }
    }
}

/// A scenario file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioDoc {
    /// What the scenario shows (default: the file name).
    pub name: Option<String>,
    /// Longer explanation.
    pub description: Option<String>,
    /// The card (one-card scenarios). Default: the built-in default card.
    pub card: Option<Spanned<CardSpec>>,
    /// Named cards (multi-card scenarios; at most two per scenario: vpcd serves two slots).
    pub cards: Option<IndexMap<String, Spanned<CardSpec>>>,
    /// Variables for the steps (`${name}`); values may use card facts and `${env.NAME}`.
    #[serde(default)]
    pub vars: IndexMap<String, Spanned<TextTemplate>>,
    /// Time limit of the whole scenario (default 120 s).
    pub timeout: Option<DurationValue>,
    /// The steps, run in order; the first failure ends the scenario.
    pub steps: Vec<Spanned<Step>>,
}

/// A card: a profile's name or path, or a profile written inline (`extends: NAME` plus
/// fields in the shape of a profile, which override it).
#[derive(Clone, Debug)]
pub enum CardSpec {
    /// `card: sign-pin-one-try-left` or `card: ../profiles/x.yaml`.
    Named(String),
    /// `card: { extends: default, pins: { sign: { remaining: 1 } } }`.
    Inline(Box<Profile>),
}

impl<'de> Deserialize<'de> for CardSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CardSpec, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CardSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a profile name (`default`), a path, or a profile map (`extends: default` and fields to change)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CardSpec, E> {
                Ok(CardSpec::Named(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CardSpec, A::Error> {
                Profile::deserialize(de::value::MapAccessDeserializer::new(map)).map(|p| CardSpec::Inline(Box::new(p)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration: `300ms`, `2s`, `1m 30s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DurationValue(pub Duration);

impl TryFrom<String> for DurationValue {
    type Error = String;
    fn try_from(s: String) -> Result<DurationValue, String> {
        humantime::parse_duration(s.trim())
            .map(DurationValue)
            .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. \"300ms\", \"2s\" or \"1m\""))
    }
}

/// A text field with `${...}` references.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TextTemplate(pub Template);

impl TryFrom<String> for TextTemplate {
    type Error = String;
    fn try_from(s: String) -> Result<TextTemplate, String> {
        Template::parse(&s).map(TextTemplate).map_err(|e| e.to_string())
    }
}

/// A hex field with `${...}` references; the literal parts are checked to be hex.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HexTemplate(pub Template);

impl TryFrom<String> for HexTemplate {
    type Error = String;
    fn try_from(s: String) -> Result<HexTemplate, String> {
        let template = Template::parse(&s).map_err(|e| e.to_string())?;
        for literal in template.literals() {
            let digits: String = literal.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
            if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
                return Err(TemplateError::BadHex(format!(
                    "{bad:?} is not a hex digit in {s:?}; write bytes as hex pairs such as \"00 A4 04 0C\", variables as ${{name}}"
                ))
                .to_string());
            }
            if !digits.len().is_multiple_of(2) && template.is_literal() {
                return Err(format!("{s:?} has an odd number of hex digits ({}); every byte is two digits", digits.len()));
            }
        }
        Ok(HexTemplate(template))
    }
}

/// One string or a list of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OneOrMany<T>, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany<T>, E> {
                T::deserialize(de::value::StrDeserializer::new(v)).map(|t| OneOrMany(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A status word expectation: a pattern (`9000`, `63Cx`), alternatives (`9000 | 6282`),
/// or `any`. Read as text, so an unquoted `sw: 6984` means the status word 69 84.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum SwExpect {
    /// Any status word.
    Any,
    /// One of these patterns.
    OneOf(Vec<SwPattern>),
}

impl TryFrom<String> for SwExpect {
    type Error = String;
    fn try_from(s: String) -> Result<SwExpect, String> {
        if s.trim() == "any" {
            return Ok(SwExpect::Any);
        }
        s.split('|').map(|alt| SwPattern::parse(alt.trim())).collect::<Result<_, _>>().map(SwExpect::OneOf)
    }
}

/// A hex pattern with `x` wildcards (`30 82 xx xx`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct HexPatternValue(pub HexPattern);

impl From<HexPatternValue> for String {
    fn from(value: HexPatternValue) -> String {
        value.0.to_string()
    }
}

impl TryFrom<String> for HexPatternValue {
    type Error = String;
    fn try_from(s: String) -> Result<HexPatternValue, String> {
        HexPattern::parse(&s).map(HexPatternValue)
    }
}

/// A regular expression.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct Regex(pub Pattern);

impl TryFrom<String> for Regex {
    type Error = String;
    fn try_from(s: String) -> Result<Regex, String> {
        Pattern::parse(&s).map(Regex)
    }
}

/// What response data must be. A string is an exact hex pattern (`x` wildcards); a map
/// combines checks, all of which must hold.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DataExpect {
    /// Exactly these bytes (with wildcards).
    pub equals: Option<HexPatternValue>,
    /// The data equals this value (a variable, e.g. saved earlier).
    pub same_as: Option<HexTemplate>,
    /// Starts with these bytes (with wildcards).
    pub prefix: Option<HexPatternValue>,
    /// A regular expression over the data as uppercase hex without spaces.
    pub regex: Option<Regex>,
    /// Length in bytes.
    pub len: Option<usize>,
    /// `certificate` (one DER X.509 certificate) or `tlv` (parses as BER-TLV).
    pub is: Option<DataKind>,
}

/// A kind of content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// One DER X.509 certificate.
    Certificate,
    /// BER-TLV objects.
    Tlv,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataExpectMap {
    equals: Option<HexPatternValue>,
    same_as: Option<HexTemplate>,
    prefix: Option<HexPatternValue>,
    regex: Option<Regex>,
    len: Option<usize>,
    is: Option<DataKind>,
}

impl<'de> Deserialize<'de> for DataExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DataExpect, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DataExpect;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("hex such as \"30 82 xx xx\", or a map of checks: equals, same_as, prefix, regex, len, is")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DataExpect, E> {
                let pattern = HexPattern::parse(v).map_err(E::custom)?;
                Ok(DataExpect { equals: Some(HexPatternValue(pattern)), ..DataExpect::default() })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DataExpect, A::Error> {
                let m = DataExpectMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(DataExpect { equals: m.equals, same_as: m.same_as, prefix: m.prefix, regex: m.regex, len: m.len, is: m.is })
            }
        }
        d.deserialize_any(V)
    }
}

/// What program output must be. A string means "contains"; a map combines checks.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TextExpect {
    /// Contains each of these.
    pub contains: Vec<TextTemplate>,
    /// Contains none of these.
    pub not_contains: Vec<TextTemplate>,
    /// Matches each of these regular expressions.
    pub regex: Vec<Regex>,
    /// Equals this, once trimmed of surrounding whitespace.
    pub equals: Option<TextTemplate>,
    /// Is empty (after trimming).
    pub empty: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextExpectMap {
    #[serde(default)]
    contains: OneOrMany<TextTemplate>,
    #[serde(default)]
    not_contains: OneOrMany<TextTemplate>,
    #[serde(default)]
    regex: OneOrMany<Regex>,
    equals: Option<TextTemplate>,
    empty: Option<bool>,
}

impl<'de> Deserialize<'de> for TextExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TextExpect, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextExpect;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("text it must contain, or a map of checks: contains, not_contains, regex, equals, empty")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextExpect, E> {
                let t = TextTemplate::try_from(v.to_owned()).map_err(E::custom)?;
                Ok(TextExpect { contains: vec![t], ..TextExpect::default() })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TextExpect, A::Error> {
                let m = TextExpectMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(TextExpect {
                    contains: m.contains.0,
                    not_contains: m.not_contains.0,
                    regex: m.regex.0,
                    equals: m.equals,
                    empty: m.empty,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Where a saved value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SaveSource {
    /// The response data (APDU steps).
    Data,
    /// The status word, as 2 bytes.
    Sw,
    /// Standard output, trimmed (run steps).
    Stdout,
    /// Standard error, trimmed.
    Stderr,
    /// The first capture group (or the whole match) of a regex over standard output.
    StdoutRegex(Pattern),
}

/// `save: NAME` or `save: { NAME: data | sw | stdout | stderr | { regex: ... } }`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Saves(pub Vec<(String, Option<SaveSource>)>);

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSaveSource {
    Named(String),
    Regex { regex: Regex },
}

impl<'de> Deserialize<'de> for Saves {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Saves, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Saves;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a variable name, or a map NAME: data | sw | stdout | stderr | {regex: ...}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Saves, E> {
                check_var_name(v).map_err(E::custom)?;
                Ok(Saves(vec![(v.to_owned(), None)]))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Saves, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    check_var_name(&name).map_err(de::Error::custom)?;
                    let source = match map.next_value::<RawSaveSource>()? {
                        RawSaveSource::Named(s) => match s.as_str() {
                            "data" => SaveSource::Data,
                            "sw" => SaveSource::Sw,
                            "stdout" => SaveSource::Stdout,
                            "stderr" => SaveSource::Stderr,
                            other => {
                                return Err(de::Error::custom(format!(
                                    "save `{name}` from {other:?}? write data, sw, stdout, stderr or {{regex: \"...\"}}"
                                )))
                            }
                        },
                        RawSaveSource::Regex { regex } => SaveSource::StdoutRegex(regex.0),
                    };
                    out.push((name, Some(source)));
                }
                Ok(Saves(out))
            }
        }
        d.deserialize_any(V)
    }
}

fn check_var_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !matches!(name, "card" | "cards" | "env" | "scenario" | "work");
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} cannot be a variable name; use letters, digits, `_` and `-` (card, cards, env, scenario and work are taken)"))
    }
}

/// A PIN as scenarios name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinName {
    /// JPKI 利用者証明用 PIN (4 digits).
    Auth,
    /// JPKI 署名用パスワード.
    Sign,
    /// Text AP PIN.
    Text,
    /// Text AP 照合番号A.
    TextCodeA,
    /// Text AP 照合番号B.
    TextCodeB,
    /// Surface AP birth-date key.
    SurfaceBirthDate,
    /// Surface AP 照合番号A.
    SurfaceCodeA,
    /// Surface AP 照合番号B.
    SurfaceCodeB,
    /// 共通カードAP PIN.
    Common,
    /// 住基AP PIN.
    Juki,
}

impl PinName {
    /// Every name, in the card's order.
    pub const ALL: [PinName; 10] = [
        PinName::Auth,
        PinName::Sign,
        PinName::Text,
        PinName::TextCodeA,
        PinName::TextCodeB,
        PinName::SurfaceBirthDate,
        PinName::SurfaceCodeA,
        PinName::SurfaceCodeB,
        PinName::Common,
        PinName::Juki,
    ];

    /// The simulator's PIN.
    pub fn id(self) -> PinId {
        match self {
            PinName::Auth => PinId::AuthPin,
            PinName::Sign => PinId::SignPassword,
            PinName::Text => PinId::TextPin,
            PinName::TextCodeA => PinId::TextCodeA,
            PinName::TextCodeB => PinId::TextCodeB,
            PinName::SurfaceBirthDate => PinId::SurfaceBirthDate,
            PinName::SurfaceCodeA => PinId::SurfaceCodeA,
            PinName::SurfaceCodeB => PinId::SurfaceCodeB,
            PinName::Common => PinId::CommonPin,
            PinName::Juki => PinId::JukiPin,
        }
    }

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            PinName::Auth => "auth",
            PinName::Sign => "sign",
            PinName::Text => "text",
            PinName::TextCodeA => "text_code_a",
            PinName::TextCodeB => "text_code_b",
            PinName::SurfaceBirthDate => "surface_birth_date",
            PinName::SurfaceCodeA => "surface_code_a",
            PinName::SurfaceCodeB => "surface_code_b",
            PinName::Common => "common",
            PinName::Juki => "juki",
        }
    }
}

/// One step as written: a map with exactly one step key (`apdu`, `run`, `shell`, `card`,
/// `state`, `set`, `fault`, `verify`, `sleep`, `repeat`, `parallel`) and that step's options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Option<String>,
    on: Option<String>,
    // apdu
    apdu: Option<HexTemplate>,
    sw: Option<SwExpect>,
    data: Option<DataExpect>,
    save: Option<Saves>,
    // run / shell
    run: Option<Vec<TextTemplate>>,
    shell: Option<TextTemplate>,
    stdin: Option<TextTemplate>,
    stdin_file: Option<TextTemplate>,
    #[serde(default)]
    prompts: Vec<PromptSpec>,
    terminal: Option<bool>,
    timeout: Option<DurationValue>,
    output_cap: Option<usize>,
    exit: Option<ExitExpect>,
    stdout: Option<TextExpect>,
    stderr: Option<TextExpect>,
    #[serde(default)]
    files: IndexMap<String, FileExpect>,
    #[serde(default)]
    env: IndexMap<String, TextTemplate>,
    // card
    card: Option<CardAction>,
    // state
    state: Option<StateExpect>,
    // set
    set: Option<SetAction>,
    // fault
    fault: Option<FaultSpec>,
    // verify
    verify: Option<VerifySpec>,
    // sleep
    sleep: Option<DurationValue>,
    // repeat / parallel / bench
    repeat: Option<RepeatCount>,
    bench: Option<BenchSpec>,
    steps: Option<Vec<Spanned<Step>>>,
    parallel: Option<Vec<Spanned<Branch>>>,
}

/// One step.
#[derive(Debug, Deserialize)]
#[serde(try_from = "RawStep")]
pub struct Step {
    /// The step's name (for `unchanged_since` and reports).
    pub name: Option<String>,
    /// Which card (multi-card scenarios; default the first).
    pub on: Option<String>,
    /// What it does.
    pub kind: StepKind,
}

/// What a step does.
#[derive(Debug)]
pub enum StepKind {
    /// Send an APDU through PC/SC (or to the card in process).
    Apdu(ApduStep),
    /// Run a program.
    Run(Box<RunStep>),
    /// Act on the card as a reader or a person does.
    Card(CardAction),
    /// Check the card's internal state.
    State(StateExpect),
    /// Change the card as the outside world does.
    Set(SetAction),
    /// Add or clear transport faults.
    Fault(FaultSpec),
    /// Check a signature or a certificate.
    Verify(VerifySpec),
    /// Wait.
    Sleep(Duration),
    /// Repeat steps.
    Repeat(RepeatCount, Vec<Spanned<Step>>),
    /// Run branches at once, each on its card.
    Parallel(Vec<Spanned<Branch>>),
    /// Measure steps: repeated, timed, on one card or several at once.
    Bench(Box<BenchSpec>, Vec<Spanned<Step>>),
}

impl StepKind {
    /// The step key, as written.
    pub fn keyword(&self) -> &'static str {
        match self {
            StepKind::Apdu(_) => "apdu",
            StepKind::Run(r) if matches!(r.program, Program::Shell(_)) => "shell",
            StepKind::Run(_) => "run",
            StepKind::Card(_) => "card",
            StepKind::State(_) => "state",
            StepKind::Set(_) => "set",
            StepKind::Fault(_) => "fault",
            StepKind::Verify(_) => "verify",
            StepKind::Sleep(_) => "sleep",
            StepKind::Repeat(..) => "repeat",
            StepKind::Parallel(_) => "parallel",
            StepKind::Bench(..) => "bench",
        }
    }
}

/// An APDU step.
#[derive(Debug)]
pub struct ApduStep {
    /// The command (hex with variables).
    pub command: HexTemplate,
    /// Expected status word (default `9000`).
    pub sw: SwExpect,
    /// Expected data.
    pub data: Option<DataExpect>,
    /// Values to save.
    pub save: Saves,
}

/// The program of a run step.
#[derive(Debug)]
pub enum Program {
    /// `run: [program, arg, ...]`.
    Argv(Vec<TextTemplate>),
    /// `shell: "text"` (through `sh -c`).
    Shell(TextTemplate),
}

/// A run step.
#[derive(Debug)]
pub struct RunStep {
    /// What to run.
    pub program: Program,
    /// Text for standard input.
    pub stdin: Option<TextTemplate>,
    /// A file for standard input (relative to the scenario's work folder).
    pub stdin_file: Option<TextTemplate>,
    /// Prompts answered through a pseudo-terminal.
    pub prompts: Vec<PromptSpec>,
    /// Run in a pseudo-terminal even without prompts.
    pub terminal: bool,
    /// Time limit (default 30 s).
    pub timeout: Duration,
    /// Bytes of output kept per stream before the program is stopped (default 16 MiB).
    pub output_cap: usize,
    /// Expected exit code (default 0).
    pub exit: ExitExpect,
    /// Expected standard output.
    pub stdout: Option<TextExpect>,
    /// Expected standard error (or the terminal, with prompts).
    pub stderr: Option<TextExpect>,
    /// Files the program must have written (relative to the work folder).
    pub files: IndexMap<String, FileExpect>,
    /// Extra environment variables.
    pub env: IndexMap<String, TextTemplate>,
    /// Values to save.
    pub save: Saves,
}

/// A prompt and the answer typed at it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    /// A regular expression the terminal shows.
    pub expect: Regex,
    /// What to type (a newline follows).
    pub send: TextTemplate,
    /// The answer is a secret (default true): typed only once the program has turned the
    /// terminal's echo off, as PIN prompts do, and never shown. `false` for visible input.
    #[serde(default = "yes")]
    pub secret: bool,
}

fn yes() -> bool {
    true
}

/// The expected exit code: a number or `any`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ExitText")]
pub enum ExitExpect {
    /// Any exit (the program must still end by itself).
    Any,
    /// This code.
    Code(i32),
    /// Any non-zero code.
    Failure,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ExitText {
    Code(i32),
    Text(String),
}

impl TryFrom<ExitText> for ExitExpect {
    type Error = String;
    fn try_from(t: ExitText) -> Result<ExitExpect, String> {
        match t {
            ExitText::Code(c) => Ok(ExitExpect::Code(c)),
            ExitText::Text(s) if s == "any" => Ok(ExitExpect::Any),
            ExitText::Text(s) if s == "failure" => Ok(ExitExpect::Failure),
            ExitText::Text(s) => Err(format!("exit {s:?}? write a number, `failure` (any non-zero) or `any`")),
        }
    }
}

/// What a written file must be.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExpect {
    /// It exists (default true when listed).
    pub exists: Option<bool>,
    /// Its size in bytes.
    pub size: Option<u64>,
    /// Its SHA-256, hex.
    pub sha256: Option<HexPatternValue>,
    /// It is a signature by one of the card's keys.
    pub signature: Option<FileSignature>,
    /// Its text contains, or matches.
    pub text: Option<TextExpect>,
}

/// "This file is a signature by the card's key over that file".
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSignature {
    /// Whose certificate: `auth` or `sign`.
    pub by: KeyName,
    /// The signed file (relative to the work folder).
    pub over: TextTemplate,
    /// The digest (default sha256).
    #[serde(default)]
    pub digest: DigestName,
    /// The padding (default pkcs1).
    #[serde(default)]
    pub padding: PaddingName,
}

/// A JPKI key pair by its certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyName {
    /// The auth key (certificate EF 000A).
    Auth,
    /// The signature key (certificate EF 0001).
    Sign,
}

/// A digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestName {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// A signature padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaddingName {
    /// PKCS#1 v1.5.
    #[default]
    Pkcs1,
    /// RSASSA-PSS.
    Pss,
}

/// What a reader or a person does to the card.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum CardAction {
    /// Pull the card out of the reader.
    Remove,
    /// Put it back.
    Insert,
    /// Warm reset (SCardReconnect with SCARD_RESET_CARD).
    Reset,
    /// Power off and on (SCardReconnect with SCARD_UNPOWER_CARD).
    PowerCycle,
    /// Stop pcscd and start it again; the card reconnects and keeps its state.
    RestartPcscd,
    /// Stop the card program and start it again from its profile and state file (counters
    /// and locks persist; the session does not).
    Restart,
    /// Put another card in the reader.
    Replace(Box<CardSpec>),
}

/// Expected internal state.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateExpect {
    /// Per PIN: tries left, blocked.
    #[serde(default)]
    pub pins: IndexMap<PinName, PinExpect>,
    /// Exactly these PINs are verified now.
    pub verified: Option<Vec<PinName>>,
    /// The current application: jpki, text, surface, common, juki, or `none` (MF level, the
    /// Issuer Security Domain).
    pub applet: Option<String>,
    /// The current EF or key object, as 4 hex digits, or `none`.
    pub ef: Option<String>,
    /// Whether a secure-messaging session is open.
    pub sm: Option<bool>,
    /// Whether the card is in the reader.
    pub inserted: Option<bool>,
    /// Nothing in the persistent state changed since the step with this name (or `start`),
    /// except the PINs this step lists under `pins`.
    pub unchanged_since: Option<String>,
}

/// One PIN's expected state.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinExpect {
    /// Tries left.
    pub remaining: Option<u8>,
    /// Blocked (no tries left).
    pub blocked: Option<bool>,
    /// Verified in the current session.
    pub verified: Option<bool>,
}

/// A change made from outside the card.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAction {
    /// Set counters or values directly.
    #[serde(default)]
    pub pins: IndexMap<PinName, PinChange>,
    /// The municipal office resets a PIN (auth, text, common, juki): counter back to its
    /// maximum, value `new_pin` (default unchanged).
    pub office_reset: Option<PinName>,
    /// The new PIN for `office_reset` or `kiosk_reset`.
    pub new_pin: Option<TextTemplate>,
    /// A convenience-store kiosk resets the signature password (`sign`).
    pub kiosk_reset: Option<PinName>,
    /// Move the verification clock: `+5y`, `-1d`, `+30d`, or a date `2040-01-01`.
    pub clock: Option<String>,
    /// Revoke a certificate (`auth` or `sign`), as J-LIS does when a card is reported lost:
    /// the card cannot show it and still signs; `verify` of that certificate then fails
    /// with "certificate revoked", as a verifier consulting the CRL or OCSP would.
    pub revoke: Option<KeyName>,
}

/// A direct PIN change.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinChange {
    /// Tries left (0 = blocked).
    pub remaining: Option<u8>,
    /// New value.
    pub value: Option<TextTemplate>,
}

/// A transport fault, or `clear` (a scenario's `fault` step, a control `fault` request).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Added latency before each matching answer: a duration, or `contactless` / `contact`
    /// (a real card's timing on that kind of reader, see [`LatencySpec::Profile`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// Answer this status word instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sw: Option<HexPatternValue>,
    /// With `sw`: the card executes the command, the answer is lost and replaced
    /// (default false: the command is not executed).
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub executed: bool,
    /// Pull the card out after the matching command took effect, before its answer.
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tear: bool,
    /// Close the vpcd connection now (the card reconnects, as after a glitch).
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drop_connection: bool,
    /// Kill pcscd now (it is not restarted: clients see the service gone).
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kill_pcscd: bool,
    /// Remove every fault.
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub clear: bool,
    /// Which commands: an INS byte (`2A`) or an APDU pattern (`00 20 xx 80`).
    #[serde(rename = "match")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<HexPatternValue>,
    /// For how many matching commands (default: 1 for sw and tear, all for latency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// Latency added by a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum LatencySpec {
    /// This long before every matching answer.
    Fixed(Duration),
    /// Per command class, as a card on a contactless (`contactless`) or contact
    /// (`contact`) reader might take. **Estimates**, not measurements (the spec has no
    /// timing data), derived in [`TimingProfile::table`]. Public guidance says a phone's
    /// whole JPKI read can take 5 s or more (デジタル庁, reported by BCN Retail, 2025).
    Profile(TimingProfile),
}

impl From<LatencySpec> for String {
    fn from(value: LatencySpec) -> String {
        match value {
            LatencySpec::Fixed(d) => humantime::format_duration(d).to_string(),
            LatencySpec::Profile(profile) => profile.name().to_owned(),
        }
    }
}

impl TryFrom<String> for LatencySpec {
    type Error = String;
    fn try_from(s: String) -> Result<LatencySpec, String> {
        for profile in [TimingProfile::Contactless, TimingProfile::Contact] {
            if s.trim() == profile.name() {
                return Ok(LatencySpec::Profile(profile));
            }
        }
        DurationValue::try_from(s)
            .map(|d| LatencySpec::Fixed(d.0))
            .map_err(|e| format!("{e}, or `contactless` or `contact` (a real card's timing)"))
    }
}

/// A signature or certificate check.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    /// The signature (hex with variables).
    pub signature: Option<HexTemplate>,
    /// Or a file holding it (relative to the work folder).
    pub signature_file: Option<TextTemplate>,
    /// The certificate: `auth`, `sign`, `auth_ca`, `sign_ca` (read from the card), or a
    /// PEM/DER file.
    pub certificate: CertificateRef,
    /// What was signed: a DigestInfo as given to `80 2A P1=00` (hex).
    pub digest_info: Option<HexTemplate>,
    /// Or a hash (hex), with `digest`.
    pub hash: Option<HexTemplate>,
    /// Or the data itself (hex), hashed with `digest`.
    pub message: Option<HexTemplate>,
    /// Or a file, hashed with `digest`.
    pub message_file: Option<TextTemplate>,
    /// Digest (default sha256).
    #[serde(default)]
    pub digest: DigestName,
    /// Padding (default pkcs1).
    #[serde(default)]
    pub padding: PaddingName,
    /// For a certificate check: the CA (default: the card's matching test CA).
    pub ca: Option<CertificateRef>,
    /// For a certificate check: `valid`, `expired`, `not_yet_valid`, `revoked`, or the text
    /// of the expected verification error.
    pub expect: Option<String>,
}

/// A certificate: one of the card's, or a file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub enum CertificateRef {
    /// EF 000A.
    Auth,
    /// EF 0001.
    Sign,
    /// EF 000B.
    AuthCa,
    /// EF 0002.
    SignCa,
    /// A PEM or DER file (relative to the work folder).
    File(TextTemplate),
}

impl TryFrom<String> for CertificateRef {
    type Error = String;
    fn try_from(s: String) -> Result<CertificateRef, String> {
        Ok(match s.as_str() {
            "auth" => CertificateRef::Auth,
            "sign" => CertificateRef::Sign,
            "auth_ca" => CertificateRef::AuthCa,
            "sign_ca" => CertificateRef::SignCa,
            _ => CertificateRef::File(TextTemplate::try_from(s)?),
        })
    }
}

/// How often a `repeat` block runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepeatCount {
    /// This many times.
    Times(u32),
    /// For this long (at least once).
    For(Duration),
}

impl<'de> Deserialize<'de> for RepeatCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RepeatCount, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RepeatCount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of times (3) or a duration (\"2s\")")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RepeatCount, E> {
                u32::try_from(v).map(RepeatCount::Times).map_err(|_| E::custom("repeat at most 4294967295 times"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RepeatCount, E> {
                u32::try_from(v).map(RepeatCount::Times).map_err(|_| E::custom("repeat a positive number of times"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RepeatCount, E> {
                DurationValue::try_from(v.to_owned()).map(|d| RepeatCount::For(d.0)).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A `bench:` block's settings (its steps are the step's `steps:`):
///
/// ```yaml
/// - name: sign                      # the block's name in reports
///   bench:
///     times: 200                    # or `for: 10s` (at least one iteration)
///     warmup: 20                    # iterations (or a duration) run first, not measured
///     cards: all                    # every card at once, one thread each (or [alice, bob])
///     expect: { p99_below: 5ms, at_least_per_second: 100 }   # optional regression guard
///   steps:
///     - apdu: 80 2A 00 80 ...
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawBench")]
pub struct BenchSpec {
    /// How long to measure: a number of iterations or a duration.
    pub count: RepeatCount,
    /// Iterations (or a duration) run before, not measured.
    pub warmup: Option<RepeatCount>,
    /// The cards driven at once (default: the step's card).
    pub cards: Option<BenchCards>,
    /// Thresholds; none by default except `max_errors: 0`.
    pub expect: BenchExpect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBench {
    times: Option<u32>,
    #[serde(rename = "for")]
    duration: Option<DurationValue>,
    warmup: Option<RepeatCount>,
    cards: Option<BenchCards>,
    #[serde(default)]
    expect: BenchExpect,
}

impl TryFrom<RawBench> for BenchSpec {
    type Error = String;
    fn try_from(r: RawBench) -> Result<BenchSpec, String> {
        let count = match (r.times, r.duration) {
            (Some(0), None) => return Err("`times: 0` measures nothing; write `times: 1` or more".into()),
            (Some(n), None) => RepeatCount::Times(n),
            (None, Some(d)) if d.0.is_zero() => return Err("`for: 0s` measures nothing; write a duration such as `for: 2s`".into()),
            (None, Some(d)) => RepeatCount::For(d.0),
            (None, None) => return Err("say how long to measure: `times: 100` (iterations) or `for: 10s` (a duration)".into()),
            (Some(_), Some(_)) => return Err("give `times` or `for`, not both".into()),
        };
        if let Some(BenchCards::Named(names)) = &r.cards {
            if names.is_empty() {
                return Err("`cards: []` names no card; write `cards: all` or a list such as `cards: [alice, bob]`".into());
            }
        }
        Ok(BenchSpec { count, warmup: r.warmup, cards: r.cards, expect: r.expect })
    }
}

/// The cards a bench block drives at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BenchCards {
    /// Every card of the scenario.
    All,
    /// These cards.
    Named(Vec<String>),
}

impl<'de> Deserialize<'de> for BenchCards {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BenchCards, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BenchCards;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`all` or a list of the scenario's cards, such as [alice, bob]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BenchCards, E> {
                match v {
                    "all" => Ok(BenchCards::All),
                    other => {
                        Err(E::custom(format!("cards: {other:?}? write `all` or a list of the scenario's cards, such as [alice, bob]")))
                    }
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BenchCards, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    out.push(name);
                }
                Ok(BenchCards::Named(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A bench block's thresholds, each with its position (a missed one is reported there).
/// Latencies are of one whole iteration (the block's steps once); rates count iterations
/// that passed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchExpect {
    /// The median iteration is faster than this.
    pub median_below: Option<Spanned<DurationValue>>,
    /// The 90th percentile is faster than this.
    pub p90_below: Option<Spanned<DurationValue>>,
    /// The 99th percentile is faster than this.
    pub p99_below: Option<Spanned<DurationValue>>,
    /// The slowest iteration is faster than this.
    pub max_below: Option<Spanned<DurationValue>>,
    /// Iterations per second, all cards together, at least this.
    pub at_least_per_second: Option<Spanned<f64>>,
    /// Iterations per second of every card, at least this.
    pub at_least_per_second_per_card: Option<Spanned<f64>>,
    /// Iterations allowed to fail (default 0: a failing step fails the scenario, after
    /// the block has run to its end and been reported).
    pub max_errors: Option<Spanned<u64>>,
}

/// One branch of a `parallel` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// The card it drives.
    pub on: Option<String>,
    /// Its steps.
    pub steps: Vec<Spanned<Step>>,
}

const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_OUTPUT_CAP: usize = 16 << 20;

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(r: RawStep) -> Result<Step, String> {
        let present: Vec<&str> = [
            ("apdu", r.apdu.is_some()),
            ("run", r.run.is_some()),
            ("shell", r.shell.is_some()),
            ("card", r.card.is_some()),
            ("state", r.state.is_some()),
            ("set", r.set.is_some()),
            ("fault", r.fault.is_some()),
            ("verify", r.verify.is_some()),
            ("sleep", r.sleep.is_some()),
            ("repeat", r.repeat.is_some()),
            ("parallel", r.parallel.is_some()),
            ("bench", r.bench.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.then_some(k))
        .collect();
        let keyword = match present.as_slice() {
            [one] => *one,
            [] => {
                return Err("a step needs one of: apdu, run, shell, card, state, set, fault, verify, sleep, repeat, parallel, bench".into())
            }
            many => return Err(format!("a step does one thing, this one has {}; split it into steps", many.join(" and "))),
        };
        // Options that belong to other kinds of step.
        let apdu_keys = [("sw", r.sw.is_some()), ("data", r.data.is_some())];
        let run_keys = [
            ("stdin", r.stdin.is_some()),
            ("stdin_file", r.stdin_file.is_some()),
            ("prompts", !r.prompts.is_empty()),
            ("terminal", r.terminal.is_some()),
            ("timeout", r.timeout.is_some()),
            ("output_cap", r.output_cap.is_some()),
            ("exit", r.exit.is_some()),
            ("stdout", r.stdout.is_some()),
            ("stderr", r.stderr.is_some()),
            ("files", !r.files.is_empty()),
            ("env", !r.env.is_empty()),
        ];
        let misplaced = |keys: &[(&str, bool)], owner: &str| -> Result<(), String> {
            match keys.iter().find(|(_, set)| *set) {
                Some((key, _)) => Err(format!("`{key}` belongs to {owner} steps, not to this `{keyword}` step")),
                None => Ok(()),
            }
        };
        let is_run = matches!(keyword, "run" | "shell");
        if keyword != "apdu" {
            misplaced(&apdu_keys, "apdu")?;
        }
        if !is_run {
            misplaced(&run_keys, "run and shell")?;
        }
        if r.save.is_some() && keyword != "apdu" && !is_run {
            return Err(format!("`save` belongs to apdu, run and shell steps, not to this `{keyword}` step"));
        }
        if r.steps.is_some() && keyword != "repeat" && keyword != "bench" {
            return Err(format!("`steps` belongs to repeat and bench blocks, not to this `{keyword}` step"));
        }
        let save = r.save.unwrap_or_default();
        let kind = match keyword {
            "apdu" => {
                if save.0.iter().any(|(_, s)| matches!(s, Some(SaveSource::Stdout | SaveSource::Stderr | SaveSource::StdoutRegex(_)))) {
                    return Err("an apdu step saves `data` or `sw`".into());
                }
                StepKind::Apdu(ApduStep {
                    command: r.apdu.ok_or("internal: apdu")?,
                    sw: r.sw.unwrap_or_else(|| SwExpect::OneOf(vec![SwPattern::success()])),
                    data: r.data,
                    save,
                })
            }
            "run" | "shell" => {
                if save.0.iter().any(|(_, s)| matches!(s, Some(SaveSource::Data | SaveSource::Sw))) {
                    return Err("a run step saves `stdout`, `stderr` or a `{regex: ...}` over standard output".into());
                }
                if r.stdin.is_some() && r.stdin_file.is_some() {
                    return Err("give `stdin` or `stdin_file`, not both".into());
                }
                let program = match (r.run, r.shell) {
                    (Some(argv), None) if argv.is_empty() => {
                        return Err("`run` needs the program and its arguments: run: [opensc-tool, -l]".into())
                    }
                    (Some(argv), None) => Program::Argv(argv),
                    (None, Some(text)) => Program::Shell(text),
                    _ => return Err("internal: run".into()),
                };
                StepKind::Run(Box::new(RunStep {
                    program,
                    stdin: r.stdin,
                    stdin_file: r.stdin_file,
                    prompts: r.prompts,
                    terminal: r.terminal.unwrap_or(false),
                    timeout: r.timeout.map_or(DEFAULT_RUN_TIMEOUT, |d| d.0),
                    output_cap: r.output_cap.unwrap_or(DEFAULT_OUTPUT_CAP),
                    exit: r.exit.unwrap_or(ExitExpect::Code(0)),
                    stdout: r.stdout,
                    stderr: r.stderr,
                    files: r.files,
                    env: r.env,
                    save,
                }))
            }
            "card" => StepKind::Card(r.card.ok_or("internal: card")?),
            "state" => StepKind::State(r.state.ok_or("internal: state")?),
            "set" => {
                let set = r.set.ok_or("internal: set")?;
                validate_set(&set)?;
                StepKind::Set(set)
            }
            "fault" => {
                let fault = r.fault.ok_or("internal: fault")?;
                validate_fault(&fault)?;
                StepKind::Fault(fault)
            }
            "verify" => {
                let verify = r.verify.ok_or("internal: verify")?;
                validate_verify(&verify)?;
                StepKind::Verify(verify)
            }
            "sleep" => StepKind::Sleep(r.sleep.ok_or("internal: sleep")?.0),
            "repeat" => {
                let steps = r.steps.ok_or("a repeat block needs `steps:`, the steps to repeat")?;
                StepKind::Repeat(r.repeat.ok_or("internal: repeat")?, steps)
            }
            "parallel" => StepKind::Parallel(r.parallel.ok_or("internal: parallel")?),
            "bench" => {
                let steps = r.steps.ok_or("a bench block needs `steps:`, the steps to measure (beside `bench:`, as for `repeat:`)")?;
                if steps.is_empty() {
                    return Err("a bench block needs at least one step under `steps:`".into());
                }
                StepKind::Bench(Box::new(r.bench.ok_or("internal: bench")?), steps)
            }
            _ => return Err("internal: unknown step".into()),
        };
        Ok(Step { name: r.name, on: r.on, kind })
    }
}

fn validate_set(set: &SetAction) -> Result<(), String> {
    let actions = [!set.pins.is_empty(), set.office_reset.is_some(), set.kiosk_reset.is_some(), set.clock.is_some(), set.revoke.is_some()];
    if actions.iter().filter(|a| **a).count() != 1 {
        return Err("a set step does one of: pins, office_reset, kiosk_reset, clock, revoke".into());
    }
    if let Some(pin) = set.office_reset {
        if !matches!(pin, PinName::Auth | PinName::Text | PinName::Common | PinName::Juki) {
            return Err(format!("the municipal office resets the 4-digit PINs (auth, text, common, juki), not {}; the signature password is reset with kiosk_reset: sign", pin.as_str()));
        }
    }
    if let Some(pin) = set.kiosk_reset {
        if pin != PinName::Sign {
            return Err("kiosk_reset resets the signature password: write kiosk_reset: sign".into());
        }
    }
    if set.new_pin.is_some() && set.office_reset.is_none() && set.kiosk_reset.is_none() {
        return Err("new_pin goes with office_reset or kiosk_reset".into());
    }
    if let Some(clock) = &set.clock {
        super::clock::ClockShift::parse(clock)?;
    }
    Ok(())
}

pub(crate) fn validate_fault(f: &FaultSpec) -> Result<(), String> {
    let kinds = [f.latency.is_some(), f.sw.is_some(), f.tear, f.drop_connection, f.kill_pcscd, f.clear];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err("a fault step sets one of: latency, sw, tear, drop_connection, kill_pcscd, clear".into());
    }
    if let Some(sw) = &f.sw {
        if sw.0.len() != 2 {
            return Err("a fault's sw is one status word, e.g. sw: 6F00".into());
        }
    }
    if f.executed && f.sw.is_none() {
        return Err("`executed` goes with `sw`".into());
    }
    if let Some(sw) = &f.sw {
        if sw.0.nibbles().iter().any(Option::is_none) {
            return Err("a fault's sw is an exact status word such as 6F00, without `x`".into());
        }
    }
    if let (Some(LatencySpec::Profile(profile)), Some(_)) = (f.latency, &f.matches) {
        return Err(format!("`latency: {}` sets its own latency per command; give a duration to use `match`", profile.name()));
    }
    if (f.matches.is_some() || f.count.is_some()) && (f.drop_connection || f.kill_pcscd || f.clear) {
        return Err("`match` and `count` go with latency, sw and tear".into());
    }
    Ok(())
}

fn validate_verify(v: &VerifySpec) -> Result<(), String> {
    let has_signature = v.signature.is_some() || v.signature_file.is_some();
    if v.signature.is_some() && v.signature_file.is_some() {
        return Err("give `signature` or `signature_file`, not both".into());
    }
    let signed = [v.digest_info.is_some(), v.hash.is_some(), v.message.is_some(), v.message_file.is_some()];
    let signed_count = signed.iter().filter(|s| **s).count();
    if has_signature {
        if signed_count != 1 {
            return Err("say what was signed with one of: digest_info, hash, message, message_file".into());
        }
        if v.expect.is_some() || v.ca.is_some() {
            return Err(
                "`expect` and `ca` are for certificate checks; a signature check has signature + certificate + what was signed".into()
            );
        }
        if v.digest_info.is_some() && v.padding == PaddingName::Pss {
            return Err("a DigestInfo is signed with PKCS#1 v1.5 padding (80 2A P1=00); with PSS give `hash` or `message`".into());
        }
    } else {
        if signed_count != 0 {
            return Err("a signature check needs `signature` or `signature_file`".into());
        }
        if let Some(expect) = &v.expect {
            if expect.trim().is_empty() {
                return Err("expect: valid, expired, not_yet_valid, or the text of the error".into());
            }
        }
    }
    Ok(())
}
