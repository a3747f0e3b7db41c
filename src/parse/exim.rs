//! Exim message contents: the mainlog text after the timestamp becomes a `MailLine`.
//!
//! An Exim line is `MSGID FLAG address fields…` where fields are `KEY=value` tokens, values
//! may be quoted (`T="a subject"`), and `H=` spans several tokens (`H=name (helo) [ip]:port`).
//! Like the Postfix parser this scans bytes by hand: it sits on the hot path.

use super::event::{Arrival, Attempt, AttemptStatus, MailEvent, MailLine, Mta, Reject, Relay};
use super::postfix::{find_dsn, next_hop_id};
use crate::trace::ids::normalize_message_id;

/// Parse an Exim log message (starting with the message ID; an optional leading `[pid]` is
/// skipped). `None` for lines outside any message that are not rejections.
pub fn parse(message: &str) -> Option<MailLine> {
    let mut msg = message.trim();
    if msg.starts_with('[') {
        if let Some(close) = msg.find(']') {
            if close > 1 && msg[1..close].bytes().all(|c| c.is_ascii_digit()) {
                msg = msg[close + 1..].trim_start();
            }
        }
    }
    let (id, rest) = msg.split_once(' ').unwrap_or((msg, ""));
    if !is_message_id(id) {
        return parse_reject(msg).map(|r| MailLine {
            mta: Mta::Exim,
            queue_id: None,
            event: MailEvent::Reject(Box::new(r)),
        });
    }
    let event = if let Some(r) = rest.strip_prefix("<= ") {
        MailEvent::Arrival(Box::new(parse_arrival(r)))
    } else if let Some(r) = ["=> ", "-> ", ">> ", "*> "]
        .iter()
        .find_map(|f| rest.strip_prefix(f))
    {
        MailEvent::Attempt(Box::new(parse_delivery(r, AttemptStatus::Sent)))
    } else if let Some(r) = rest.strip_prefix("** ") {
        MailEvent::Attempt(Box::new(parse_delivery(r, AttemptStatus::Bounced)))
    } else if let Some(r) = rest.strip_prefix("== ") {
        MailEvent::Attempt(Box::new(parse_delivery(r, AttemptStatus::Deferred)))
    } else if rest == "Completed" || rest.starts_with("Completed ") {
        let queue_time_s = Tokens::new(&rest[9..])
            .find_map(|t| t.strip_prefix("QT="))
            .and_then(parse_exim_duration);
        MailEvent::Completed { queue_time_s }
    } else {
        MailEvent::Other
    };
    Some(MailLine {
        mta: Mta::Exim,
        queue_id: Some(id.to_string()),
        event,
    })
}

/// Classic `1xUr1i-0004Rc-0H` (6-6-2) or Exim 4.97+ long form `1xUr1i-00000004Rc-0Hab`
/// (6-11-4; a shorter middle part is tolerated).
pub fn is_message_id(id: &str) -> bool {
    let mut parts = id.split('-');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let alnum = |s: &str| s.bytes().all(|c| c.is_ascii_alphanumeric());
    a.len() == 6
        && (6..=11).contains(&b.len())
        && (2..=4).contains(&c.len())
        && alnum(a)
        && alnum(b)
        && alnum(c)
}

/// Space-separated tokens; a `KEY="…"` token runs to its closing quote (`\"` escapes).
struct Tokens<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Self {
        Tokens { s, pos: 0 }
    }

    /// Everything not yet consumed.
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("").trim_start_matches(' ')
    }

    fn peek(&self) -> Option<&'a str> {
        let mut t = Tokens {
            s: self.s,
            pos: self.pos,
        };
        t.next()
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.s.as_bytes();
        let mut i = self.pos;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if i >= b.len() {
            self.pos = b.len();
            return None;
        }
        let start = i;
        let mut quoted = false;
        while i < b.len() {
            match b[i] {
                b'"' if quoted => quoted = false,
                b'"' if i > start && b[i - 1] == b'=' => quoted = true,
                b'\\' if quoted => i += 1,
                b' ' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        let end = i.min(b.len());
        self.pos = end;
        Some(&self.s[start..end])
    }
}

/// `KEY=value` with a short alphanumeric key (`H`, `QT`, `id`); value unquoted.
fn key_value(tok: &str) -> Option<(&str, std::borrow::Cow<'_, str>)> {
    let eq = tok.find('=')?;
    let key = &tok[..eq];
    if key.is_empty() || key.len() > 8 || !key.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key, unquote(&tok[eq + 1..])))
}

