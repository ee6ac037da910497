//! Strings with variables: `${card.my_number}`, `${sig}`, `${env.HOME}`, `${len(card.pins.sign)}`.
//!
//! A template is parsed once, when the scenario loads (so a malformed `${` is an error with
//! its position before anything runs), and expanded against [`Vars`] when its step runs.
//! `$${` writes a literal `${`.
//!
//! Values are text or bytes. In a text field (program arguments, expected output) bytes
//! expand as uppercase hex; in a hex field (APDUs, expected data) text expands as its
//! UTF-8 bytes, so `00 20 00 80 04 ${card.pins.auth}` sends the PIN's ASCII digits, and
//! `${len(x)}` is the one-byte length of `x` (`04`), handy for Lc.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A variable's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Text (program output, card facts, environment variables).
    Text(String),
    /// Bytes (response data).
    Bytes(Vec<u8>),
}

impl Value {
    /// As text: bytes become uppercase hex.
    pub fn to_text(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::Bytes(b) => hex(b),
        }
    }

    /// As bytes: text becomes its UTF-8 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Value::Text(t) => t.as_bytes().to_vec(),
            Value::Bytes(b) => b.clone(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Value::Text(t) => t.len(),
            Value::Bytes(b) => b.len(),
        }
    }
}

/// Uppercase hex without spaces.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// The variables in scope: card facts, environment, `vars:`, saved values.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    values: BTreeMap<String, Value>,
}

impl Vars {
    /// Sets a variable.
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        self.values.insert(name.into(), value);
    }

    /// A variable's value: `env.NAME` reads the environment.
    pub fn get(&self, name: &str) -> Option<Value> {
        if let Some(var) = name.strip_prefix("env.") {
            return std::env::var(var).ok().map(Value::Text);
        }
        self.values.get(name).cloned()
    }
}

/// One `${...}` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// `${name}`.
    Var(String),
    /// `${len(name)}`: the value's length in bytes.
    Len(String),
}

