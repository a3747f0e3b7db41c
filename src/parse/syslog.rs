//! Syslog framing: RFC 3164, RFC 5424 / ISO 8601, and Exim's own log format.
//!
//! Turns one text line into a `LogRecord` (time, host, service, message). Only the framing
//! is handled here; the message is parsed later by `postfix` / `exim`. Never panics: input is
//! whatever a log file holds, so every slice is taken at an ASCII delimiter we have seen.

use super::time::{civil_from_days, digits2, parse_fraction, parse_iso8601, parse_offset, Zone};
use crate::record::LogRecord;

const NS: i64 = 1_000_000_000;
const DAY_NS: i64 = 86_400 * NS;

/// What the framer needs to know besides the line.
#[derive(Debug, Clone, Default)]
pub struct SyslogContext {
    /// Zone of timestamps that carry no offset (RFC 3164, bare Exim).
    pub zone: Zone,
    /// The reader's clock (UTC ns), for RFC 3164 year inference.
    pub now_ns: i64,
    /// Force this year for RFC 3164 lines instead of inferring it.
    pub year: Option<i32>,
    /// Host of bare Exim mainlog lines, which name none; `None` means `localhost`.
    pub default_host: Option<String>,
}

/// Why a line could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    #[error("empty line")]
    Empty,
    #[error("not a syslog line")]
    NotSyslog,
    #[error("bad timestamp")]
    BadTimestamp,
    #[error("missing host name")]
    MissingHost,
    #[error("missing program tag")]
    MissingTag,
}

/// Frame one log line.
///
/// Accepted forms (an optional `<PRI>` may precede the first three):
/// - RFC 3164: `Nov 21 19:45:33 mx-a postfix/smtp[17062]: msg` (`Nov  1` space-padded days too);
/// - RFC 5424: `<22>1 2026-11-21T19:45:33.123Z host app procid msgid [sd]|- msg`;
/// - ISO 8601 traditional (rsyslog): `2026-11-21T19:45:33.123456+08:00 host app[pid]: msg`;
/// - Exim mainlog: `2026-11-21 19:45:34[.mmm] [+0100] [[pid]] msg`, host = `default_host`.
///
/// RFC 3164 lines carry no year. Unless `ctx.year` forces one, the year is the latest year
/// not after the reader's (local) year in which the date exists (Feb 29!) and the time is at
/// most `now_ns + 1 day` — one day of tolerance for skewed host clocks. So December lines
/// read in January land in the previous year, and a line is never far in the future.
pub fn parse_line(line: &str, ctx: &SyslogContext) -> Result<LogRecord, FramingError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim_start().is_empty() {
        return Err(FramingError::Empty);
    }
    let mut rest = line;
    let b = rest.as_bytes();
    if b[0] == b'<' {
        // `<PRI>`: 1-3 digits.
        let n = b[1..]
            .iter()
            .take(4)
            .position(|&c| c == b'>')
            .ok_or(FramingError::NotSyslog)?;
        if n == 0 || !b[1..1 + n].iter().all(u8::is_ascii_digit) {
            return Err(FramingError::NotSyslog);
        }
        rest = &rest[n + 2..];
        if let Some(r) = rest.strip_prefix("1 ") {
            return parse_5424(r, ctx);
        }
    }
    let b = rest.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_digit() => parse_iso_framed(rest, ctx),
        Some(c) if c.is_ascii_alphabetic() => parse_3164(rest, ctx),
        _ => Err(FramingError::NotSyslog),
    }
}

