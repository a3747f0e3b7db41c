//! Whole-file input for `replay` (and one-shot reads): syslog text or OpenSearch ndjson,
//! streamed line by line into `LogRecord`s. Bad lines are counted by reason, never fatal.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::parse::syslog::{self, SyslogContext};
use crate::record::{LogRecord, RecordRef};
use crate::source::document::{DocumentContext, LineOutcome, Shapes};

/// How an input file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Look at the first non-empty line: `{` means ndjson, anything else syslog text.
    Auto,
    /// Syslog text (RFC 3164, RFC 5424, ISO 8601 rsyslog, Exim mainlog).
    Syslog,
    /// One OpenSearch document per line, with or without the `_source` wrapper.
    Ndjson,
}

/// What reading the inputs skipped, by reason, with a first example of each.
#[derive(Debug, Clone, Default)]
pub struct ReadStats {
    pub lines: u64,
    pub records: u64,
    pub invalid_utf8: u64,
    pub filtered: u64,
    pub skipped: BTreeMap<String, SkipCount>,
}

#[derive(Debug, Clone, Default)]
pub struct SkipCount {
    pub count: u64,
    /// `path:line` of the first occurrence, so an operator can look at it.
    pub first_at: String,
}

impl ReadStats {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().map(|s| s.count).sum()
    }

    fn skip(&mut self, reason: String, path: &str, line_no: u64) {
        // Reasons carry no values, but stay bounded whatever a parser reports.
        let reason = if self.skipped.len() >= MAX_REASONS && !self.skipped.contains_key(&reason) {
            "other reasons".to_string()
        } else {
            reason
        };
        let e = self.skipped.entry(reason).or_default();
        if e.count == 0 {
            e.first_at = format!("{path}:{line_no}");
        }
        e.count += 1;
    }
}

const MAX_REASONS: usize = 32;

/// One input: a path, or `-` for standard input.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
}

impl Input {
    pub fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }

    fn open(&self) -> io::Result<Box<dyn Read>> {
        if self.is_stdin() {
            Ok(Box::new(io::stdin()))
        } else {
            Ok(Box::new(File::open(&self.path)?))
        }
    }

    pub fn display(&self) -> String {
        if self.is_stdin() {
            "<stdin>".to_string()
        } else {
            self.path.display().to_string()
        }
    }
}

/// Everything a reader needs to turn lines into records.
pub struct ReadContext {
    pub syslog: SyslogContext,
    pub documents: DocumentContext,
}

/// Stream every record of `input` into `sink`. I/O errors (unreadable file) are returned;
/// bad lines are counted in `stats`.
pub fn read_input(
    input: &Input,
    format: InputFormat,
    ctx: &ReadContext,
    stats: &mut ReadStats,
    mut sink: impl FnMut(LogRecord),
) -> io::Result<()> {
    try_read_input(input, format, ctx, stats, |rec| {
        sink(rec.to_record());
        Ok::<_, io::Error>(())
    })
}