impl Reference {
    /// The variable it reads.
    pub fn name(&self) -> &str {
        match self {
            Reference::Var(n) | Reference::Len(n) => n,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Ref(Reference),
}

/// A string that may hold `${...}` references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// What is wrong in a template or its expansion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${` without `}`.
    #[error("`${{` without a closing `}}`; write `${{name}}`, or `$${{` for a literal `${{`")]
    Unclosed,
    /// A name with characters a variable cannot have.
    #[error("`${{{0}}}` is not a variable name; names are letters, digits, `_`, `-` and `.` (e.g. `${{card.my_number}}`), or `len(name)`")]
    BadName(String),
    /// A reference to a variable that does not exist.
    #[error("variable `{0}` is not defined{1}")]
    Undefined(String, String),
    /// Hex text that is not hex.
    #[error("{0}")]
    BadHex(String),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Template {
    /// Parses `${...}` references out of `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(escaped) = after.strip_prefix("${") {
                literal.push_str("${");
                rest = escaped;
            } else if let Some(body) = after.strip_prefix('{') {
                let end = body.find('}').ok_or(TemplateError::Unclosed)?;
                let inner = body[..end].trim();
                let reference = match inner.strip_prefix("len(").and_then(|r| r.strip_suffix(')')) {
                    Some(name) if valid_name(name.trim()) => Reference::Len(name.trim().to_owned()),
                    _ if valid_name(inner) => Reference::Var(inner.to_owned()),
                    _ => return Err(TemplateError::BadName(inner.to_owned())),
                };
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Ref(reference));
                rest = &body[end + 1..];
            } else {
                literal.push('$');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Template { segments })
    }

    /// A template without references.
    pub fn literal(text: &str) -> Template {
        Template { segments: vec![Segment::Literal(text.to_owned())] }
    }

    /// The references, in order.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref(r) => Some(r),
            Segment::Literal(_) => None,
        })
    }

    /// The literal text between references (for checking hex before anything runs).
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Literal(l) => Some(l.as_str()),
            Segment::Ref(_) => None,
        })
    }

    /// The template as written, references as `${name}` (never their values: safe to show).
    pub fn source(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.replace("${", "$${"),
                Segment::Ref(Reference::Var(n)) => format!("${{{n}}}"),
                Segment::Ref(Reference::Len(n)) => format!("${{len({n})}}"),
            })
            .collect()
    }

    /// True when the template has no references.
    pub fn is_literal(&self) -> bool {
        self.references().next().is_none()
    }

    fn lookup(vars: &Vars, name: &str) -> Result<Value, TemplateError> {
        vars.get(name).ok_or_else(|| TemplateError::Undefined(name.to_owned(), String::new()))
    }

    /// Expands to text.
    pub fn text(&self, vars: &Vars) -> Result<String, TemplateError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => out.push_str(l),
                Segment::Ref(Reference::Var(name)) => out.push_str(&Self::lookup(vars, name)?.to_text()),
                Segment::Ref(Reference::Len(name)) => out.push_str(&Self::lookup(vars, name)?.len().to_string()),
            }
        }
        Ok(out)
    }

    /// Expands a hex field to bytes: literal parts are hex (spaces allowed), references
    /// insert their bytes; `len(x)` inserts one length byte.
    pub fn bytes(&self, vars: &Vars) -> Result<Vec<u8>, TemplateError> {
        let mut out = Vec::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => out.extend(parse_hex_field(l)?),
                Segment::Ref(Reference::Var(name)) => out.extend(Self::lookup(vars, name)?.to_bytes()),
                Segment::Ref(Reference::Len(name)) => {
                    let len = Self::lookup(vars, name)?.len();
                    let byte =
                        u8::try_from(len).map_err(|_| TemplateError::BadHex(format!("len({name}) is {len}, more than one byte holds")))?;
                    out.push(byte);
                }
            }
        }
        Ok(out)
    }
}

/// Parses hex with optional spaces (and `:` separators); the error says what to write.
pub fn parse_hex_field(text: &str) -> Result<Vec<u8>, TemplateError> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(TemplateError::BadHex(format!(
            "{bad:?} is not a hex digit in {text:?}; write bytes as hex pairs such as \"00 A4 04 0C\""
        )));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(TemplateError::BadHex(format!(
            "{text:?} has an odd number of hex digits ({}); every byte is two digits",
            digits.len()
        )));
    }
    if digits.is_empty() {
        return Ok(Vec::new());
    }
    mynasim_simulator::apdu::parse_hex(&digits).ok_or_else(|| TemplateError::BadHex(format!("{text:?} is not hex")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn expands_text_and_hex() {
        let mut vars = Vars::default();
        vars.set("card.pins.auth", Value::Text("1234".into()));
        vars.set("sig", Value::Bytes(vec![0xAB, 0x01]));
        let t = Template::parse("00 20 00 80 ${len(card.pins.auth)} ${card.pins.auth}").unwrap();
        assert_eq!(t.bytes(&vars).unwrap(), [0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34]);
        assert_eq!(Template::parse("sig=${sig} $${x} $5").unwrap().text(&vars).unwrap(), "sig=AB01 ${x} $5");
    }

    #[test]
    fn errors_say_what_to_write() {
        assert_eq!(Template::parse("${oops").unwrap_err(), TemplateError::Unclosed);
        assert!(matches!(Template::parse("${a b}").unwrap_err(), TemplateError::BadName(_)));
        let err = Template::parse("${nope}").unwrap().text(&Vars::default()).unwrap_err();
        assert_eq!(err, TemplateError::Undefined("nope".into(), String::new()));
        assert!(parse_hex_field("00 A").unwrap_err().to_string().contains("odd number"));
        assert!(parse_hex_field("0G").unwrap_err().to_string().contains("'G' is not a hex digit"));
    }
}
