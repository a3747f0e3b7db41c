//! Pure parsers: syslog framing (`syslog`), time zones and timestamps (`time`), and the
//! message contents of Postfix (`postfix`) and Exim (`exim`). No I/O anywhere below here.

pub mod event;
pub mod exim;
pub mod postfix;
pub mod syslog;
pub mod time;

pub use event::*;

use crate::record::{FieldHints, RecordRef};

/// Parse a record's message according to its service (`postfix/*` → Postfix, `exim*` → Exim).
/// `None`: the line is not part of any queue file and not a rejection (connect/disconnect,
/// daemon notices, other programs) — the caller counts it as noise.
///
/// Structured hints from the source win over parsing: `queue_id` (unless empty or `NOQUEUE`),
/// `queued_as` (an attempt's next hop), `relay_host`/`relay_ip`/`relay_port`. A line the parser
/// does not model but whose hint names a queue ID still belongs to that hop (`Other`).
/// `message_id` hints are left to the correlator.
pub fn parse_record<'a>(rec: impl Into<RecordRef<'a>>) -> Option<MailLine> {
    let rec = rec.into();
    let svc = rec.service;
    let mta = if svc.starts_with("postfix") {
        Mta::Postfix
    } else if svc.starts_with("exim") {
        Mta::Exim
    } else {
        return None;
    };
    let parsed = match mta {
        Mta::Postfix => postfix::parse(svc, rec.message),
        Mta::Exim => exim::parse(rec.message),
    };
    let h = rec.hints;
    if h.is_empty() {
        return parsed;
    }
    let hint_qid = h
        .queue_id
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty() && *q != "NOQUEUE");
    let mut line = match parsed {
        Some(l) => l,
        None => MailLine {
            mta,
            queue_id: Some(hint_qid?.to_string()),
            event: MailEvent::Other,
        },
    };
    if let Some(q) = hint_qid {
        line.queue_id = Some(q.to_string());
    }
    if let MailEvent::Attempt(a) = &mut line.event {
        if let Some(q) = h
            .queued_as
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
        {
            a.next_queue_id = Some(q.to_string());
        }
        apply_relay_hints(a, h);
    }
    Some(line)
}