/// `read_input` whose sink may fail: the first error stops reading and is returned (an
/// input error converts into the sink's error type). The sink gets each record borrowed,
/// from the line where it can be.
pub fn try_read_input<E: From<io::Error>>(
    input: &Input,
    format: InputFormat,
    ctx: &ReadContext,
    stats: &mut ReadStats,
    mut sink: impl FnMut(RecordRef) -> Result<(), E>,
) -> Result<(), E> {
    let reader = input
        .open()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", input.display())))?;
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let name = input.display();
    let mut format = format;
    let mut line_no = 0u64;
    let mut shapes = Shapes::default();
    let handle = |line: &[u8], checked: Option<&str>| -> Result<(), E> {
        line_no += 1;
        stats.lines += 1;
        let text = match checked.or_else(|| utf8(line)) {
            Some(t) => std::borrow::Cow::Borrowed(t.trim_end_matches(['\n', '\r'])),
            None => {
                let mut line = line;
                while let [rest @ .., b'\n' | b'\r'] = line {
                    line = rest;
                }
                // Keep the line: a stray byte in a subject must not lose a delivery line.
                stats.invalid_utf8 += 1;
                String::from_utf8_lossy(line)
            }
        };
        if format == InputFormat::Auto {
            match text.trim_start().chars().next() {
                None => {
                    stats.skip("empty line".into(), &name, line_no);
                    return Ok(());
                }
                Some('{') => format = InputFormat::Ndjson,
                Some(_) => format = InputFormat::Syslog,
            }
        }
        match format {
            InputFormat::Syslog => match syslog::parse_line(&text, &ctx.syslog) {
                Ok(rec) => {
                    stats.records += 1;
                    sink((&rec).into())?;
                }
                Err(e) => stats.skip(e.to_string(), &name, line_no),
            },
            _ => {
                if crate::source::document::trim(&text).is_empty() {
                    stats.skip("empty line".into(), &name, line_no);
                    return Ok(());
                }
                let outcome = |o: LineOutcome<RecordRef>| -> Result<(), E> {
                    match o {
                        LineOutcome::Record(rec) => {
                            stats.records += 1;
                            sink(rec)?;
                        }
                        LineOutcome::NotJson => {
                            stats.skip("not a JSON document".into(), &name, line_no)
                        }
                        LineOutcome::NotAnObject => {
                            stats.skip("not a JSON object".into(), &name, line_no)
                        }
                        LineOutcome::Filtered => stats.filtered += 1,
                        LineOutcome::Unusable(e) => stats.skip(e.reason(), &name, line_no),
                    }
                    Ok(())
                };
                ctx.documents
                    .read_line_shaped(&text, &mut shapes, outcome)?;
            }
        }
        Ok(())
    };
    for_each_line(&mut reader, handle)
}

/// `line` as text when it is UTF-8: `std::str::from_utf8`'s verdict, reached with vector
/// instructions where the CPU has them (every byte of every input passes through here).
/// Inlined: the call costs a tenth of the check.
#[inline]
fn utf8(line: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(line).ok()
}

/// Each line of `reader` (without its `\n`) to `f`, in order, until `f` fails. A line is
/// handed over from the reader's buffer where it lies whole in it, and gathered into a
/// buffer of its own only where it straddles two reads.
///
/// The whole lines of each read are checked as UTF-8 at once, and where they are, each goes
/// to `f` as text too: one check per read instead of one per line, whose fixed cost was
/// most of the check's (a `\n` never lies inside a character, so each line of a valid
/// block is valid). Lines of a block that is not, and lines gathered across reads, come
/// as bytes only.
fn for_each_line<E: From<io::Error>>(
    reader: &mut impl BufRead,
    mut f: impl FnMut(&[u8], Option<&str>) -> Result<(), E>,
) -> Result<(), E> {
    let mut straddling = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            read => read?,
        };
        if available.is_empty() {
            if !straddling.is_empty() {
                f(&straddling, None)?;
            }
            return Ok(());
        }
        let used = match memchr::memchr(b'\n', available) {
            Some(i) if straddling.is_empty() => {
                let whole = &available[..=memchr::memrchr(b'\n', available).unwrap_or(i)];
                let text = utf8(whole);
                let mut start = 0;
                for end in memchr::memchr_iter(b'\n', whole) {
                    f(&whole[start..end], text.map(|t| &t[start..end]))?;
                    start = end + 1;
                }
                whole.len()
            }
            Some(i) => {
                straddling.extend_from_slice(&available[..i]);
                f(&straddling, None)?;
                straddling.clear();
                i + 1
            }
            None => {
                straddling.extend_from_slice(available);
                available.len()
            }
        };
        reader.consume(used);
    }
}

/// Records handed over at a time between the reading thread and the consumer: enough that
/// the hand-over costs nothing per line, few enough that memory stays flat.
const BATCH: usize = 1024;

/// Batches in flight: the reader runs at most this far ahead.
const BATCHES_AHEAD: usize = 4;

/// Why the reading thread stopped early.
enum ReadStop {
    Input(io::Error),
    /// The consumer failed and hung up; its error is the one returned.
    ConsumerGone,
}

impl From<io::Error> for ReadStop {
    fn from(e: io::Error) -> Self {
        ReadStop::Input(e)
    }
}

