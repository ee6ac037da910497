//! The My Number check digit (spec §10) and the Japanese-era dates of the surface AP keys
//! (spec §6.2).

use time::{Date, Month};

/// The check digit (検査用数字) of 11 ASCII digits, or `None` if the input is not 11 digits
/// (spec §10.1: weights 6 5 4 3 2 7 6 5 4 3 2 from the left; r ≤ 1 gives 0).
pub fn check_digit(base: &[u8]) -> Option<u8> {
    if base.len() != 11 || !base.iter().all(u8::is_ascii_digit) {
        return None;
    }
    const WEIGHTS: [u32; 11] = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    let sum: u32 = base.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let r = sum % 11;
    Some(if r <= 1 { 0 } else { (11 - r) as u8 })
}

/// Appends the check digit to 11 digits.
pub fn complete(base: &str) -> Option<String> {
    let digit = check_digit(base.as_bytes())?;
    Some(format!("{base}{digit}"))
}

/// Checks a 12-digit My Number, saying what is wrong.
pub fn validate(number: &str) -> Result<(), String> {
    if number.len() != 12 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("a My Number is 12 digits, got {number:?}"));
    }
    let expected = check_digit(&number.as_bytes()[..11]).unwrap_or(0);
    let given = number.as_bytes()[11] - b'0';
    if given != expected {
        return Err(format!("My Number {number} has check digit {given}, but its first 11 digits need {expected} (spec §10)"));
    }
    Ok(())
}

/// A date as Japanese-era `YYMMDD` (spec §6.2): Reiwa from 2019-05-01, Heisei from
/// 1989-01-08, Showa from 1926-12-25, Taisho from 1912-07-30, Meiji from 1868-01-25;
/// the first (partial) year of an era is 01.
pub fn era_date(date: Date) -> String {
    const ERAS: [(i32, Month, u8); 5] = [
        (2019, Month::May, 1),
        (1989, Month::January, 8),
        (1926, Month::December, 25),
        (1912, Month::July, 30),
        (1868, Month::January, 25),
    ];
    let start_year =
        ERAS.iter().find(|(y, m, d)| Date::from_calendar_date(*y, *m, *d).is_ok_and(|start| date >= start)).map_or(1868, |(y, _, _)| *y);
    let era_year = date.year() - start_year + 1;
    format!("{:02}{:02}{:02}", era_year % 100, date.month() as u8, date.day())
}

/// The era digit of the signature certificate's birth date `EYYYYMMDD` (spec §9.3):
/// 1 Meiji, 2 Taisho, 3 Showa, 4 Heisei, 5 Reiwa.
pub fn era_digit(date: Date) -> u8 {
    let after = |y, m, d| Date::from_calendar_date(y, m, d).is_ok_and(|start| date >= start);
    if after(2019, Month::May, 1) {
        5
    } else if after(1989, Month::January, 8) {
        4
    } else if after(1926, Month::December, 25) {
        3
    } else if after(1912, Month::July, 30) {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn spec_test_vectors() {
        for valid in [
            "123456789018",
            "314159265352",
            "271828182840",
            "123456789050",
            "537686677188",
            "983205673214",
            "111111111118",
            "100000000005",
            "400000000009",
            "000000000000",
        ] {
            assert!(validate(valid).is_ok(), "{valid}");
        }
        for invalid in
            ["123456789010", "983205673210", "123456789019", "314159265351", "271828182841", "12345678901", "1234567890188", "12345678901A"]
        {
            assert!(validate(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn era_dates() {
        assert_eq!(era_date(date!(1980 - 02 - 17)), "550217");
        assert_eq!(era_date(date!(2020 - 02 - 24)), "020224");
        assert_eq!(era_date(date!(2019 - 05 - 01)), "010501");
        assert_eq!(era_date(date!(2019 - 04 - 30)), "310430");
        assert_eq!(era_date(date!(1989 - 01 - 07)), "640107");
        assert_eq!(era_digit(date!(1980 - 02 - 17)), 3);
    }
}