fn unquote(v: &str) -> std::borrow::Cow<'_, str> {
    let Some(inner) = v.strip_prefix('"') else {
        return v.into();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    if !inner.contains('\\') {
        return inner.into();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// The rest of an `H=` value: tokens up to and including the bracketed address, stopping
/// early at the next field, the `for` list, or a trailing-colon error marker.
fn host_value<'a>(first: &'a str, toks: &mut Tokens<'a>, s: &'a str) -> &'a str {
    let start = first.as_ptr() as usize - s.as_ptr() as usize;
    let mut end = start + first.len();
    let mut done = first.starts_with('[') || first.ends_with(':');
    while !done {
        let Some(t) = toks.peek() else { break };
        if t == "for" || key_value(t).is_some() {
            break;
        }
        toks.next();
        end = t.as_ptr() as usize - s.as_ptr() as usize + t.len();
        done = t.starts_with('[') || t.ends_with(':');
    }
    &s[start..end]
}

fn parse_arrival(r: &str) -> Arrival {
    let mut a = Arrival::default();
    let mut toks = Tokens::new(r);
    if let Some(sender) = toks.next() {
        a.sender = if sender == "<>" {
            String::new()
        } else {
            sender.to_string()
        };
    }
    while let Some(t) = toks.next() {
        if t == "for" {
            a.recipients = toks.map(str::to_string).collect();
            break;
        }
        let Some((k, v)) = key_value(t) else { continue };
        match k {
            "H" => {
                let hv = host_value(&t[2..], &mut toks, r);
                a.client = Some(hv.to_string());
            }
            "S" => a.size = v.parse().ok(),
            "id" => a.message_id = normalize_message_id(&v),
            "RT" => a.receive_time_s = parse_exim_duration(&v),
            _ => {}
        }
    }
    a
}

fn parse_delivery(r: &str, status: AttemptStatus) -> Attempt {
    let mut a = Attempt {
        status: Some(status),
        ..Default::default()
    };
    let mut toks = Tokens::new(r);
    let mut error: Option<&str> = None;
    let colon = |t: &str| t.ends_with(':');
    if let Some(addr) = toks.next() {
        let addr_clean = addr.strip_suffix(':').unwrap_or(addr);
        a.recipients.push(addr_clean.to_string());
        if colon(addr) {
            error = Some(toks.rest());
        }
    }
    while error.is_none() {
        let Some(t) = toks.next() else { break };
        let Some((k, v)) = key_value(t) else {
            if t.starts_with('<') && a.orig_to.is_none() && a.relay.is_none() {
                let o = t.trim_end_matches(':');
                a.orig_to = Some(o.trim_start_matches('<').trim_end_matches('>').to_string());
            }
            if colon(t) {
                error = Some(toks.rest());
            }
            continue;
        };
        match k {
            "H" => {
                let hv = host_value(&t[2..], &mut toks, r);
                let clean = hv.strip_suffix(':').unwrap_or(hv);
                a.relay = Some(parse_host(clean));
                if hv.ends_with(':') {
                    error = Some(toks.rest());
                }
                continue;
            }
            "C" => {
                a.next_queue_id = next_hop_id(&v);
                a.dsn = find_dsn(&v).map(str::to_string);
                a.reply = Some(v.into_owned());
            }
            "QT" => a.queue_time_s = parse_exim_duration(&v),
            "DT" => a.deliver_time_s = parse_exim_duration(&v),
            _ => {}
        }
        if colon(t) && !t.contains('"') {
            error = Some(toks.rest());
        }
    }
    if let Some(e) = error.filter(|e| !e.is_empty()) {
        a.dsn = find_dsn(e).map(str::to_string);
        a.reply = Some(e.to_string());
    }
    a
}

/// `H=host [ip]:port` → relay; `H=[ip]` names the host by its address.
fn parse_host(hv: &str) -> Relay {
    let mut relay = Relay {
        raw: hv.to_string(),
        ..Default::default()
    };
    for t in hv.split(' ') {
        if let Some(inner) = t.strip_prefix('[') {
            let close = inner.rfind(']').unwrap_or(inner.len());
            relay.addr = Some(inner[..close].to_string());
            relay.port = inner
                .get(close + 1..)
                .and_then(|p| p.strip_prefix(':'))
                .and_then(|p| p.parse().ok());
        } else if relay.host.is_empty() && !t.starts_with('(') && !t.is_empty() {
            relay.host = t.to_string();
        }
    }
    if relay.host.is_empty() {
        relay.host = relay.addr.clone().unwrap_or_default();
    }
    relay
}