/// Next space-separated token and what follows its single separating space.
fn token(s: &str) -> (&str, &str) {
    match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// `tag[pid]: msg` or `tag: msg` → (tag, msg).
fn split_tag(s: &str) -> Result<(&str, &str), FramingError> {
    let b = s.as_bytes();
    let end = b
        .iter()
        .position(|&c| matches!(c, b'[' | b':' | b' '))
        .ok_or(FramingError::MissingTag)?;
    if end == 0 {
        return Err(FramingError::MissingTag);
    }
    let tag = &s[..end];
    let mut i = end;
    if b[i] == b'[' {
        let close = b[i..]
            .iter()
            .position(|&c| c == b']')
            .ok_or(FramingError::MissingTag)?;
        i += close + 1;
    }
    if b.get(i) != Some(&b':') {
        return Err(FramingError::MissingTag);
    }
    i += 1;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    Ok((tag, &s[i..]))
}

fn record(ts: i64, host: &str, service: &str, message: &str) -> LogRecord {
    LogRecord {
        timestamp_ns: ts,
        host: host.to_string(),
        service: service.to_string(),
        message: message.to_string(),
        ..Default::default()
    }
}

fn month_of(b: &[u8]) -> Option<u32> {
    let m = [
        b[0].to_ascii_lowercase(),
        b[1].to_ascii_lowercase(),
        b[2].to_ascii_lowercase(),
    ];
    Some(match &m {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

fn parse_3164(s: &str, ctx: &SyslogContext) -> Result<LogRecord, FramingError> {
    let b = s.as_bytes();
    if b.len() < 4 || b[3] != b' ' {
        return Err(FramingError::NotSyslog);
    }
    let mo = month_of(b).ok_or(FramingError::NotSyslog)?;
    let mut i = 4;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let mut d = 0u32;
    let start = i;
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        d = d * 10 + (c - b'0') as u32;
        i += 1;
        if i - start > 2 {
            return Err(FramingError::BadTimestamp);
        }
    }
    if i == start || b.get(i) != Some(&b' ') {
        return Err(FramingError::BadTimestamp);
    }
    i += 1;
    if b.get(i + 2) != Some(&b':') || b.get(i + 5) != Some(&b':') {
        return Err(FramingError::BadTimestamp);
    }
    let h = digits2(b, i).ok_or(FramingError::BadTimestamp)?;
    let mi = digits2(b, i + 3).ok_or(FramingError::BadTimestamp)?;
    let sec = digits2(b, i + 6).ok_or(FramingError::BadTimestamp)?;
    i += 8;
    let mut nanos = 0;
    if b.get(i) == Some(&b'.') {
        (nanos, i) = parse_fraction(b, i + 1);
    }
    if b.get(i) != Some(&b' ') {
        return Err(FramingError::BadTimestamp);
    }
    if !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(FramingError::BadTimestamp);
    }
    let ts = resolve_year(ctx, mo, d, h, mi, sec, nanos).ok_or(FramingError::BadTimestamp)?;
    let after = s[i + 1..].trim_start_matches(' ');
    let (host, tail) = token(after);
    if host.is_empty() {
        return Err(FramingError::MissingHost);
    }
    let (tag, msg) = split_tag(tail)?;
    Ok(record(ts, host, tag, msg))
}

#[allow(clippy::too_many_arguments)]
fn resolve_year(
    ctx: &SyslogContext,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    sec: u32,
    nanos: u32,
) -> Option<i64> {
    if let Some(y) = ctx.year {
        return ctx.zone.local_to_utc_ns(y, mo, d, h, mi, sec, nanos);
    }
    let limit = ctx.now_ns.saturating_add(DAY_NS);
    let local = limit.saturating_add(ctx.zone.offset_at_utc_ns(limit) as i64 * NS);
    let reader_year = civil_from_days(local.div_euclid(DAY_NS)).0;
    // Feb 29 may need up to 8 years back (around non-leap century years).
    (0..=8).find_map(|back| {
        let y = i32::try_from(reader_year - back).ok()?;
        ctx.zone
            .local_to_utc_ns(y, mo, d, h, mi, sec, nanos)
            .filter(|&ts| ts <= limit)
    })
}

/// ISO-8601-stamped lines: rsyslog traditional with ISO time, or Exim's mainlog.
fn parse_iso_framed(s: &str, ctx: &SyslogContext) -> Result<LogRecord, FramingError> {
    let b = s.as_bytes();
    let (mut ts, n) = parse_iso8601(s, &ctx.zone).ok_or(FramingError::BadTimestamp)?;
    if b[10] != b' ' {
        if b.get(n) != Some(&b' ') {
            return Err(FramingError::BadTimestamp);
        }
        return framed_host_tag(ts, &s[n + 1..]);
    }
    // Space-separated date and time: Exim's own format. A `name[pid]:` second token means a
    // syslog template that merely prints the date this way.
    let mut rest = match s.as_bytes().get(n) {
        Some(b' ') => &s[n + 1..],
        None => "",
        Some(_) => return Err(FramingError::BadTimestamp),
    };
    if n == 19 && looks_like_syslog_tail(rest) {
        return framed_host_tag(ts, rest);
    }
    let rb = rest.as_bytes();
    if n == 19
        && matches!(rb.first(), Some(b'+') | Some(b'-'))
        && (rb.len() == 5 || rb.get(5) == Some(&b' '))
    {
        // log_timezone: the zone follows the time; re-read the time in that zone.
        if let Some((off, 5)) = parse_offset(rb) {
            ts = parse_iso8601(&s[..n], &Zone::Fixed(off))
                .ok_or(FramingError::BadTimestamp)?
                .0;
            rest = rest.get(6..).unwrap_or("");
        }
    }
    let rb = rest.as_bytes();
    if rb.first() == Some(&b'[') {
        if let Some(close) = rb.iter().position(|&c| c == b']') {
            if close > 1 && rb[1..close].iter().all(u8::is_ascii_digit) {
                rest = rest[close + 1..].trim_start_matches(' ');
            }
        }
    }
    let host = ctx.default_host.as_deref().unwrap_or("localhost");
    Ok(record(ts, host, "exim", rest))
}

fn looks_like_syslog_tail(rest: &str) -> bool {
    let (_, tail) = token(rest);
    let (tag, _) = token(tail);
    let Some(open) = tag.find('[') else {
        return false;
    };
    let Some(pid) = tag[open + 1..].strip_suffix("]:") else {
        return false;
    };
    open > 0 && !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit())
}

fn framed_host_tag(ts: i64, s: &str) -> Result<LogRecord, FramingError> {
    let (host, tail) = token(s.trim_start_matches(' '));
    if host.is_empty() {
        return Err(FramingError::MissingHost);
    }
    let (tag, msg) = split_tag(tail)?;
    Ok(record(ts, host, tag, msg))
}

fn parse_5424(s: &str, ctx: &SyslogContext) -> Result<LogRecord, FramingError> {
    let (ts_tok, rest) = token(s);
    if ts_tok == "-" {
        return Err(FramingError::BadTimestamp);
    }
    let (ts, n) = parse_iso8601(ts_tok, &ctx.zone).ok_or(FramingError::BadTimestamp)?;
    if n != ts_tok.len() {
        return Err(FramingError::BadTimestamp);
    }
    let (host, rest) = token(rest);
    let (app, rest) = token(rest);
    let (_procid, rest) = token(rest);
    let (_msgid, rest) = token(rest);
    if host.is_empty() || app.is_empty() {
        return Err(FramingError::NotSyslog);
    }
    let msg = skip_structured_data(rest).ok_or(FramingError::NotSyslog)?;
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    let host = if host == "-" { "" } else { host };
    let app = if app == "-" { "" } else { app };
    Ok(record(ts, host, app, msg))
}

/// Skip `-` or `[id k="v"]…` (quoted values may hold `\]` and `\"`); returns the message.
fn skip_structured_data(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.first() == Some(&b'-') {
        return Some(s.get(1..)?.strip_prefix(' ').unwrap_or(&s[1..]));
    }
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        let mut quoted = false;
        i += 1;
        loop {
            match *b.get(i)? {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b']' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let rest = &s[i..];
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_290_333 * NS; // 2026-11-21T19:45:33Z

    fn ctx() -> SyslogContext {
        SyslogContext {
            zone: Zone::Fixed(0),
            now_ns: T0 + 3600 * NS,
            year: None,
            default_host: None,
        }
    }

    fn ok(line: &str) -> LogRecord {
        parse_line(line, &ctx()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn rfc3164() {
        let r = ok("Nov 21 19:45:33 mx-a postfix/smtp[17062]: B9DAF99AB54: removed");
        assert_eq!(
            (r.timestamp_ns, r.host.as_str(), r.service.as_str()),
            (T0, "mx-a", "postfix/smtp")
        );
        assert_eq!(r.message, "B9DAF99AB54: removed");
        assert_eq!(r.source_id, None);
        let r = ok("<22>Nov 21 19:45:33 mx-a postfix-out/smtp[1]: hello");
        assert_eq!(
            (r.service.as_str(), r.message.as_str()),
            ("postfix-out/smtp", "hello")
        );
        let r = ok("Nov 21 19:45:33 mx-a postfix: no pid");
        assert_eq!(
            (r.service.as_str(), r.message.as_str()),
            ("postfix", "no pid")
        );
        let r = ok("Nov  1 01:02:03 mx-b exim[123]: 1xUr1i-0004Rc-0H Completed");
        assert_eq!(
            (r.service.as_str(), r.message.as_str()),
            ("exim", "1xUr1i-0004Rc-0H Completed")
        );
        assert_eq!(
            r.timestamp_ns,
            Zone::Fixed(0)
                .local_to_utc_ns(2026, 11, 1, 1, 2, 3, 0)
                .unwrap()
        );
        let r = ok("Nov 21 19:45:33.250 mx-a postfix/smtp[1]: x");
        assert_eq!(r.timestamp_ns, T0 + 250_000_000);
        // Multi-byte text after the tag survives.
        assert_eq!(
            ok("Nov 21 19:45:33 mx-a app[1]: grüße ✓").message,
            "grüße ✓"
        );
    }

    #[test]
    fn rfc3164_zone_from_context() {
        let c = SyslogContext {
            zone: Zone::Fixed(8 * 3600),
            now_ns: T0,
            ..Default::default()
        };
        let r = parse_line("Nov 22 03:45:33 mx-a postfix/smtp[1]: x", &c).unwrap();
        assert_eq!(r.timestamp_ns, T0);
    }

    #[test]
    fn year_inference() {
        let jan = Zone::Fixed(0)
            .local_to_utc_ns(2027, 1, 2, 0, 0, 0, 0)
            .unwrap();
        let c = SyslogContext {
            now_ns: jan,
            ..Default::default()
        };
        let r = parse_line("Dec 31 23:59:59 h a: m", &c).unwrap();
        assert_eq!(
            r.timestamp_ns,
            Zone::Fixed(0)
                .local_to_utc_ns(2026, 12, 31, 23, 59, 59, 0)
                .unwrap()
        );
        // Within one day of skew: still this year.
        let r = parse_line("Jan  2 23:00:00 h a: m", &c).unwrap();
        assert_eq!(
            r.timestamp_ns,
            Zone::Fixed(0)
                .local_to_utc_ns(2027, 1, 2, 23, 0, 0, 0)
                .unwrap()
        );
        // Feb 29 read in 2027 → 2024.
        let r = parse_line("Feb 29 12:00:00 h a: m", &c).unwrap();
        assert_eq!(
            r.timestamp_ns,
            Zone::Fixed(0)
                .local_to_utc_ns(2024, 2, 29, 12, 0, 0, 0)
                .unwrap()
        );
        // Forced year.
        let c2 = SyslogContext {
            year: Some(2020),
            ..c.clone()
        };
        let r = parse_line("Dec 31 23:59:59 h a: m", &c2).unwrap();
        assert_eq!(
            r.timestamp_ns,
            Zone::Fixed(0)
                .local_to_utc_ns(2020, 12, 31, 23, 59, 59, 0)
                .unwrap()
        );
        assert!(parse_line("Feb 29 12:00:00 h a: m", &c2).is_ok());
        let c3 = SyslogContext {
            year: Some(2026),
            ..c
        };
        assert_eq!(
            parse_line("Feb 29 12:00:00 h a: m", &c3),
            Err(FramingError::BadTimestamp)
        );
    }

    #[test]
    fn rfc5424() {
        let r =
            ok("<22>1 2026-11-21T19:45:33.123Z mx-a postfix/smtp 17062 - - B9DAF99AB54: removed");
        assert_eq!(
            (r.timestamp_ns, r.host.as_str(), r.service.as_str()),
            (T0 + 123_000_000, "mx-a", "postfix/smtp")
        );
        assert_eq!(r.message, "B9DAF99AB54: removed");
        let r = ok(
            r#"<22>1 2026-11-21T19:45:33Z mx-a exim 1 ID47 [ex@1 a="x\]y" b="q"][b@2 c="d"] 1xUr1i-0004Rc-0H Completed"#,
        );
        assert_eq!(
            (r.service.as_str(), r.message.as_str()),
            ("exim", "1xUr1i-0004Rc-0H Completed")
        );
        let r = ok("<22>1 2026-11-21T19:45:33Z mx-a app - - -");
        assert_eq!(r.message, "");
        let r = ok("<22>1 2026-11-21T19:45:33Z mx-a app - - - \u{feff}bom");
        assert_eq!(r.message, "bom");
        assert!(parse_line("<22>1 - mx-a app - - - x", &ctx()).is_err());
    }

    #[test]
    fn iso_traditional() {
        let r =
            ok("2026-11-22T03:45:33.123456+08:00 mx-a postfix/smtp[17062]: B9DAF99AB54: removed");
        assert_eq!(
            (r.timestamp_ns, r.host.as_str(), r.service.as_str()),
            (T0 + 123_456_000, "mx-a", "postfix/smtp")
        );
        assert_eq!(r.message, "B9DAF99AB54: removed");
        let r = ok("2026-11-21 19:45:33 mx-a postfix/smtp[17062]: x");
        assert_eq!(
            (r.host.as_str(), r.service.as_str()),
            ("mx-a", "postfix/smtp")
        );
    }

    #[test]
    fn exim_bare() {
        let c = SyslogContext {
            default_host: Some("mx-e".into()),
            ..ctx()
        };
        let r = parse_line("2026-11-21 19:45:33 1xUr1i-0004Rc-0H Completed QT=0s", &c).unwrap();
        assert_eq!(
            (r.timestamp_ns, r.host.as_str(), r.service.as_str()),
            (T0, "mx-e", "exim")
        );
        assert_eq!(r.message, "1xUr1i-0004Rc-0H Completed QT=0s");
        let r = ok("2026-11-21 19:45:33 [4242] 1xUr1i-0004Rc-0H Completed");
        assert_eq!(
            (r.host.as_str(), r.message.as_str()),
            ("localhost", "1xUr1i-0004Rc-0H Completed")
        );
        let r = ok("2026-11-21 20:45:33 +0100 [4242] 1xUr1i-0004Rc-0H Completed");
        assert_eq!(
            (r.timestamp_ns, r.message.as_str()),
            (T0, "1xUr1i-0004Rc-0H Completed")
        );
        let r = ok("2026-11-21 19:45:33.042 1xUr1i-0004Rc-0H Completed");
        assert_eq!(r.timestamp_ns, T0 + 42_000_000);
        let bz = SyslogContext {
            zone: Zone::Fixed(3600),
            ..ctx()
        };
        let r = parse_line("2026-11-21 14:45:33 -0500 x", &bz).unwrap();
        assert_eq!((r.timestamp_ns, r.message.as_str()), (T0, "x"));
        let r = parse_line("2026-11-21 20:45:33 x", &bz).unwrap();
        assert_eq!(r.timestamp_ns, T0);
    }

    #[test]
    fn errors() {
        let c = ctx();
        assert_eq!(parse_line("", &c), Err(FramingError::Empty));
        assert_eq!(parse_line("   \r\n", &c), Err(FramingError::Empty));
        assert_eq!(
            parse_line("=== Exim mainlog (hop E, 127.0.0.5)", &c),
            Err(FramingError::NotSyslog)
        );
        assert_eq!(
            parse_line("Foo 21 19:45:33 h a: m", &c),
            Err(FramingError::NotSyslog)
        );
        assert_eq!(
            parse_line("Nov 32 19:45:33 h a: m", &c),
            Err(FramingError::BadTimestamp)
        );
        assert_eq!(
            parse_line("Nov 21 19:45 h a: m", &c),
            Err(FramingError::BadTimestamp)
        );
        assert_eq!(
            parse_line("Nov 21 19:45:33 h", &c),
            Err(FramingError::MissingTag)
        );
        assert_eq!(
            parse_line("Nov 21 19:45:33 h -- MARK --", &c),
            Err(FramingError::MissingTag)
        );
        assert_eq!(
            parse_line("Nov 21 19:45:33  ", &c),
            Err(FramingError::MissingHost)
        );
        assert_eq!(
            parse_line("2026-13-21T19:45:33Z h a: m", &c),
            Err(FramingError::BadTimestamp)
        );
        assert_eq!(FramingError::NotSyslog.to_string(), "not a syslog line");
    }

    #[test]
    fn fixture_lines_frame() {
        let text = include_str!("../../tests/fixtures/chain-postfix-exim.log");
        let mut n = 0;
        for line in text.lines() {
            let r = parse_line(line, &ctx());
            if line.is_empty() || line.starts_with("===") {
                assert!(r.is_err(), "{line}");
                continue;
            }
            let r = r.unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(line.ends_with(&r.message), "{line}");
            assert!(!r.host.is_empty() && !r.service.is_empty(), "{line}");
            assert!(
                r.service.starts_with("postfix") || r.service == "exim",
                "{line}"
            );
            assert!(
                r.timestamp_ns > T0 - 3 * NS && r.timestamp_ns < T0 + 10 * NS,
                "{line}"
            );
            n += 1;
        }
        assert!(n > 130);
    }

    #[test]
    fn hostile_input_never_panics() {
        let c = ctx();
        let big = "Nov 21 19:45:33 h a[1]: ".to_string() + &"x<[(\"é".repeat(200_000);
        let seeds = [
            "Nov 21 19:45:33 mx-a postfix/smtp[17062]: to=<",
            "<22>1 2026-11-21T19:45:33.123Z mx-a app 1 - [a=\"\\",
            "2026-11-21T19:45:33.123456+08:00 host app[pid",
            "2026-11-21 19:45:34 +01",
            "2026-11-21 19:45:34 [12",
            "<999999>Nov 21",
            "<>",
            "<1",
            "\u{0}\u{1}\u{ff}\u{7f}",
            "Növ 21 19:45:33 h a: m",
            "Nov 21 1é:45:33 h a: m",
            "2026-11-21Té9:45:33Z",
            "Nov 21 19:45:33 h ✓[1]: é",
            big.as_str(),
        ];
        for s in seeds {
            let _ = parse_line(s, &c);
            for (i, _) in s.char_indices().take(400) {
                let _ = parse_line(&s[..i], &c);
                let _ = parse_line(&s[i..], &c);
            }
        }
        let _ = parse_line(
            &big,
            &SyslogContext {
                zone: Zone::parse("Europe/Berlin").unwrap(),
                now_ns: i64::MAX,
                ..c.clone()
            },
        );
        let _ = parse_line(
            "Nov 21 19:45:33 h a: m",
            &SyslogContext {
                now_ns: i64::MIN,
                ..c
            },
        );
    }
}
