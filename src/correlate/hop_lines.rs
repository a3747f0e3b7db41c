//! `HopLines`: the raw lines a hop keeps (its span events), in one text buffer per hop.
//!
//! A hop holds its lines until its message is released, minutes of log time later. As one
//! heap string per line and one per service, every kept line was two long-lived
//! allocations, each taken from blocks freed long before (a cache miss apiece), and two
//! frees at release. In one buffer, a line is a copy into memory the hop already has, the
//! record's own strings go back to the allocator while they are still warm, and the lines
//! are read back in one sweep when the hop's span is written.
//!
//! Saved as the `Vec<HopLine>` it replaces (`[time, service, text]` per line), so saved
//! states read either way.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::message::HopLine;

/// The lines of one hop, in the order they were kept.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HopLines {
    /// Each line's service, then its text, back to back.
    text: String,
    lines: Vec<LineEnds>,
}

/// Where one line's service and text end in `HopLines::text`; each starts where the one
/// before ends.
#[derive(Clone, Copy, PartialEq, Eq)]
struct LineEnds {
    timestamp_ns: i64,
    service_end: u32,
    text_end: u32,
}

/// One kept line, borrowed from its hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineView<'a> {
    pub timestamp_ns: i64,
    pub service: &'a str,
    pub text: &'a str,
}

/// Room for a hop's usual lines at the first one: a relay hop logs six to ten lines of
/// under 200 bytes, so most hops never grow their buffers.
const FIRST_TEXT_CAPACITY: usize = 1024;
const FIRST_LINES_CAPACITY: usize = 8;

impl HopLines {
    /// Keep a line. `false` (and nothing kept) only when the hop's text would pass 4 GiB,
    /// which the lines cap keeps far out of reach; the caller counts it as dropped.
    pub fn push(&mut self, timestamp_ns: i64, service: &str, text: &str) -> bool {
        let at = self.text.len();
        let Some(text_end) = u32::try_from(at + service.len() + text.len()).ok() else {
            return false;
        };
        if self.text.capacity() == 0 {
            self.text
                .reserve(FIRST_TEXT_CAPACITY.max(service.len() + text.len()));
            self.lines.reserve(FIRST_LINES_CAPACITY);
        }
        self.text.push_str(service);
        self.text.push_str(text);
        self.lines.push(LineEnds {
            timestamp_ns,
            service_end: (at + service.len()) as u32,
            text_end,
        });
        true
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = LineView<'_>> + '_ {
        let mut start = 0usize;
        self.lines.iter().map(move |e| {
            let (service_end, text_end) = (e.service_end as usize, e.text_end as usize);
            let view = LineView {
                timestamp_ns: e.timestamp_ns,
                service: &self.text[start..service_end],
                text: &self.text[service_end..text_end],
            };
            start = text_end;
            view
        })
    }
}

impl<'a> LineView<'a> {
    pub fn to_owned(self) -> HopLine {
        HopLine {
            timestamp_ns: self.timestamp_ns,
            service: self.service.to_string(),
            text: self.text.to_string(),
        }
    }
}

impl FromIterator<HopLine> for HopLines {
    fn from_iter<I: IntoIterator<Item = HopLine>>(lines: I) -> Self {
        let mut out = HopLines::default();
        for l in lines {
            out.push(l.timestamp_ns, &l.service, &l.text);
        }
        out
    }
}

impl From<Vec<HopLine>> for HopLines {
    fn from(lines: Vec<HopLine>) -> Self {
        lines.into_iter().collect()
    }
}

impl std::fmt::Debug for HopLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for HopLines {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|l| (l.timestamp_ns, l.service, l.text)))
    }
}

impl<'de> Deserialize<'de> for HopLines {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<HopLine>::deserialize(d)?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(t: i64, service: &str, text: &str) -> HopLine {
        HopLine {
            timestamp_ns: t,
            service: service.into(),
            text: text.into(),
        }
    }

    proptest! {
        /// Whatever lines go in (empty, unicode, long) come back as they went in, all and
        /// one by one, and save as the `Vec<HopLine>` they replace.
        #[test]
        fn lines_come_back_as_kept_and_save_as_before(
            lines in proptest::collection::vec(
                (any::<i64>(), ".{0,12}", ".{0,300}").prop_map(|(t, s, x)| line(t, &s, &x)),
                0..40,
            )
        ) {
            let kept: HopLines = lines.iter().cloned().collect();
            prop_assert_eq!(kept.len(), lines.len());
            prop_assert_eq!(kept.is_empty(), lines.is_empty());
            let back: Vec<HopLine> = kept.iter().map(LineView::to_owned).collect();
            prop_assert_eq!(&back, &lines);
            for (i, l) in lines.iter().enumerate() {
                prop_assert_eq!(kept.iter().nth(i).map(LineView::to_owned), Some(l.clone()));
            }
            prop_assert_eq!(kept.iter().nth(lines.len()), None);
            let saved = serde_json::to_string(&kept).unwrap();
            prop_assert_eq!(&saved, &serde_json::to_string(&lines).unwrap());
            prop_assert_eq!(serde_json::from_str::<HopLines>(&saved).unwrap(), kept);
        }
    }

    /// States saved with field names (before lines were arrays) still load.
    #[test]
    fn loads_the_object_form_too() {
        let old = r#"[{"timestamp_ns":5,"service":"postfix/smtp","text":"Q1: removed"}]"#;
        let lines: HopLines = serde_json::from_str(old).unwrap();
        assert_eq!(
            lines.iter().next(),
            Some(LineView {
                timestamp_ns: 5,
                service: "postfix/smtp",
                text: "Q1: removed"
            })
        );
    }
}
