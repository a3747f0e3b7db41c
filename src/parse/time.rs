//! Time zones from config (`"+08:00"`, `"UTC"`, `"Europe/Berlin"`) and fast timestamp parsing.
//!
//! Timestamps are parsed by hand from bytes: this runs once per log line and must stay cheap.
//! chrono / chrono-tz are only consulted for named (DST-aware) zones.

use chrono::{LocalResult, NaiveDate, Offset, TimeDelta, TimeZone};

const NS: i64 = 1_000_000_000;

/// A configured time zone: a fixed offset or an IANA zone (DST-aware).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// Offset east of UTC in seconds.
    Fixed(i32),
    Named(chrono_tz::Tz),
}

impl Default for Zone {
    fn default() -> Self {
        Zone::Fixed(0)
    }
}

impl std::str::FromStr for Zone {
    type Err = String;

    fn from_str(s: &str) -> Result<Zone, String> {
        Zone::parse(s)
    }
}

impl Zone {
    /// A local civil time given as seconds since the epoch as if local were UTC (what a
    /// zone-less timestamp reads as) to UTC seconds, with the DST rules of `local_to_utc_ns`.
    pub fn local_epoch_to_utc(&self, local_secs: i64) -> i64 {
        let (y, m, d) = civil_from_days(local_secs.div_euclid(86_400));
        let t = local_secs.rem_euclid(86_400) as u32;
        i32::try_from(y)
            .ok()
            .and_then(|y| self.local_to_utc_ns(y, m, d, t / 3600, t % 3600 / 60, t % 60, 0))
            .map_or(local_secs, |ns| ns.div_euclid(NS))
    }

    /// `+08:00`, `-05:30`, `+0800`, `+08`, `Z`, `UTC`, `GMT`, or an IANA name (`Europe/Berlin`).
    pub fn parse(s: &str) -> Result<Zone, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("z")
            || t.eq_ignore_ascii_case("utc")
            || t.eq_ignore_ascii_case("gmt")
        {
            return Ok(Zone::Fixed(0));
        }
        if let Some((off, n)) = parse_offset(t.as_bytes()) {
            if n == t.len() {
                return Ok(Zone::Fixed(off));
            }
        }
        if t.starts_with(['+', '-']) {
            return Err(format!(
                "invalid UTC offset {s:?} (expected +HH:MM, -HH:MM or +HHMM)"
            ));
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!(
                "unknown time zone {s:?} (expected an offset like +08:00, -0530 or Z, the word \
                 UTC, or an IANA name like Europe/Berlin)"
            )
        })
    }

    /// UTC nanoseconds of a local wall-clock time in this zone; `None` for an invalid date or
    /// one outside the i64 nanosecond range. Named zones: an ambiguous time (DST fall-back)
    /// maps to the earlier instant; a nonexistent one (spring-forward gap) is shifted forward
    /// by the gap, which is what a clock that missed the change would have meant.
    #[allow(clippy::too_many_arguments)]
    pub fn local_to_utc_ns(
        &self,
        y: i32,
        mo: u32,
        d: u32,
        h: u32,
        mi: u32,
        s: u32,
        nanos: u32,
    ) -> Option<i64> {
        if !(1..=12).contains(&mo)
            || d == 0
            || d > days_in_month(y as i64, mo)
            || h > 23
            || mi > 59
            || s > 60
            || nanos >= 1_000_000_000
        {
            return None;
        }
        let local_secs = days_from_civil(y as i64, mo, d)
            .checked_mul(86_400)?
            .checked_add(h as i64 * 3600 + mi as i64 * 60 + s as i64)?;
        let off = match self {
            Zone::Fixed(off) => *off,
            Zone::Named(tz) => {
                // chrono rejects second 60; the leap second is already in local_secs.
                let ndt = NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, s.min(59))?;
                match tz.from_local_datetime(&ndt) {
                    LocalResult::Single(dt) => dt.offset().fix().local_minus_utc(),
                    LocalResult::Ambiguous(a, b) => {
                        let (oa, ob) = (
                            a.offset().fix().local_minus_utc(),
                            b.offset().fix().local_minus_utc(),
                        );
                        // The earlier instant is the one with the larger offset.
                        oa.max(ob)
                    }
                    LocalResult::None => {
                        let before = ndt.checked_sub_signed(TimeDelta::days(1))?;
                        tz.offset_from_utc_datetime(&before).fix().local_minus_utc()
                    }
                }
            }
        };
        local_secs
            .checked_sub(off as i64)?
            .checked_mul(NS)?
            .checked_add(nanos as i64)
    }

    /// Offset east of UTC in seconds at a UTC instant.
    pub fn offset_at_utc_ns(&self, utc_ns: i64) -> i32 {
        match self {
            Zone::Fixed(off) => *off,
            Zone::Named(tz) => {
                let secs = utc_ns.div_euclid(NS);
                match chrono::DateTime::from_timestamp(secs, 0) {
                    Some(dt) => tz
                        .offset_from_utc_datetime(&dt.naive_utc())
                        .fix()
                        .local_minus_utc(),
                    None => 0,
                }
            }
        }
    }
}

pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: `(year, month, day)`.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[inline]
fn digit(b: u8) -> Option<u32> {
    b.is_ascii_digit().then(|| (b - b'0') as u32)
}

#[inline]
pub(crate) fn digits2(b: &[u8], i: usize) -> Option<u32> {
    Some(digit(*b.get(i)?)? * 10 + digit(*b.get(i + 1)?)?)
}

/// `+HH:MM`, `+HHMM` or `+HH` at the start of `b`: (offset seconds, bytes consumed).
pub(crate) fn parse_offset(b: &[u8]) -> Option<(i32, usize)> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = digits2(b, 1)?;
    let (m, n) = if b.get(3) == Some(&b':') {
        (digits2(b, 4)?, 6)
    } else if let Some(m) = digits2(b, 3) {
        (m, 5)
    } else {
        (0, 3)
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((sign * (h * 3600 + m * 60) as i32, n))
}

/// Fraction digits after a `.`/`,` at `b[i]`: (nanoseconds, index after the digits).
/// Digits beyond nanosecond precision are consumed and ignored.
pub(crate) fn parse_fraction(b: &[u8], mut i: usize) -> (u32, usize) {
    let mut nanos = 0u32;
    let mut n = 0;
    while let Some(d) = b.get(i).and_then(|&c| digit(c)) {
        if n < 9 {
            nanos = nanos * 10 + d;
            n += 1;
        }
        i += 1;
    }
    while n < 9 {
        nanos *= 10;
        n += 1;
    }
    (nanos, i)
}