/// A record as `read_inputs_pipelined` hands it to its sink.
pub enum Item<'a, T> {
    /// Prepared on the reading thread.
    Prepared(T),
    /// Read here, in line, and lent straight from its line: there is no other thread to
    /// prepare it, so it is not made into anything that could be sent to one.
    Borrowed(RecordRef<'a>),
}

/// `try_read_input` over `inputs` in order, with reading, decoding and `prepare` (per-record
/// work that needs nothing of the consumer, such as parsing) on a second thread while `sink`
/// consumes here: a replay then uses two cores. `sink` sees every record in input order;
/// the first error on either side stops both and is returned. Bad lines are counted in
/// `stats` as `try_read_input` counts them.
///
/// With one CPU to run on (a process pinned to one, a one-CPU container) all of it runs
/// here, in line: a second thread would only add hand-overs and cross-thread frees. The
/// sink then gets each record borrowed (`Item::Borrowed`), not prepared.
pub fn read_inputs_pipelined<T: Send, E: From<io::Error>>(
    inputs: &[Input],
    format: InputFormat,
    ctx: &ReadContext,
    stats: &mut ReadStats,
    prepare: impl Fn(RecordRef) -> T + Sync,
    sink: impl FnMut(Item<T>) -> Result<(), E>,
) -> Result<(), E> {
    let threaded = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) > 1;
    read_inputs(threaded, inputs, format, ctx, stats, prepare, sink)
}

/// `read_inputs_pipelined`, on two threads or in line.
fn read_inputs<T: Send, E: From<io::Error>>(
    threaded: bool,
    inputs: &[Input],
    format: InputFormat,
    ctx: &ReadContext,
    stats: &mut ReadStats,
    prepare: impl Fn(RecordRef) -> T + Sync,
    mut sink: impl FnMut(Item<T>) -> Result<(), E>,
) -> Result<(), E> {
    if !threaded {
        for input in inputs {
            try_read_input(input, format, ctx, stats, |rec| sink(Item::Borrowed(rec)))?;
        }
        return Ok(());
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(BATCHES_AHEAD);
    let prepare = &prepare;
    std::thread::scope(|scope| {
        // The reader counts into `stats` itself: nothing here looks at them before the join.
        let reader = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut run = || -> Result<(), ReadStop> {
                for input in inputs {
                    try_read_input(input, format, ctx, stats, |rec| {
                        batch.push(prepare(rec));
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            tx.send(full).map_err(|_| ReadStop::ConsumerGone)?;
                        }
                        Ok::<_, ReadStop>(())
                    })?;
                }
                Ok(())
            };
            let outcome = run();
            // What was read before an input failed still reaches the sink, as it would
            // reading in line.
            if !batch.is_empty() && tx.send(batch).is_err() && outcome.is_ok() {
                return Err(ReadStop::ConsumerGone);
            }
            outcome
        });
        let mut consumed = Ok(());
        'batches: for batch in rx.iter() {
            for item in batch {
                if let Err(e) = sink(Item::Prepared(item)) {
                    consumed = Err(e);
                    break 'batches;
                }
            }
        }
        // Hang up first: a reader blocked on a full channel then stops instead of waiting.
        drop(rx);
        let outcome = match reader.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        consumed?;
        match outcome {
            Ok(()) | Err(ReadStop::ConsumerGone) => Ok(()),
            Err(ReadStop::Input(e)) => Err(e.into()),
        }
    })
}

