//! Synthetic Postfix relay-chain logs for benchmarks and load tests (`mailtrace gen-load`).
//!
//! Every message travels three hosts: `mx-in` (short hex queue IDs) → `relay` (long queue IDs,
//! `enable_long_queue_ids` style, mixed case) → `mbox` (LMTP delivery to Dovecot), two
//! recipients per hop, 24 lines per message including the smtpd `connect`/`disconnect` noise.
//! Messages start a few per second and overlap, so their lines interleave as on a busy relay.
//!
//! Output is a pure function of the spec (seeded PRNG, fixed start time): the same command
//! writes the same bytes, so benchmark inputs can be regenerated instead of stored. Memory is
//! bounded: lines wait in a small time-ordered heap only until no later message can precede
//! them.

use std::collections::BinaryHeap;
use std::io::{self, Write};

use crate::record::LogRecord;

const NS: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
const US: i64 = 1_000;

/// Hosts of the chain, upstream first.
pub const HOSTS: [&str; 3] = ["mx-in", "relay", "mbox"];
/// Lines each generated message produces.
pub const LINES_PER_MESSAGE: u64 = 24;

/// What to generate.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub messages: u64,
    pub seed: u64,
    /// Log time of the first message (UTC ns).
    pub start_ns: i64,
    /// Mean new messages per second of log time.
    pub messages_per_second: f64,
}

impl Default for LoadSpec {
    fn default() -> Self {
        LoadSpec {
            messages: 1000,
            seed: 1,
            // 2025-03-01T00:00:00Z
            start_ns: 1_740_787_200 * NS,
            messages_per_second: 4.0,
        }
    }
}

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadFormat {
    /// rsyslog's default file format (RFC 3339 timestamps with microseconds).
    Syslog,
    /// One OpenSearch document per line, fields at the default mapping's paths, nested.
    Ndjson,
    /// Like `ndjson`, with flat dotted keys (`"host.name": …`), as some shippers write.
    NdjsonFlat,
}

/// One generated log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenLine {
    pub timestamp_ns: i64,
    pub host: &'static str,
    pub service: &'static str,
    pub pid: u32,
    pub message: String,
}

impl GenLine {
    /// The line as a source would deliver it (for feeding the store directly).
    pub fn to_record(&self) -> LogRecord {
        LogRecord {
            timestamp_ns: self.timestamp_ns,
            host: self.host.to_string(),
            service: self.service.to_string(),
            message: self.message.clone(),
            ..LogRecord::default()
        }
    }
}

/// Heap entry: earliest time first, then generation order (stable output).
struct Pending(i64, u64, GenLine);

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.0, o.1).cmp(&(self.0, self.1))
    }
}

/// SplitMix64: tiny, seedable, and good enough for log shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (hi > lo).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }
}

/// Generates the lines of `spec` in time order and hands each to `emit`.
pub fn generate(
    spec: &LoadSpec,
    mut emit: impl FnMut(&GenLine) -> io::Result<()>,
) -> io::Result<()> {
    let mut g = Generator {
        rng: Rng(spec.seed ^ 0x6D61_696C_7472_6163),
        heap: BinaryHeap::new(),
        seq: 0,
    };
    let mean_gap_ns = (NS as f64 / spec.messages_per_second.max(1e-3)) as i64;
    let mut start = spec.start_ns;
    for i in 0..spec.messages {
        // Lines earlier than this message's first one can no longer be preceded.
        while g.heap.peek().is_some_and(|p| p.0 < start) {
            let Pending(_, _, line) = g.heap.pop().expect("peeked");
            emit(&line)?;
        }
        g.message(i, start);
        start += g.rng.range(0, 2 * mean_gap_ns.max(1));
    }
    while let Some(Pending(_, _, line)) = g.heap.pop() {
        emit(&line)?;
    }
    Ok(())
}

/// Writes `spec` in `format` to `out`; returns the number of lines written.
pub fn write(spec: &LoadSpec, format: LoadFormat, out: &mut impl Write) -> io::Result<u64> {
    let mut n = 0u64;
    let mut buf = String::with_capacity(512);
    generate(spec, |l| {
        buf.clear();
        format_line(l, format, &mut buf);
        buf.push('\n');
        n += 1;
        out.write_all(buf.as_bytes())
    })?;
    out.flush()?;
    Ok(n)
}

