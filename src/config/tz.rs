//! `TimeZoneSpec`: the `time_zone` setting of a source, checked at load time.
//!
//! Deliberately small and local (the parser has its own zone type); this one only has to say
//! whether a setting is valid and turn a zone-less local time into UTC for document mapping.

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use std::str::FromStr;

/// A fixed UTC offset (seconds east) or an IANA zone (DST-aware).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeZoneSpec {
    Fixed(i32),
    Named(chrono_tz::Tz),
}

impl Default for TimeZoneSpec {
    fn default() -> Self {
        TimeZoneSpec::Fixed(0)
    }
}

impl FromStr for TimeZoneSpec {
    type Err = String;

    /// Accepts `+HH:MM`, `-HH:MM`, `+HHMM`, `+HH`, `Z`, `UTC`/`GMT` (any case) or an IANA name.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("z")
            || t.eq_ignore_ascii_case("utc")
            || t.eq_ignore_ascii_case("gmt")
        {
            return Ok(TimeZoneSpec::Fixed(0));
        }
        if let Some(rest) = t
            .strip_prefix('+')
            .map(|r| (1, r))
            .or_else(|| t.strip_prefix('-').map(|r| (-1, r)))
        {
            return parse_offset(rest.1)
                .map(|secs| TimeZoneSpec::Fixed(rest.0 * secs))
                .ok_or_else(|| {
                    format!("invalid UTC offset {s:?} (expected +HH:MM, -HH:MM or +HHMM)")
                });
        }
        chrono_tz::Tz::from_str(t).map(TimeZoneSpec::Named).map_err(|_| {
            format!("unknown time zone {s:?} (expected +HH:MM, -HH:MM, +HHMM, Z, UTC or an IANA name like Europe/Berlin)")
        })
    }
}

/// `HH:MM`, `HHMM` or `HH` after the sign, to seconds; hours up to 23.
fn parse_offset(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let two = |i: usize| -> Option<i32> {
        let (a, c) = (*b.get(i)?, *b.get(i + 1)?);
        (a.is_ascii_digit() && c.is_ascii_digit()).then(|| ((a - b'0') * 10 + (c - b'0')) as i32)
    };
    let (h, m) = match b.len() {
        2 => (two(0)?, 0),
        4 => (two(0)?, two(2)?),
        5 if b[2] == b':' => (two(0)?, two(3)?),
        _ => return None,
    };
    (h <= 23 && m <= 59).then_some(h * 3600 + m * 60)
}

impl TimeZoneSpec {
    /// UTC offset in seconds for a local wall-clock time. For an IANA zone in a DST gap the
    /// offset before the gap is used; in an overlap the earlier instant (first occurrence).
    pub fn offset_secs_at_local(&self, local: NaiveDateTime) -> i32 {
        match self {
            TimeZoneSpec::Fixed(secs) => *secs,
            TimeZoneSpec::Named(tz) => {
                use chrono::Offset;
                match tz.offset_from_local_datetime(&local).earliest() {
                    Some(off) => off.fix().local_minus_utc(),
                    // Gap: the clock jumped; the offset an hour earlier is the pre-gap one.
                    None => tz
                        .offset_from_local_datetime(&(local - chrono::Duration::hours(3)))
                        .earliest()
                        .map(|o| o.fix().local_minus_utc())
                        .unwrap_or(0),
                }
            }
        }
    }

    /// Local civil time (seconds since the epoch as if local were UTC) to UTC seconds.
    pub fn local_epoch_to_utc(&self, local_secs: i64) -> i64 {
        match self {
            TimeZoneSpec::Fixed(secs) => local_secs - *secs as i64,
            TimeZoneSpec::Named(_) => {
                let naive = NaiveDate::from_ymd_opt(1970, 1, 1)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .and_then(|d| d.checked_add_signed(chrono::Duration::try_seconds(local_secs)?));
                match naive {
                    Some(n) => local_secs - self.offset_secs_at_local(n) as i64,
                    None => local_secs,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!("+00:00".parse(), Ok(TimeZoneSpec::Fixed(0)));
        assert_eq!("+08:00".parse(), Ok(TimeZoneSpec::Fixed(8 * 3600)));
        assert_eq!(
            "-0530".parse(),
            Ok(TimeZoneSpec::Fixed(-(5 * 3600 + 30 * 60)))
        );
        assert_eq!("+02".parse(), Ok(TimeZoneSpec::Fixed(7200)));
        assert_eq!("Z".parse(), Ok(TimeZoneSpec::Fixed(0)));
        assert_eq!("utc".parse(), Ok(TimeZoneSpec::Fixed(0)));
        assert_eq!(
            "Europe/Berlin".parse(),
            Ok(TimeZoneSpec::Named(chrono_tz::Europe::Berlin))
        );
    }

    #[test]
    fn rejected_forms() {
        for bad in [
            "",
            "+25:00",
            "+08:60",
            "8:00",
            "+8",
            "Mars/Olympus",
            "+08:00:00",
            "+0a:00",
        ] {
            assert!(
                bad.parse::<TimeZoneSpec>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn named_zone_applies_dst() {
        let tz: TimeZoneSpec = "Europe/Berlin".parse().unwrap();
        // 2026-07-01 12:00 local (CEST, +2) and 2026-01-01 12:00 local (CET, +1).
        let summer = NaiveDate::from_ymd_opt(2026, 7, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let winter = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert_eq!(tz.offset_secs_at_local(summer), 7200);
        assert_eq!(tz.offset_secs_at_local(winter), 3600);
        let local = summer.and_utc().timestamp();
        assert_eq!(tz.local_epoch_to_utc(local), local - 7200);
        // In the spring-forward gap (02:30 does not exist) no panic, a sane offset.
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(tz.offset_secs_at_local(gap), 3600);
    }
}
