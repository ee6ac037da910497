//! The verification clock of a scenario: `set: { clock: "+6y" }` moves the time at which
//! `verify` checks certificates (the card has no clock; what changes with time is what a
//! verifier says about its certificates).

use time::{Date, Duration, OffsetDateTime};

/// A move of the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockShift {
    /// Forward or back by this much (`+5y` = 5 × 365 days + leap days, `-1d`, `+12h`).
    By(Duration),
    /// To the start of this day, Japan time.
    To(Date),
}

impl ClockShift {
    /// Parses `+5y`, `-30d`, `+12h`, `+90m` or `2040-01-01`.
    pub fn parse(text: &str) -> Result<ClockShift, String> {
        let bad = || format!("clock {text:?}? write a shift such as \"+6y\", \"-1d\", \"+12h\", or a date \"2040-01-01\"");
        let t = text.trim();
        if let Some((sign, rest)) = t.strip_prefix('+').map(|r| (1, r)).or_else(|| t.strip_prefix('-').map(|r| (-1, r))) {
            let unit = rest.chars().last().ok_or_else(bad)?;
            let n: i64 = rest[..rest.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
            let d = match unit {
                'y' => Duration::days(n * 365 + n / 4),
                'd' => Duration::days(n),
                'h' => Duration::hours(n),
                'm' => Duration::minutes(n),
                _ => return Err(bad()),
            };
            return Ok(ClockShift::By(d * sign));
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(t, &format).map(ClockShift::To).map_err(|_| bad())
    }

    /// The clock after this shift.
    pub fn apply(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            ClockShift::By(d) => now + d,
            ClockShift::To(day) => mynasim_simulator::profile::start_of_day_jst(day),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_shifts_and_dates() {
        assert_eq!(ClockShift::parse("+1d").unwrap(), ClockShift::By(Duration::days(1)));
        assert_eq!(ClockShift::parse("-2h").unwrap(), ClockShift::By(Duration::hours(-2)));
        assert!(matches!(ClockShift::parse("2040-01-01").unwrap(), ClockShift::To(_)));
        assert!(ClockShift::parse("tomorrow").unwrap_err().contains("+6y"));
    }
}
