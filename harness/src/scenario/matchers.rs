//! What a step expects: status-word patterns, hex patterns with `x` wildcards, text
//! predicates. Parsed when the scenario loads; matched when the step runs. Each mismatch
//! is a sentence saying what was expected and what came back.

use regex::Regex;

/// A status word pattern: four hex digits, `x` for any nibble (`9000`, `63Cx`, `6xxx`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwPattern {
    text: String,
    /// Nibble values, `None` = any.
    nibbles: [Option<u8>; 4],
}

impl SwPattern {
    /// `90 00` exactly.
    pub fn success() -> SwPattern {
        SwPattern { text: "9000".into(), nibbles: [Some(9), Some(0), Some(0), Some(0)] }
    }

    /// Parses `9000`, `63Cx`, `6xxx` (spaces allowed).
    pub fn parse(text: &str) -> Result<SwPattern, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let nibbles: Vec<Option<u8>> = compact
            .chars()
            .map(|c| match c {
                'x' | 'X' => Ok(None),
                c => c.to_digit(16).map(|d| Some(d as u8)).ok_or(()),
            })
            .collect::<Result<_, _>>()
            .map_err(|()| {
                format!("{text:?} is not a status word pattern; write four hex digits, `x` for any digit: \"9000\", \"63Cx\", \"6xxx\"")
            })?;
        let nibbles: [Option<u8>; 4] = nibbles
            .try_into()
            .map_err(|_| format!("{text:?} is not four hex digits; a status word is two bytes, e.g. \"9000\" or \"63Cx\""))?;
        Ok(SwPattern { text: compact.to_uppercase().replace('X', "x"), nibbles })
    }

    /// Whether `sw` matches.
    pub fn matches(&self, sw: u16) -> bool {
        self.nibbles.iter().enumerate().all(|(i, n)| n.is_none_or(|n| u16::from(n) == (sw >> (12 - 4 * i)) & 0xF))
    }
}

impl std::fmt::Display for SwPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Bytes with wildcard nibbles: `30 82 xx xx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HexPattern {
    nibbles: Vec<Option<u8>>,
}

impl HexPattern {
    /// Parses hex with `x` wildcards; spaces allowed.
    pub fn parse(text: &str) -> Result<HexPattern, String> {
        let nibbles: Vec<Option<u8>> = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                'x' | 'X' => Ok(None),
                c => c.to_digit(16).map(|d| Some(d as u8)).ok_or(c),
            })
            .collect::<Result<_, _>>()
            .map_err(|c| format!("{c:?} is not a hex digit in {text:?}; write bytes as hex, `x` for any digit (\"30 82 xx xx\")"))?;
        if !nibbles.len().is_multiple_of(2) {
            return Err(format!("{text:?} has an odd number of hex digits; every byte is two digits"));
        }
        Ok(HexPattern { nibbles })
    }

    /// The nibbles, `None` = any.
    pub fn nibbles(&self) -> &[Option<u8>] {
        &self.nibbles
    }

    /// The bytes, wildcards as 0 (for patterns used as values, e.g. a status word).
    pub fn bytes_or_zero(&self) -> Vec<u8> {
        self.nibbles.chunks(2).map(|p| (p[0].unwrap_or(0) << 4) | p.get(1).copied().flatten().unwrap_or(0)).collect()
    }

    /// Pattern length in bytes.
    pub fn len(&self) -> usize {
        self.nibbles.len() / 2
    }

    /// True for the empty pattern.
    pub fn is_empty(&self) -> bool {
        self.nibbles.is_empty()
    }

    /// Whether `data` starts with this pattern.
    pub fn matches_prefix(&self, data: &[u8]) -> bool {
        data.len() >= self.len()
            && self.nibbles.iter().enumerate().all(|(i, n)| {
                let byte = data[i / 2];
                let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0xF };
                n.is_none_or(|n| n == nibble)
            })
    }

    /// Whether `data` is exactly this pattern.
    pub fn matches(&self, data: &[u8]) -> bool {
        data.len() == self.len() && self.matches_prefix(data)
    }
}

/// As written: `30 82 xx xx` (bytes spaced, `x` for a wildcard nibble).
impl std::fmt::Display for HexPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, pair) in self.nibbles.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            for n in pair {
                match n {
                    Some(n) => write!(f, "{n:X}")?,
                    None => f.write_str("x")?,
                }
            }
        }
        Ok(())
    }
}

/// A regular expression, with the text it came from.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// The source.
    pub text: String,
    /// Compiled.
    pub regex: Regex,
}

impl Pattern {
    /// Compiles `text`; the error quotes the regex crate's explanation.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        Regex::new(text).map(|regex| Pattern { text: text.to_owned(), regex }).map_err(|e| format!("bad regular expression: {e}"))
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.text == other.text
    }
}

/// Shortens text for a failure message.
pub fn excerpt(text: &str, max: usize) -> String {
    let escaped: String = text.escape_debug().collect();
    if escaped.chars().count() <= max {
        return format!("\"{escaped}\"");
    }
    let head: String = escaped.chars().take(max).collect();
    format!("\"{head}…\" ({} bytes in all)", text.len())
}

/// Formats bytes for a failure message: hex, shortened.
pub fn hex_excerpt(bytes: &[u8], max_bytes: usize) -> String {
    let shown = &bytes[..bytes.len().min(max_bytes)];
    let mut out = crate::transcript::spaced_hex(shown);
    if bytes.len() > max_bytes {
        out.push_str(&format!(" … ({} bytes)", bytes.len()));
    }
    if out.is_empty() {
        out.push_str("(no data)");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sw_patterns() {
        let p = SwPattern::parse("63Cx").unwrap();
        assert!(p.matches(0x63C2) && p.matches(0x63C0) && !p.matches(0x6983));
        assert!(SwPattern::parse("6xxx").unwrap().matches(0x6A82));
        assert!(SwPattern::parse("90 00").unwrap().matches(0x9000));
        assert!(SwPattern::parse("900").unwrap_err().contains("four hex digits"));
        assert!(SwPattern::parse("90G0").unwrap_err().contains("not a status word pattern"));
        assert_eq!(SwPattern::parse("63cX").unwrap().to_string(), "63Cx");
    }

    #[test]
    fn hex_patterns() {
        let p = HexPattern::parse("30 82 xx x0").unwrap();
        assert!(p.matches(&[0x30, 0x82, 0x12, 0x30]));
        assert!(!p.matches(&[0x30, 0x82, 0x12, 0x31]));
        assert!(p.matches_prefix(&[0x30, 0x82, 0x12, 0x30, 0xFF]));
        assert!(HexPattern::parse("3").is_err());
    }
}