fn apply_relay_hints(a: &mut Attempt, h: &FieldHints) {
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (host, ip, port) = (
        nonempty(&h.relay_host),
        nonempty(&h.relay_ip),
        nonempty(&h.relay_port),
    );
    if host.is_none() && ip.is_none() && port.is_none() {
        return;
    }
    let created = a.relay.is_none();
    let r = a.relay.get_or_insert_with(Relay::default);
    if let Some(host) = host {
        r.host = host;
    }
    if ip.is_some() {
        r.addr = ip;
    }
    if let Some(p) = port.and_then(|p| p.parse().ok()) {
        r.port = Some(p);
    }
    if created {
        r.raw = match (&r.addr, r.port) {
            (Some(addr), Some(p)) => format!("{}[{addr}]:{p}", r.host),
            (Some(addr), None) => format!("{}[{addr}]", r.host),
            (None, _) => r.host.clone(),
        };
        if r.host.is_empty() {
            r.host = r.addr.clone().unwrap_or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LogRecord;

    fn rec(service: &str, message: &str) -> LogRecord {
        LogRecord {
            service: service.into(),
            message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn dispatch() {
        assert_eq!(
            parse_record(&rec("postfix/qmgr", "B9DAF99AB54: removed")).map(|l| l.mta),
            Some(Mta::Postfix)
        );
        assert_eq!(
            parse_record(&rec("postfix-out/qmgr", "B9DAF99AB54: removed")).map(|l| l.mta),
            Some(Mta::Postfix)
        );
        assert_eq!(
            parse_record(&rec("exim", "1xUr1i-0004Rc-0H Completed")).map(|l| l.mta),
            Some(Mta::Exim)
        );
        assert_eq!(
            parse_record(&rec("exim4", "1xUr1i-0004Rc-0H Completed")).map(|l| l.mta),
            Some(Mta::Exim)
        );
        assert_eq!(parse_record(&rec("dovecot", "B9DAF99AB54: removed")), None);
        assert_eq!(
            parse_record(&rec("postfix/smtpd", "connect from x[1.2.3.4]")),
            None
        );
    }

    #[test]
    fn hints_win() {
        let mut r = rec("postfix/smtp", "4jX3T01nHvz1Wjpx: to=<a@b>, relay=none, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
        r.hints = FieldHints {
            queue_id: Some("4jX3T01nHvz1WjpxLONG".into()),
            queued_as: Some("C3EF499AB57".into()),
            message_id: Some("ignored@x".into()),
            relay_host: Some("relay1".into()),
            relay_ip: Some("10.0.1.30".into()),
            relay_port: Some("25".into()),
            smtp_code: Some("250".into()),
        }
        .into();
        let l = parse_record(&r).unwrap();
        assert_eq!(l.queue_id.as_deref(), Some("4jX3T01nHvz1WjpxLONG"));
        let MailEvent::Attempt(a) = l.event else {
            panic!()
        };
        assert_eq!(a.next_queue_id.as_deref(), Some("C3EF499AB57"));
        assert_eq!(
            a.relay,
            Some(Relay {
                raw: "none".into(),
                host: "relay1".into(),
                addr: Some("10.0.1.30".into()),
                port: Some(25)
            })
        );

        let mut r = rec(
            "postfix/smtp",
            "B9DAF99AB54: to=<a@b>, dsn=2.0.0, status=sent (250 ok)",
        );
        r.hints.relay_ip = Some("10.0.1.30".into());
        r.hints.relay_port = Some("25".into());
        let MailEvent::Attempt(a) = parse_record(&r).unwrap().event else {
            panic!()
        };
        assert_eq!(
            a.relay,
            Some(Relay {
                raw: "[10.0.1.30]:25".into(),
                host: "10.0.1.30".into(),
                addr: Some("10.0.1.30".into()),
                port: Some(25)
            })
        );

        let mut r = rec("postfix/smtpd", "NOQUEUE: reject: RCPT from x[1.2.3.4]: 550 5.1.1 <a@b>: no; from=<c@d> to=<a@b> proto=ESMTP helo=<x>");
        r.hints.queue_id = Some("NOQUEUE".into());
        assert_eq!(parse_record(&r).unwrap().queue_id, None);

        // An unmodelled line still joins the hop the hint names.
        let mut r = rec("postfix/smtp", "something new entirely");
        r.hints.queue_id = Some("B9DAF99AB54".into());
        assert_eq!(
            parse_record(&r),
            Some(MailLine {
                mta: Mta::Postfix,
                queue_id: Some("B9DAF99AB54".into()),
                event: MailEvent::Other
            })
        );
        r.hints.queue_id = Some(String::new());
        assert_eq!(parse_record(&r), None);
    }

    fn frame_all(text: &str) -> Vec<LogRecord> {
        let ctx = syslog::SyslogContext {
            now_ns: i64::MAX / 2,
            year: Some(2026),
            ..Default::default()
        };
        text.lines()
            .map(|l| syslog::parse_line(l, &ctx).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

    #[test]
    fn odd_lines_fixture() {
        let recs = frame_all(include_str!("../../tests/fixtures/odd-lines.log"));
        let mut kinds = std::collections::BTreeMap::new();
        for r in &recs {
            assert!(r.host == "mx-a" || r.host == "mx-b", "{r:?}");
            let parsed = parse_record(r);
            let noise = [
                "connect from",
                "disconnect from",
                "statistics:",
                "daemon started",
                "stopping",
            ];
            if noise.iter().any(|n| r.message.starts_with(n)) {
                assert_eq!(parsed, None, "{}", r.message);
                continue;
            }
            let l = parsed.unwrap_or_else(|| panic!("None for {}", r.message));
            let kind = match &l.event {
                MailEvent::Attempt(a) => {
                    format!("attempt-{}", a.status.map_or("none", |s| s.as_str()))
                }
                e => format!("{e:?}")
                    .split(['(', ' '])
                    .next()
                    .unwrap()
                    .to_string(),
            };
            *kinds.entry(kind).or_insert(0) += 1;
            match &l.event {
                MailEvent::Reject(_) => {}
                _ => assert!(l.queue_id.is_some(), "{}", r.message),
            }
            if let MailEvent::Attempt(a) = &l.event {
                if r.message.contains("queued as") || r.message.contains("OK id=") {
                    assert!(a.next_queue_id.is_some(), "{}", r.message);
                }
            }
        }
        let get = |k: &str| kinds.get(k).copied().unwrap_or(0);
        assert_eq!(get("attempt-sent"), 14, "{kinds:?}");
        assert_eq!(get("attempt-deferred"), 3, "{kinds:?}");
        assert_eq!(get("attempt-bounced"), 2, "{kinds:?}");
        assert_eq!(get("attempt-expired"), 1, "{kinds:?}");
        assert_eq!(get("Reject"), 3, "{kinds:?}");
        assert_eq!(get("Arrival"), 3, "{kinds:?}");
        assert_eq!(get("Completed"), 3, "{kinds:?}");
        assert_eq!(get("Notification"), 2, "{kinds:?}");
        assert_eq!(get("Other"), 3, "{kinds:?}");
        // The bare Message-ID on the Postfix side matches Exim's `id=`.
        let mids: Vec<_> = recs
            .iter()
            .filter_map(parse_record)
            .filter_map(|l| match l.event {
                MailEvent::MessageId(m) => m,
                MailEvent::Arrival(a) => a.message_id,
                _ => None,
            })
            .filter(|m| m.starts_with("CA+x"))
            .collect();
        assert_eq!(mids, vec!["CA+x=y/z@mail.example.test"; 2]);
    }

    #[test]
    fn chain_fixture_parses() {
        let text = include_str!("../../tests/fixtures/chain-postfix-exim.log");
        let ctx = syslog::SyslogContext {
            now_ns: i64::MAX / 2,
            default_host: Some("mx-e".into()),
            ..Default::default()
        };
        let lines: Vec<_> = text
            .lines()
            .filter_map(|l| syslog::parse_line(l, &ctx).ok())
            .filter_map(|r| parse_record(&r))
            .collect();
        let exim: Vec<_> = lines.iter().filter(|l| l.mta == Mta::Exim).collect();
        assert_eq!(exim.len(), 3);
        assert!(lines.iter().all(|l| l.event != MailEvent::Other));
    }

    /// Garbage of every kind through every parser: nothing may panic.
    #[test]
    fn hostile_input_never_panics() {
        let big = "B9DAF99AB54: to=<".to_string() + &"é(<[\"=".repeat(170_000);
        let seeds: Vec<String> = vec![
            "B9DAF99AB54: to=<".into(),
            "B9DAF99AB54: to=<a@b>, relay=x[, delay=, delays=1/2/3/4/5, dsn=, status=".into(),
            "B9DAF99AB54: to=<a@b>, relay=]x[:99999, status=sent ((((((".into(),
            "B9DAF99AB54: to=<a@b>, status=sent )))) queued as".into(),
            "B9DAF99AB54: client=".into(),
            "B9DAF99AB54: message-id=<".into(),
            "B9DAF99AB54: from=<".into(),
            "B9DAF99AB54: reject: ".into(),
            "B9DAF99AB54: reject: RCPT from ; from=<".into(),
            "NOQUEUE: reject: RCPT from x: ; from=< to=< helo=<: ".into(),
            "NOQUEUE: milter-reject: header from ; proto=".into(),
            "4jX3T01nHvz1Wjpx: sender non-delivery notification: ".into(),
            "warning: 4jX3T01nHvz1Wjpx:".into(),
            "1xUr1i-0004Rc-0H <= ".into(),
            "1xUr1i-0004Rc-0H <= a H=".into(),
            "1xUr1i-0004Rc-0H <= a H=( [ for".into(),
            "1xUr1i-0004Rc-0H => a H=h [x]: C=\"\\".into(),
            "1xUr1i-0004Rc-0H ** a <".into(),
            "1xUr1i-0004Rc-0H == : : :".into(),
            "1xUr1i-0004Rc-0H => a T=\"é C=\"250 queued as é".into(),
            "1xUr1i-0004Rc-0H Completed QT=1é".into(),
            "[1 1xUr1i-0004Rc-0H".into(),
            "[] H=x rejected RCPT ".into(),
            "H= F=< rejected MAIL : ".into(),
            "\u{0}\u{1}\u{7f}\u{fffd}\u{10ffff}".into(),
            "ßßß: ✓✓✓: 日本語".into(),
            big,
        ];
        let ctx = syslog::SyslogContext::default();
        let run = |m: &str| {
            let _ = postfix::parse("postfix/smtp", m);
            let _ = exim::parse(m);
            let _ = exim::parse_exim_duration(m);
            let _ = time::Zone::parse(m);
            let _ = time::parse_iso8601(m, &time::Zone::Fixed(0));
            let _ = syslog::parse_line(m, &ctx);
            let mut rec = LogRecord {
                service: "postfix/smtp".into(),
                message: m.into(),
                ..Default::default()
            };
            rec.hints.relay_port = Some(m.into());
            rec.hints.queue_id = Some(m.into());
            let _ = parse_record(&rec);
            rec.service = "exim".into();
            let _ = parse_record(&rec);
            let _ = syslog::parse_line(&format!("Nov 21 19:45:33 h postfix/smtp[1]: {m}"), &ctx);
        };
        for s in &seeds {
            run(s);
            // The 1 MB line is cut at a few multi-byte positions only, to keep the test quick.
            let n = if s.len() > 10_000 { 8 } else { 300 };
            let cuts: Vec<usize> = s.char_indices().map(|(i, _)| i).take(n).collect();
            for i in cuts {
                run(&s[..i]);
                run(&s[i..]);
            }
        }
        // Pseudo-random bytes (lossy-decoded, as the caller does).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"B9DAF1xUr-0:<>[]()=\" ,.;/\\ abcz\xc3\xa9\xff"[(x % 34) as usize]
                })
                .collect();
            run(&String::from_utf8_lossy(&bytes));
        }
    }

    /// Throughput of framing + parsing on the fixtures; run with
    /// `cargo test --release --lib parse::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let text = [
            include_str!("../../tests/fixtures/chain-postfix-exim.log"),
            include_str!("../../tests/fixtures/odd-lines.log"),
        ]
        .concat();
        let lines: Vec<&str> = text.lines().collect();
        let ctx = syslog::SyslogContext {
            now_ns: 1_800_000_000_000_000_000,
            ..Default::default()
        };
        let start = std::time::Instant::now();
        let mut n = 0u64;
        let mut hits = 0u64;
        while start.elapsed().as_secs_f64() < 2.0 {
            for l in &lines {
                if let Ok(r) = syslog::parse_line(l, &ctx) {
                    hits += parse_record(&r).is_some() as u64;
                }
                n += 1;
            }
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("frame+parse: {rate:.0} lines/s ({hits} parsed)");
        let recs: Vec<LogRecord> = lines
            .iter()
            .filter_map(|l| syslog::parse_line(l, &ctx).ok())
            .collect();
        let start = std::time::Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < 1.0 {
            for r in &recs {
                hits += parse_record(r).is_some() as u64;
                n += 1;
            }
        }
        println!(
            "parse only: {:.0} lines/s",
            n as f64 / start.elapsed().as_secs_f64()
        );
        let start = std::time::Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < 1.0 {
            for l in &lines {
                hits += syslog::parse_line(l, &ctx).is_ok() as u64;
                n += 1;
            }
        }
        println!(
            "frame only: {:.0} lines/s ({hits})",
            n as f64 / start.elapsed().as_secs_f64()
        );
    }
}
