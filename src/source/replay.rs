//! Whole-file input for `replay` (and one-shot reads): syslog text or OpenSearch ndjson,
//! streamed line by line into `LogRecord`s. Bad lines are counted by reason, never fatal.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::parse::syslog::{self, SyslogContext};
use crate::record::LogRecord;
use crate::source::document::{DocumentContext, LineOutcome};

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
        sink(rec);
        Ok::<_, io::Error>(())
    })
}

/// `read_input` whose sink may fail: the first error stops reading and is returned (an
/// input error converts into the sink's error type).
pub fn try_read_input<E: From<io::Error>>(
    input: &Input,
    format: InputFormat,
    ctx: &ReadContext,
    stats: &mut ReadStats,
    mut sink: impl FnMut(LogRecord) -> Result<(), E>,
) -> Result<(), E> {
    let reader = input
        .open()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", input.display())))?;
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let name = input.display();
    let mut format = format;
    let mut buf = Vec::with_capacity(1024);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        stats.lines += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => {
                // Keep the line: a stray byte in a subject must not lose a delivery line.
                stats.invalid_utf8 += 1;
                String::from_utf8_lossy(&buf)
            }
        };
        if format == InputFormat::Auto {
            match text.trim_start().chars().next() {
                None => {
                    stats.skip("empty line".into(), &name, line_no);
                    continue;
                }
                Some('{') => format = InputFormat::Ndjson,
                Some(_) => format = InputFormat::Syslog,
            }
        }
        match format {
            InputFormat::Syslog => match syslog::parse_line(&text, &ctx.syslog) {
                Ok(rec) => {
                    stats.records += 1;
                    sink(rec)?;
                }
                Err(e) => stats.skip(e.to_string(), &name, line_no),
            },
            _ => {
                if text.trim().is_empty() {
                    stats.skip("empty line".into(), &name, line_no);
                    continue;
                }
                match ctx.documents.map_line(&text) {
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
            }
        }
    }
    Ok(())
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