/// Parse `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]` at the start of `s`.
/// Returns UTC nanoseconds and the number of bytes consumed. Without an offset the time is
/// local to `default_zone`.
pub fn parse_iso8601(s: &str, default_zone: &Zone) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let y = digits2(b, 0)? * 100 + digits2(b, 2)?;
    let mo = digits2(b, 5)?;
    let d = digits2(b, 8)?;
    let h = digits2(b, 11)?;
    let mi = digits2(b, 14)?;
    let sec = digits2(b, 17)?;
    let mut i = 19;
    let mut nanos = 0;
    if matches!(b.get(i), Some(b'.') | Some(b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        (nanos, i) = parse_fraction(b, i + 1);
    }
    let ns = match b.get(i) {
        Some(b'Z') | Some(b'z') => {
            i += 1;
            Zone::Fixed(0).local_to_utc_ns(y as i32, mo, d, h, mi, sec, nanos)?
        }
        Some(b'+') | Some(b'-') => {
            let (off, n) = parse_offset(&b[i..])?;
            i += n;
            Zone::Fixed(off).local_to_utc_ns(y as i32, mo, d, h, mi, sec, nanos)?
        }
        _ => default_zone.local_to_utc_ns(y as i32, mo, d, h, mi, sec, nanos)?,
    };
    Some((ns, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_290_333; // 2026-11-21T19:45:33Z

    #[test]
    fn zone_parse_forms() {
        assert_eq!(Zone::parse("+08:00"), Ok(Zone::Fixed(8 * 3600)));
        assert_eq!(Zone::parse("-05:30"), Ok(Zone::Fixed(-(5 * 3600 + 1800))));
        assert_eq!(Zone::parse("+0800"), Ok(Zone::Fixed(8 * 3600)));
        assert_eq!(Zone::parse("Z"), Ok(Zone::Fixed(0)));
        assert_eq!(Zone::parse("UTC"), Ok(Zone::Fixed(0)));
        assert_eq!(Zone::parse("+00:00"), Ok(Zone::Fixed(0)));
        assert_eq!(
            Zone::parse("Europe/Berlin"),
            Ok(Zone::Named(chrono_tz::Europe::Berlin))
        );
        let e = Zone::parse("Mars/Olympus").unwrap_err();
        assert!(e.contains("+08:00") && e.contains("Europe/Berlin"), "{e}");
        assert!(Zone::parse("+25:00").is_err());
        assert!(Zone::parse("+08:00x").is_err());
        assert!(Zone::parse("").is_err());
    }

    #[test]
    fn civil_roundtrip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-800_000, -1, 0, 1, 10_957, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn local_to_utc_fixed_and_invalid() {
        let utc = Zone::Fixed(0);
        assert_eq!(
            utc.local_to_utc_ns(2026, 11, 21, 19, 45, 33, 5),
            Some(T0 * NS + 5)
        );
        assert_eq!(
            Zone::Fixed(3600).local_to_utc_ns(2026, 11, 21, 20, 45, 33, 0),
            Some(T0 * NS)
        );
        assert_eq!(utc.local_to_utc_ns(2026, 2, 29, 0, 0, 0, 0), None);
        assert!(utc.local_to_utc_ns(2028, 2, 29, 0, 0, 0, 0).is_some());
        assert_eq!(utc.local_to_utc_ns(2026, 13, 1, 0, 0, 0, 0), None);
        assert_eq!(utc.local_to_utc_ns(2026, 4, 31, 0, 0, 0, 0), None);
        assert_eq!(utc.local_to_utc_ns(2026, 1, 1, 24, 0, 0, 0), None);
        assert_eq!(utc.local_to_utc_ns(i32::MAX, 1, 1, 0, 0, 0, 0), None);
    }

    #[test]
    fn named_zone_dst() {
        let z = Zone::parse("Europe/Berlin").unwrap();
        // Winter: +01:00.
        assert_eq!(
            z.local_to_utc_ns(2026, 11, 21, 20, 45, 33, 0),
            Some(T0 * NS)
        );
        // Summer: +02:00.
        let summer = Zone::Fixed(0)
            .local_to_utc_ns(2026, 7, 1, 10, 0, 0, 0)
            .unwrap();
        assert_eq!(z.local_to_utc_ns(2026, 7, 1, 12, 0, 0, 0), Some(summer));
        // Fall back 2026-10-25 03:00 CEST → 02:00 CET: 02:30 is ambiguous → earlier (CEST).
        let amb = Zone::Fixed(0)
            .local_to_utc_ns(2026, 10, 25, 0, 30, 0, 0)
            .unwrap();
        assert_eq!(z.local_to_utc_ns(2026, 10, 25, 2, 30, 0, 0), Some(amb));
        // Spring forward 2026-03-29 02:00 → 03:00: 02:30 does not exist → 03:30 CEST = 01:30Z.
        let gap = Zone::Fixed(0)
            .local_to_utc_ns(2026, 3, 29, 1, 30, 0, 0)
            .unwrap();
        assert_eq!(z.local_to_utc_ns(2026, 3, 29, 2, 30, 0, 0), Some(gap));
        assert_eq!(z.offset_at_utc_ns(T0 * NS), 3600);
    }

    #[test]
    fn iso8601_forms() {
        let utc = Zone::Fixed(0);
        let cases: &[(&str, i64, usize)] = &[
            ("2026-11-21T19:45:33Z", T0 * NS, 20),
            ("2026-11-21T19:45:33.123Z rest", T0 * NS + 123_000_000, 24),
            ("2026-11-21T19:45:33.123456789Z", T0 * NS + 123_456_789, 30),
            ("2026-11-21T19:45:33.1234567891Z", T0 * NS + 123_456_789, 31),
            ("2026-11-22T03:45:33+08:00", T0 * NS, 25),
            ("2026-11-22T03:45:33+0800 host", T0 * NS, 24),
            ("2026-11-21T14:15:33-05:30", T0 * NS, 25),
            ("2026-11-21 19:45:33 1xUr1i", T0 * NS, 19),
            (
                "2026-11-21T19:45:33.123456+00:00",
                T0 * NS + 123_456_000,
                32,
            ),
        ];
        for (s, ns, n) in cases {
            assert_eq!(parse_iso8601(s, &utc), Some((*ns, *n)), "{s}");
        }
        let plus1 = Zone::Fixed(3600);
        assert_eq!(
            parse_iso8601("2026-11-21 20:45:33", &plus1),
            Some((T0 * NS, 19))
        );
        for bad in [
            "",
            "2026-11-21",
            "2026-13-21T19:45:33Z",
            "2026-11-21X19:45:33",
            "2026-02-29 00:00:00",
            "2026-11-21T19:45:3Z",
            "２０２６-11-21T19:45:33Z",
        ] {
            assert_eq!(parse_iso8601(bad, &utc), None, "{bad}");
        }
    }

    #[test]
    fn local_epoch_seconds_follow_dst() {
        let tz: Zone = "Europe/Berlin".parse().unwrap();
        let summer = days_from_civil(2026, 7, 1) * 86_400 + 12 * 3600;
        let winter = days_from_civil(2026, 1, 1) * 86_400 + 12 * 3600;
        assert_eq!(tz.local_epoch_to_utc(summer), summer - 7200);
        assert_eq!(tz.local_epoch_to_utc(winter), winter - 3600);
        // 02:30 on 29 March does not exist: shifted forward, read as 03:30 CEST.
        let gap = days_from_civil(2026, 3, 29) * 86_400 + 2 * 3600 + 1800;
        assert_eq!(tz.local_epoch_to_utc(gap), gap - 3600);
        assert_eq!(
            "+08:00"
                .parse::<Zone>()
                .unwrap()
                .local_epoch_to_utc(8 * 3600),
            0
        );
    }
}