/// One line in `format`, without the newline.
pub fn format_line(l: &GenLine, format: LoadFormat, out: &mut String) {
    use std::fmt::Write as _;
    let ts = Rfc3339Micros(l.timestamp_ns);
    match format {
        LoadFormat::Syslog => {
            let _ = write!(
                out,
                "{ts}+00:00 {} {}[{}]: {}",
                l.host, l.service, l.pid, l.message
            );
        }
        LoadFormat::Ndjson => {
            let _ = write!(
                out,
                r#"{{"@timestamp":"{ts}Z","host":{{"name":"{}"}},"log":{{"syslog":{{"appname":"{}","procid":"{}","facility":{{"name":"mail","code":2}},"severity":{{"name":"info"}}}}}},"message":{}}}"#,
                l.host,
                l.service,
                l.pid,
                json_string(&l.message)
            );
        }
        LoadFormat::NdjsonFlat => {
            let _ = write!(
                out,
                r#"{{"@timestamp":"{ts}Z","host.name":"{}","log.syslog.appname":"{}","log.syslog.procid":"{}","log.syslog.facility.name":"mail","message":{}}}"#,
                l.host,
                l.service,
                l.pid,
                json_string(&l.message)
            );
        }
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuu` (UTC, no zone suffix).
struct Rfc3339Micros(i64);

impl std::fmt::Display for Rfc3339Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0.div_euclid(NS);
        let micros = self.0.rem_euclid(NS) / US;
        let (y, m, d) = crate::parse::time::civil_from_days(secs.div_euclid(86_400));
        let s = secs.rem_euclid(86_400);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

struct Generator {
    rng: Rng,
    heap: BinaryHeap<Pending>,
    seq: u64,
}

const USERS: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const DOMAINS: [&str; 4] = [
    "example.org",
    "example.net",
    "corp.example.com",
    "lists.example.edu",
];
/// Postfix's long queue ID alphabet: digits and consonants, both cases.
const LONG_ID_CHARS: &[u8; 52] = b"0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";

impl Generator {
    fn push(&mut self, ts: i64, host: &'static str, service: &'static str, pid: u32, msg: String) {
        self.seq += 1;
        self.heap.push(Pending(
            ts,
            self.seq,
            GenLine {
                timestamp_ns: ts,
                host,
                service,
                pid,
                message: msg,
            },
        ));
    }

    /// Short hex queue ID, unique per message index (an odd multiplier is a bijection).
    fn short_id(i: u64, hop: u64) -> String {
        let n = (i * 3 + hop).wrapping_add(0x1F3_D5B7_9A2C);
        let v = n.wrapping_mul(0x9E37_79B9_7F4B) & 0xFFF_FFFF_FFFF;
        format!("{v:011X}")
    }

    /// Long queue ID: seconds and microseconds in base 52, `z`, then a per-message
    /// inode-like suffix (unique per index).
    fn long_id(ts: i64, i: u64) -> String {
        let mut s = String::with_capacity(17);
        let base52 = |mut v: u64, width: usize, s: &mut String| {
            let mut tmp = [0u8; 12];
            for slot in tmp.iter_mut().take(width) {
                *slot = LONG_ID_CHARS[(v % 52) as usize];
                v /= 52;
            }
            for c in tmp[..width].iter().rev() {
                s.push(*c as char);
            }
        };
        base52((ts / NS) as u64, 6, &mut s);
        base52(((ts % NS) / US) as u64, 4, &mut s);
        s.push('z');
        // Inode part: base 51 in Postfix; any unique alphanumerics do here.
        base52(
            i.wrapping_add(7_654_321).wrapping_mul(0x2545_F491) % 52u64.pow(5),
            5,
            &mut s,
        );
        s
    }

    fn message(&mut self, i: u64, t0: i64) {
        let r = &mut self.rng;
        let sender = format!(
            "{}{}@{}",
            USERS[(r.next() % 8) as usize],
            r.next() % 100,
            DOMAINS[(r.next() % 4) as usize]
        );
        let rcpts = [
            format!("{}@dest.example.test", USERS[(i % 8) as usize]),
            format!("{}@dest.example.test", USERS[((i + 3) % 8) as usize]),
        ];
        let message_id = format!("{:08x}.{i}@mx-in.example.org", r.next() as u32);
        let size = r.range(900, 60_000);
        let mut client = format!("mail.sender.example[192.0.2.{}]", r.range(1, 255));
        let relay_ip = ["10.0.0.10", "10.0.0.20", "10.0.0.30"];

        let mut hop_start = t0;
        let mut queue_id = Self::short_id(i, 0);
        for (hop, &host) in HOSTS.iter().enumerate() {
            let r = &mut self.rng;
            let smtpd_pid = 1000 + r.range(0, 30000) as u32;
            let qmgr_pid = 900 + hop as u32;
            let t_connect = hop_start;
            let t_client = t_connect + r.range(2, 40) * MS;
            let t_mid = t_client + r.range(1, 15) * MS;
            let t_from = t_mid + r.range(1, 10) * MS;
            let t_disconnect = t_from + r.range(1, 20) * MS;
            let t_deliver = t_from + r.range(100, 1500) * MS;
            let t_removed = t_deliver + r.range(1, 8) * MS;
            let (a, b, c, d) = (
                r.range(0, 30) as f64 / 100.0,
                r.range(0, 10) as f64 / 100.0,
                r.range(0, 20) as f64 / 100.0,
                r.range(1, 90) as f64 / 100.0,
            );
            let delay = a + b + c + d;
            // The next hop's smtpd accepts the connection shortly before "queued as", so its
            // first lines (up to message-id=, at most 55 ms in) precede the upstream's.
            let next_start = t_deliver - 80 * MS;
            let next = match hop {
                0 => Some(Self::long_id(next_start, i)),
                1 => Some(Self::short_id(i, 2)),
                _ => None,
            };

            let q = &queue_id;
            let smtpd = "postfix/smtpd";
            self.push(
                t_connect,
                host,
                smtpd,
                smtpd_pid,
                format!("connect from {client}"),
            );
            self.push(
                t_client,
                host,
                smtpd,
                smtpd_pid,
                format!("{q}: client={client}"),
            );
            self.push(
                t_mid,
                host,
                "postfix/cleanup",
                smtpd_pid + 3,
                format!("{q}: message-id=<{message_id}>"),
            );
            self.push(
                t_from,
                host,
                "postfix/qmgr",
                qmgr_pid,
                format!("{q}: from=<{sender}>, size={size}, nrcpt=2 (queue active)"),
            );
            self.push(
                t_disconnect,
                host,
                smtpd,
                smtpd_pid,
                format!("disconnect from {client} ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6"),
            );
            // Hops 0 and 1 relay over SMTP; hop 2 hands the message to Dovecot over LMTP.
            for rcpt in &rcpts {
                let (service, text) = match &next {
                    Some(nid) => (
                        "postfix/smtp",
                        format!(
                            "{q}: to=<{rcpt}>, relay={}.example.org[{}]:25, delay={delay:.2}, \
                             delays={a}/{b}/{c}/{d}, dsn=2.0.0, status=sent \
                             (250 2.0.0 Ok: queued as {nid})",
                            HOSTS[hop + 1],
                            relay_ip[hop + 1]
                        ),
                    ),
                    None => (
                        "postfix/lmtp",
                        format!(
                            "{q}: to=<{rcpt}>, relay=mbox.example.org[private/dovecot-lmtp], \
                             delay={delay:.2}, delays={a}/{b}/{c}/{d}, dsn=2.0.0, status=sent \
                             (250 2.0.0 <{rcpt}> {} Saved)",
                            &message_id[..8]
                        ),
                    ),
                };
                self.push(t_deliver, host, service, smtpd_pid + 7, text);
            }
            self.push(
                t_removed,
                host,
                "postfix/qmgr",
                qmgr_pid,
                format!("{q}: removed"),
            );
            client = format!("{host}.example.org[{}]", relay_ip[hop]);
            hop_start = next_start;
            if let Some(n) = next {
                queue_id = n;
            }
        }
    }
}
