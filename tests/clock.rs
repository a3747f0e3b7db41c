//! Time on real mail servers: RFC 3164 lines carry no year (a message may cross New Year),
//! local zones have DST, and host clocks disagree by minutes.

use std::path::Path;

use mailtrace::correlate::{Correlator, CorrelatorConfig, Message};
use mailtrace::parse::syslog::{parse_line, SyslogContext};
use mailtrace::parse::time::Zone;
use mailtrace::trace::model::{build_spans, ModelOptions};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

const S: i64 = 1_000_000_000;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Zone::parse("UTC")
        .unwrap()
        .local_to_utc_ns(y, mo, d, h, mi, s, 0)
        .unwrap()
}

fn correlate(lines: &[String], ctx: &SyslogContext) -> Vec<Message> {
    let mut c = Correlator::new(CorrelatorConfig::default());
    for l in lines {
        c.ingest(&parse_line(l, ctx).unwrap());
    }
    c.drain()
}

fn attr_f64(s: &opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<f64> {
    s.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::DoubleValue(v) => Some(*v),
            _ => None,
        }
    })
}

#[test]
fn a_message_across_new_year_lasts_seconds_not_a_year() {
    let lines: Vec<String> = [
        "Dec 31 23:59:59 mx-a postfix/smtpd[1]: 0A1B2C3D4E: client=unknown[127.0.0.1]",
        "Dec 31 23:59:59 mx-a postfix/cleanup[2]: 0A1B2C3D4E: message-id=<newyear@x>",
        "Dec 31 23:59:59 mx-a postfix/qmgr[3]: 0A1B2C3D4E: from=<a@x>, size=1, nrcpt=1 (queue active)",
        "Jan  1 00:00:01 mx-a postfix/smtp[4]: 0A1B2C3D4E: to=<b@y>, relay=local, delay=2, delays=0/0/0/2, dsn=2.0.0, status=sent (ok)",
        "Jan  1 00:00:01 mx-a postfix/qmgr[3]: 0A1B2C3D4E: removed",
    ]
    .map(String::from)
    .to_vec();
    // Read five minutes into the new year: December is last year's.
    let ctx = SyslogContext {
        now_ns: utc(2027, 1, 1, 0, 5, 0),
        ..SyslogContext::default()
    };
    let msgs = correlate(&lines, &ctx);
    assert_eq!(msgs.len(), 1);
    let hop = &msgs[0].hops[0];
    assert_eq!(hop.first_ns, utc(2026, 12, 31, 23, 59, 59));
    assert_eq!(hop.last_ns - hop.first_ns, 2 * S);
    let spans = build_spans(&msgs[0], &ModelOptions::default());
    let root = &spans[0].span;
    let length = root.end_time_unix_nano - root.start_time_unix_nano;
    assert!((2 * S as u64..3 * S as u64).contains(&length), "{length}");
}

#[test]
fn local_times_in_a_dst_zone_convert_as_documented() {
    let ctx = SyslogContext {
        zone: Zone::parse("Europe/Berlin").unwrap(),
        year: Some(2026),
        ..SyslogContext::default()
    };
    let at = |stamp: &str| {
        parse_line(&format!("{stamp} mx-a postfix/qmgr[1]: x"), &ctx)
            .unwrap()
            .timestamp_ns
    };
    // Winter (CET, +01:00) and summer (CEST, +02:00).
    assert_eq!(at("Jan 15 12:00:00"), utc(2026, 1, 15, 11, 0, 0));
    assert_eq!(at("Jul 15 12:00:00"), utc(2026, 7, 15, 10, 0, 0));
    // 02:30 on 29 March does not exist (clocks jump 02:00 → 03:00): read as 03:30 CEST.
    assert_eq!(at("Mar 29 02:30:00"), utc(2026, 3, 29, 1, 30, 0));
    // 02:30 on 25 October happens twice: the earlier one (CEST) is taken.
    assert_eq!(at("Oct 25 02:30:00"), utc(2026, 10, 25, 0, 30, 0));
    // Time keeps moving forward across the spring gap.
    assert!(at("Mar 29 01:59:59") < at("Mar 29 03:00:00"));
}

#[test]
fn a_host_clock_minutes_behind_is_noted_on_its_hop() {
    // The chain fixture with mx-b's clock three minutes behind.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chain-postfix-exim.log"),
    )
    .unwrap();
    let ctx = SyslogContext {
        year: Some(2026),
        default_host: Some("mx-e".into()),
        ..SyslogContext::default()
    };
    let mut c = Correlator::new(CorrelatorConfig::default());
    for l in text.lines() {
        if let Ok(mut rec) = parse_line(l, &ctx) {
            if rec.host == "mx-b" {
                rec.timestamp_ns -= 180 * S;
            }
            c.ingest(&rec);
        }
    }
    let msgs = c.drain();
    let m = msgs
        .iter()
        .find(|m| m.message_id == "20261121194533.017056@vm")
        .unwrap();
    let spans = build_spans(m, &ModelOptions::default());
    let hop = |q: &str| {
        spans
            .iter()
            .find(|s| {
                s.span.name.starts_with("postfix")
                    && s.span.attributes.iter().any(|kv| {
                        kv.key == "email.queue_id"
                            && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(x)) if x == q)
                    })
            })
            .unwrap()
    };
    // The hops are still linked by queue ID, whatever the clocks say.
    let (a, b, c) = (hop("B9DAF99AB54"), hop("C3EF499AB57"), hop("CDC5299AB5B"));
    assert_eq!(b.span.parent_span_id, a.span.span_id);
    assert_eq!(c.span.parent_span_id, b.span.span_id);
    // mx-b is behind mx-a by about 180 s; mx-c, on the right time, looks 180 s ahead of mx-b.
    let skew_b = attr_f64(&b.span, "email.clock_skew_seconds").expect("skew noted on mx-b");
    let skew_c = attr_f64(&c.span, "email.clock_skew_seconds").expect("skew noted on mx-c");
    assert!((-181.0..=-179.0).contains(&skew_b), "{skew_b}");
    assert!((179.0..=181.0).contains(&skew_c), "{skew_c}");
    assert!(attr_f64(&a.span, "email.clock_skew_seconds").is_none());
    // The root still spans everything, so the trace view stays readable.
    let root = &spans[0].span;
    for s in &spans {
        assert!(s.span.start_time_unix_nano >= root.start_time_unix_nano);
        assert!(s.span.end_time_unix_nano <= root.end_time_unix_nano);
    }
    // Without skew there is no such attribute anywhere.
    let mut c2 = Correlator::new(CorrelatorConfig::default());
    for l in text.lines() {
        if let Ok(rec) = parse_line(l, &ctx) {
            c2.ingest(&rec);
        }
    }
    for m in c2.drain() {
        for s in build_spans(&m, &ModelOptions::default()) {
            assert!(
                attr_f64(&s.span, "email.clock_skew_seconds").is_none(),
                "{}",
                m.message_id
            );
        }
    }
}