/// `H=(helo) [ip] F=<sender> rejected RCPT <rcpt>: reason` (also `temporarily rejected`,
/// and `MAIL`), the only Exim lines without a message ID that matter.
fn parse_reject(msg: &str) -> Option<Reject> {
    let (pos, stage) = [(" rejected RCPT ", "RCPT"), (" rejected MAIL ", "MAIL")]
        .iter()
        .find_map(|(pat, stage)| msg.find(pat).map(|i| (i + pat.len(), *stage)))?;
    let mut rej = Reject {
        stage: Some(stage.to_string()),
        ..Default::default()
    };
    let head = &msg[..pos];
    let mut toks = Tokens::new(head);
    while let Some(t) = toks.next() {
        match key_value(t) {
            Some(("H", _)) => rej.client = Some(host_value(&t[2..], &mut toks, head).to_string()),
            Some(("F", v)) => {
                rej.sender = Some(v.trim_start_matches('<').trim_end_matches('>').to_string())
            }
            _ => {}
        }
    }
    let tail = &msg[pos..];
    let (who, reason) = tail.split_once(": ").unwrap_or((tail, ""));
    let who = who.trim_start_matches('<').trim_end_matches('>');
    if stage == "RCPT" {
        rej.recipient = Some(who.to_string());
    }
    rej.dsn = find_dsn(reason).map(str::to_string);
    rej.reason = reason.to_string();
    Some(rej)
}

