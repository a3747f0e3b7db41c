//! Pure parsers: syslog framing (`syslog`), time zones and timestamps (`time`), and the
//! message contents of Postfix (`postfix`) and Exim (`exim`). No I/O anywhere below here.

pub mod event;
pub mod exim;
pub mod postfix;
pub mod syslog;
pub mod time;

pub use event::*;

use crate::record::{FieldHints, LogRecord};

/// Parse a record's message according to its service (`postfix/*` → Postfix, `exim*` → Exim).
/// `None`: the line is not part of any queue file and not a rejection (connect/disconnect,
/// daemon notices, other programs) — the caller counts it as noise.
///
/// Structured hints from the source win over parsing: `queue_id` (unless empty or `NOQUEUE`),
/// `queued_as` (an attempt's next hop), `relay_host`/`relay_ip`/`relay_port`. A line the parser
/// does not model but whose hint names a queue ID still belongs to that hop (`Other`).
/// `message_id` hints are left to the correlator.
pub fn parse_record(rec: &LogRecord) -> Option<MailLine> {
    let svc = rec.service.as_str();
    let mta = if svc.starts_with("postfix") {
        Mta::Postfix
    } else if svc.starts_with("exim") {
        Mta::Exim
    } else {
        return None;
    };
    let parsed = match mta {
        Mta::Postfix => postfix::parse(svc, &rec.message),
        Mta::Exim => exim::parse(&rec.message),
    };
    let h = &rec.hints;
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
        };
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
}