/// Read a whole input into memory (tests and small one-shot reads).
pub fn read_all(
    path: &Path,
    format: InputFormat,
    ctx: &ReadContext,
) -> io::Result<(Vec<LogRecord>, ReadStats)> {
    let mut stats = ReadStats::default();
    let mut out = Vec::new();
    let input = Input {
        path: path.to_path_buf(),
    };
    read_input(&input, format, ctx, &mut stats, |r| out.push(r))?;
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OpenSearchConfig;
    use crate::parse::time::Zone;
    use proptest::prelude::*;
    use std::io::Write;

    /// Bytes of lines, UTF-8 or nearly: ASCII, characters of every encoded length, and the
    /// ways UTF-8 goes wrong (stray continuation bytes, overlong forms, surrogates, past
    /// U+10FFFF, a sequence cut short, bytes never used).
    fn nearly_utf8() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            8 => prop::collection::vec(0x20u8..0x7f, 1..40),
            4 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
            1 => prop::sample::select(vec![
                vec![0x80],
                vec![0xbf],
                vec![0xc0, 0xaf],
                vec![0xc1, 0xbf],
                vec![0xe0, 0x80, 0xaf],
                vec![0xed, 0xa0, 0x80],
                vec![0xed, 0xbf, 0xbf],
                vec![0xf0, 0x80, 0x80, 0xaf],
                vec![0xf4, 0x90, 0x80, 0x80],
                vec![0xf5, 0x80, 0x80, 0x80],
                vec![0xe2, 0x82],
                vec![0xf0, 0x9f, 0x98],
                vec![0xfe],
                vec![0xff],
            ]),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        /// A line is text exactly when `std::str::from_utf8` says it is, at every length
        /// (the vector check goes by blocks of bytes).
        #[test]
        fn lines_are_utf8_as_std_says(line in nearly_utf8()) {
            prop_assert_eq!(utf8(&line), std::str::from_utf8(&line).ok());
        }
    }

    proptest! {
        /// A line handed over as text is that line's text, whatever the lines and the read
        /// sizes; and where one read holds all lines and they are all valid, each comes as
        /// text (the block's check is what saves the per-line one).
        #[test]
        fn lines_come_as_text_exactly_when_they_are(
            lines in prop::collection::vec(nearly_utf8(), 0..20),
            capacity in 1usize..64,
        ) {
            let data = lines.join(&b'\n');
            for capacity in [capacity, data.len() + 1] {
                let mut reader = BufReader::with_capacity(capacity, &data[..]);
                let mut texts = 0;
                let mut n = 0;
                for_each_line(&mut reader, |line, text| {
                    n += 1;
                    if let Some(t) = text {
                        texts += 1;
                        assert_eq!(Some(t), std::str::from_utf8(line).ok());
                    }
                    Ok::<_, io::Error>(())
                })
                .unwrap();
                // Without a final `\n`, the last line is gathered (bytes only).
                let whole = data.iter().filter(|&&b| b == b'\n').count();
                if capacity > data.len() && std::str::from_utf8(&data).is_ok() {
                    prop_assert_eq!(texts, whole, "{} lines", n);
                }
            }
        }

        /// Whatever the read sizes, every line reaches `f` whole and in order, a last line
        /// without `\n` included, as `split` cuts them.
        #[test]
        fn lines_straddling_reads_arrive_whole(
            data in prop::collection::vec(prop::sample::select(b"ab\r\n".to_vec()), 0..200),
            capacity in 1usize..16,
        ) {
            let mut reader = BufReader::with_capacity(capacity, &data[..]);
            let mut got = Vec::new();
            for_each_line(&mut reader, |line, _| {
                got.push(line.to_vec());
                Ok::<_, io::Error>(())
            })
            .unwrap();
            let mut want: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            if data.last().is_none_or(|&b| b == b'\n') {
                want.pop();
            }
            prop_assert_eq!(got, want);
        }
    }

    fn ctx() -> ReadContext {
        ReadContext {
            syslog: SyslogContext {
                zone: Zone::parse("UTC").unwrap(),
                now_ns: 1_900_000_000_000_000_000,
                year: Some(2025),
                default_host: None,
            },
            documents: DocumentContext::new(&OpenSearchConfig::default()).unwrap(),
        }
    }

    /// `n` syslog lines numbered from `from`, every 7th one unparseable.
    fn write_log(dir: &Path, name: &str, from: usize, n: usize) -> Input {
        let path = dir.join(name);
        let mut f = io::BufWriter::new(File::create(&path).unwrap());
        for i in from..from + n {
            if i % 7 == 0 {
                writeln!(f, "garbage {i}").unwrap();
            } else {
                writeln!(
                    f,
                    "Mar  1 00:00:{:02} mx postfix/smtpd[1]: line {i}",
                    i % 60
                )
                .unwrap();
            }
        }
        Input { path }
    }

    fn sequential(inputs: &[Input], ctx: &ReadContext) -> (Vec<String>, ReadStats) {
        let mut stats = ReadStats::default();
        let mut seen = Vec::new();
        for input in inputs {
            read_input(input, InputFormat::Auto, ctx, &mut stats, |r| {
                seen.push(r.message)
            })
            .unwrap();
        }
        (seen, stats)
    }

    fn same_stats(a: &ReadStats, b: &ReadStats) {
        assert_eq!(
            (a.lines, a.records, a.invalid_utf8),
            (b.lines, b.records, b.invalid_utf8)
        );
        let counts = |s: &ReadStats| -> Vec<(String, u64, String)> {
            s.skipped
                .iter()
                .map(|(r, c)| (r.clone(), c.count, c.first_at.clone()))
                .collect()
        };
        assert_eq!(counts(a), counts(b));
    }

    /// `read_inputs_pipelined` with records made owned, and the counts it made.
    /// `read_inputs` on two threads, or in line as with one CPU. Every record must come
    /// prepared on two threads and borrowed in line.
    fn read_piped(
        threaded: bool,
        inputs: &[Input],
        mut sink: impl FnMut(LogRecord) -> io::Result<()>,
    ) -> (io::Result<()>, ReadStats) {
        let mut stats = ReadStats::default();
        let result = read_inputs(
            threaded,
            inputs,
            InputFormat::Auto,
            &ctx(),
            &mut stats,
            |r: RecordRef| r.to_record(),
            |item| match item {
                Item::Prepared(rec) => {
                    assert!(threaded, "a record prepared in line");
                    sink(rec)
                }
                Item::Borrowed(rec) => {
                    assert!(!threaded, "a record lent across threads");
                    sink(rec.to_record())
                }
            },
        );
        (result, stats)
    }

    #[test]
    fn pipelined_read_delivers_every_record_in_order_and_counts_as_sequential() {
        let dir = tempfile::tempdir().unwrap();
        // Neither input a whole number of batches, so hand-overs fall mid-file and at its end.
        let inputs = [
            write_log(dir.path(), "a.log", 0, 2 * BATCH + 17),
            write_log(dir.path(), "b.log", 5000, BATCH + 3),
        ];
        let (expected, expected_stats) = sequential(&inputs, &ctx());
        assert!(
            expected_stats.skipped_total() > 0,
            "the input has bad lines"
        );
        for threaded in [true, false] {
            let mut seen = Vec::new();
            let (result, stats) = read_piped(threaded, &inputs, |r| {
                seen.push(r.message);
                Ok(())
            });
            result.unwrap();
            assert_eq!(seen, expected, "threaded: {threaded}");
            same_stats(&stats, &expected_stats);
        }
    }

    #[test]
    fn a_failing_sink_stops_the_reader_and_its_error_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let total = 40 * BATCH;
        let inputs = [write_log(dir.path(), "a.log", 1, total)];
        for threaded in [true, false] {
            let mut seen = 0;
            let (result, stats) = read_piped(threaded, &inputs, |_| {
                seen += 1;
                if seen == 10 {
                    return Err(io::Error::other("collector gone"));
                }
                Ok(())
            });
            let err = result.unwrap_err();
            assert_eq!(err.to_string(), "collector gone");
            assert_eq!(seen, 10);
            // The reader stopped within the channel's reach instead of reading everything.
            assert!(
                stats.lines < ((BATCHES_AHEAD + 3) * BATCH) as u64,
                "threaded: {threaded}: read {} of {total} lines",
                stats.lines
            );
        }
    }

    #[test]
    fn an_unreadable_input_is_an_error_after_the_records_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = [
            write_log(dir.path(), "a.log", 1, 100),
            Input {
                path: dir.path().join("missing.log"),
            },
        ];
        for threaded in [true, false] {
            let mut seen = 0;
            let (result, stats) = read_piped(threaded, &inputs, |_| {
                seen += 1;
                Ok(())
            });
            let err = result.unwrap_err();
            assert!(err.to_string().contains("cannot read"), "{err}");
            assert!(err.to_string().contains("missing.log"), "{err}");
            assert_eq!(seen, stats.records as usize);
            assert!(seen > 0, "threaded: {threaded}");
        }
    }
}