/// Exim durations: `0s`, `1m2s`, `1h2m3s`, `2d3h`, `1w2d`, `1.234s` (+millisec), a bare number
/// as seconds.
pub fn parse_exim_duration(s: &str) -> Option<f64> {
    let b = s.trim().as_bytes();
    if b.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        if i == start {
            return None;
        }
        // Only ASCII digits and dots, so this is valid UTF-8.
        let n: f64 = std::str::from_utf8(&b[start..i]).ok()?.parse().ok()?;
        let unit = match b.get(i) {
            None => 1.0,
            Some(b's') => 1.0,
            Some(b'm') => 60.0,
            Some(b'h') => 3600.0,
            Some(b'd') => 86_400.0,
            Some(b'w') => 604_800.0,
            Some(_) => return None,
        };
        total += n * unit;
        i += 1;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(msg: &str) -> MailLine {
        parse(msg).unwrap_or_else(|| panic!("None for {msg}"))
    }

    fn attempt(msg: &str) -> Attempt {
        match p(msg).event {
            MailEvent::Attempt(a) => *a,
            e => panic!("{msg}: {e:?}"),
        }
    }

    fn arrival(msg: &str) -> Arrival {
        match p(msg).event {
            MailEvent::Arrival(a) => *a,
            e => panic!("{msg}: {e:?}"),
        }
    }

    #[test]
    fn message_ids() {
        assert!(is_message_id("1xUr1i-0004Rc-0H"));
        assert!(is_message_id("1xUr1i-00000004Rc-0Hab"));
        assert!(is_message_id("1rUzbI-000000005Sd-3hjZ"));
        for bad in [
            "1xUr1i-0004Rc-0",
            "SMTP",
            "1xUr1i_0004Rc-0H",
            "1xUr1i-0004Rc-0H-",
            "1xUr1é-004Rc-0H",
            "",
        ] {
            assert!(!is_message_id(bad), "{bad}");
        }
    }

    #[test]
    fn fixture_arrival() {
        let l = p("1xUr1i-0004Rc-0H <= sender@src.example.test H=(mx-a.example.test) [127.0.0.2] P=esmtp S=648 id=20261121194534.017087@vm T=\"via exim\" for alice@dest2.example.test");
        assert_eq!(
            (l.mta, l.queue_id.as_deref()),
            (Mta::Exim, Some("1xUr1i-0004Rc-0H"))
        );
        let MailEvent::Arrival(a) = l.event else {
            panic!()
        };
        assert_eq!(
            *a,
            Arrival {
                sender: "sender@src.example.test".into(),
                client: Some("(mx-a.example.test) [127.0.0.2]".into()),
                size: Some(648),
                message_id: Some("20261121194534.017087@vm".into()),
                recipients: vec!["alice@dest2.example.test".into()],
                receive_time_s: None,
            }
        );
    }

    #[test]
    fn odd_arrivals() {
        let a = arrival("1xUr1i-00000004Rc-0Hab <= <> H=mx.x.test (helo.x.test) [192.0.2.1]:46321 I=[192.0.2.5]:25 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S=12345 M8S=0 RT=1.234s id=<CA+abc=def/ghi@mail.gmail.test> T=\"Re: for you = \\\"quoted\\\" for all\" from <> for a@x.test b@x.test c@y.test");
        assert_eq!(a.sender, "");
        assert_eq!(
            a.client.as_deref(),
            Some("mx.x.test (helo.x.test) [192.0.2.1]:46321")
        );
        assert_eq!(a.size, Some(12345));
        assert_eq!(
            a.message_id.as_deref(),
            Some("CA+abc=def/ghi@mail.gmail.test")
        );
        assert_eq!(a.receive_time_s, Some(1.234));
        assert_eq!(a.recipients, vec!["a@x.test", "b@x.test", "c@y.test"]);
        let a = arrival(
            "[4242] 1xUr1i-0004Rc-0H <= root@host U=root P=local S=300 id=E1xUr1i-0004Rc-0H@host",
        );
        assert_eq!(
            (a.client, a.message_id.as_deref(), a.recipients.len()),
            (None, Some("E1xUr1i-0004Rc-0H@host"), 0)
        );
    }

    #[test]
    fn fixture_delivery_and_completed() {
        let a = attempt("1xUr1i-0004Rc-0H => alice@dest2.example.test F=<sender@src.example.test> R=to_postfix_c T=remote_smtp S=667 H=127.0.0.4 [127.0.0.4] K C=\"250 2.0.0 Ok: 667 bytes queued as 1ADB099AB7D\" QT=0s DT=0s");
        assert_eq!(a.recipients, vec!["alice@dest2.example.test"]);
        assert_eq!(a.status, Some(AttemptStatus::Sent));
        assert_eq!(
            a.relay,
            Some(Relay {
                raw: "127.0.0.4 [127.0.0.4]".into(),
                host: "127.0.0.4".into(),
                addr: Some("127.0.0.4".into()),
                port: None
            })
        );
        assert_eq!(
            a.reply.as_deref(),
            Some("250 2.0.0 Ok: 667 bytes queued as 1ADB099AB7D")
        );
        assert_eq!(a.next_queue_id.as_deref(), Some("1ADB099AB7D"));
        assert_eq!(a.dsn.as_deref(), Some("2.0.0"));
        assert_eq!((a.queue_time_s, a.deliver_time_s), (Some(0.0), Some(0.0)));
        assert_eq!(
            p("1xUr1i-0004Rc-0H Completed QT=0s").event,
            MailEvent::Completed {
                queue_time_s: Some(0.0)
            }
        );
        assert_eq!(
            p("1xUr1i-0004Rc-0H Completed").event,
            MailEvent::Completed { queue_time_s: None }
        );
    }

    #[test]
    fn odd_deliveries() {
        let a = attempt(
            "1xUr1i-0004Rc-0H => bob <bob@x.test> R=localuser T=local_delivery QT=1m2s DT=1.5s",
        );
        assert_eq!(
            (a.recipients[0].as_str(), a.orig_to.as_deref(), a.relay),
            ("bob", Some("bob@x.test"), None)
        );
        assert_eq!((a.queue_time_s, a.deliver_time_s), (Some(62.0), Some(1.5)));
        let a = attempt("1xUr1i-0004Rc-0H -> carol@x.test R=dnslookup T=remote_smtp H=mx.x.test [2001:db8::25]:25 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes DN=\"CN=mx.x.test\" C=\"250 OK id=1xUr2j-0005Sd-1I\"");
        assert_eq!(
            a.relay
                .as_ref()
                .map(|r| (r.host.as_str(), r.addr.as_deref(), r.port)),
            Some(("mx.x.test", Some("2001:db8::25"), Some(25)))
        );
        assert_eq!(a.next_queue_id.as_deref(), Some("1xUr2j-0005Sd-1I"));
        let a = attempt(
            "1xUr1i-0004Rc-0H *> dave@x.test R=dnslookup T=remote_smtp H=mx.x.test [192.0.2.1]",
        );
        assert_eq!(a.status, Some(AttemptStatus::Sent));
        let a = attempt("1xUr1i-0004Rc-0H => x@y.test R=r T=t H=[192.0.2.9]:587 C=\"250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 3F2C11A04D\"");
        assert_eq!(
            (
                a.relay.as_ref().map(|r| r.host.as_str()),
                a.next_queue_id.as_deref()
            ),
            (Some("192.0.2.9"), Some("3F2C11A04D"))
        );
    }

    #[test]
    fn failures_and_deferrals() {
        let a = attempt("1xUr1i-0004Rc-0H ** bad@x.test R=dnslookup T=remote_smtp H=mx.x.test [192.0.2.1] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes: SMTP error from remote mail server after RCPT TO:<bad@x.test>: 550 5.1.1 <bad@x.test>: Recipient address rejected: User unknown");
        assert_eq!(a.status, Some(AttemptStatus::Bounced));
        assert_eq!(a.reply.as_deref(), Some("SMTP error from remote mail server after RCPT TO:<bad@x.test>: 550 5.1.1 <bad@x.test>: Recipient address rejected: User unknown"));
        assert_eq!(a.dsn.as_deref(), Some("5.1.1"));
        assert_eq!(a.relay.as_ref().map(|r| r.host.as_str()), Some("mx.x.test"));
        let a = attempt("1xUr1i-0004Rc-0H ** bad@x.test R=dnslookup T=remote_smtp H=mx.x.test [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<bad@x.test>: 550 no such user");
        assert_eq!(
            (a.relay.as_ref().and_then(|r| r.addr.as_deref()), a.dsn),
            (Some("192.0.2.1"), None)
        );
        assert_eq!(
            a.reply.as_deref(),
            Some("SMTP error from remote mail server after RCPT TO:<bad@x.test>: 550 no such user")
        );
        let a = attempt("1xUr1i-0004Rc-0H ** nobody@x.test: Unrouteable address");
        assert_eq!(
            (a.recipients[0].as_str(), a.reply.as_deref()),
            ("nobody@x.test", Some("Unrouteable address"))
        );
        let a = attempt("1xUr1i-0004Rc-0H ** bad@x.test <orig@x.test>: Unrouteable address");
        assert_eq!(a.orig_to.as_deref(), Some("orig@x.test"));
        let a = attempt("1xUr1i-0004Rc-0H == grey@x.test R=dnslookup T=remote_smtp defer (-44) H=mx.x.test [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<grey@x.test>: 451 4.7.1 Greylisted (try again later)");
        assert_eq!(
            (a.status, a.dsn.as_deref()),
            (Some(AttemptStatus::Deferred), Some("4.7.1"))
        );
        assert_eq!(a.reply.as_deref(), Some("SMTP error from remote mail server after RCPT TO:<grey@x.test>: 451 4.7.1 Greylisted (try again later)"));
        let a =
            attempt("1xUr1i-0004Rc-0H == late@x.test routing defer (-51): retry time not reached");
        assert_eq!(a.reply.as_deref(), Some("retry time not reached"));
    }

    #[test]
    fn non_message_lines() {
        for s in [
            "exim 4.96 daemon started: pid=17038, -q30s, listening for SMTP on [127.0.0.5]:25",
            "exim user lost privilege for using -C option",
            "Start queue run: pid=17057",
            "End queue run: pid=17057",
            "SMTP connection from [127.0.0.2] (TCP/IP connection count = 1)",
            "SMTP connection from (mx-a.example.test) [127.0.0.2] closed by QUIT",
            "",
            "[",
        ] {
            assert_eq!(parse(s), None, "{s}");
        }
        assert_eq!(
            p("1xUr1i-0004Rc-0H SMTP error from remote mail server after end of data: 451 later")
                .event,
            MailEvent::Other
        );
        assert_eq!(p("1xUr1i-0004Rc-0H Frozen").event, MailEvent::Other);
    }

    #[test]
    fn rejects() {
        let l = p("H=(bot.x.test) [192.0.2.66] F=<spam@bot.test> rejected RCPT <user@x.test>: relay not permitted");
        assert_eq!(l.queue_id, None);
        assert_eq!(
            l.event,
            MailEvent::Reject(Box::new(Reject {
                stage: Some("RCPT".into()),
                client: Some("(bot.x.test) [192.0.2.66]".into()),
                code: None,
                dsn: None,
                reason: "relay not permitted".into(),
                sender: Some("spam@bot.test".into()),
                recipient: Some("user@x.test".into()),
            }))
        );
    }

    #[test]
    fn durations() {
        for (s, v) in [
            ("0s", 0.0),
            ("1m2s", 62.0),
            ("1h2m3s", 3723.0),
            ("2d3h", 183_600.0),
            ("1.234s", 1.234),
            ("1w2d", 777_600.0),
            ("5", 5.0),
            ("45s", 45.0),
        ] {
            assert_eq!(parse_exim_duration(s), Some(v), "{s}");
        }
        for s in ["", "s", "1x", "-1s", "1..2s", "ms"] {
            assert!(parse_exim_duration(s).is_none(), "{s}");
        }
    }
}
