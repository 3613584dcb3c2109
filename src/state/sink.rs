//! Where rendered JSON goes: a `String`, a file, a comparison with the text as read,
//! lines, a byte count, or a capped buffer. Writing never allocates a second copy of the
//! document.

/// Where rendered text goes: a `String`, a file (through [`IoSink`]), a comparison with
/// the text as read ([`CompareSink`]), or lines ([`LineSink`]). Writing never allocates a
/// second copy of the document.
pub trait Sink {
    fn put(&mut self, s: &str);
}

impl Sink for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

/// Counts what would be written (to size a buffer before writing it).
#[derive(Debug, Default)]
pub struct CountSink {
    pub bytes: usize,
}

impl Sink for CountSink {
    fn put(&mut self, s: &str) {
        self.bytes = self.bytes.saturating_add(s.len());
    }
}

/// Keeps at most `cap` bytes of what is written, in whole lines, and counts the lines
/// past them (the TUI's State panel of a 100 MB state: memory bounded whatever the file).
#[derive(Debug)]
pub struct CappedSink {
    pub out: String,
    cap: usize,
    full: bool,
    /// Newlines written after the cap.
    newlines_after: usize,
    /// Whether the last byte written (kept or not) is a newline.
    ends_with_newline: bool,
}

impl CappedSink {
    pub fn new(cap: usize) -> CappedSink {
        CappedSink {
            out: String::new(),
            cap,
            full: false,
            newlines_after: 0,
            ends_with_newline: false,
        }
    }

    /// The text kept (whole lines) and how many lines were left out.
    pub fn finish(mut self) -> (String, usize) {
        if !self.full {
            return (self.out, 0);
        }
        // The cut line is left out whole: its newline, if any, came after the cap.
        match self.out.rfind('\n') {
            Some(i) => self.out.truncate(i + 1),
            None => self.out.clear(),
        }
        let unterminated = usize::from(!self.ends_with_newline);
        (self.out, self.newlines_after + unterminated)
    }
}

impl Sink for CappedSink {
    fn put(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        self.ends_with_newline = s.ends_with('\n');
        if self.full {
            self.newlines_after += s.bytes().filter(|&b| b == b'\n').count();
            return;
        }
        if self.out.len() + s.len() <= self.cap {
            self.out.push_str(s);
            return;
        }
        self.full = true;
        // Fill up to the cap on a character boundary; the rest is counted.
        let mut end = self.cap - self.out.len();
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.out.push_str(&s[..end]);
        self.newlines_after += s[end..].bytes().filter(|&b| b == b'\n').count();
    }
}

/// Writes to an `io::Write` (a `BufWriter` on the temp file), keeping the first error.
pub struct IoSink<W: std::io::Write> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> IoSink<W> {
    pub fn new(inner: W) -> Self {
        IoSink { inner, error: None }
    }

    /// The writer back, or the first error a write met.
    pub fn finish(self) -> std::io::Result<W> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.inner),
        }
    }
}

impl<W: std::io::Write> Sink for IoSink<W> {
    fn put(&mut self, s: &str) {
        if self.error.is_none()
            && let Err(e) = self.inner.write_all(s.as_bytes())
        {
            self.error = Some(e);
        }
    }
}

/// Compares the text written with `expected`, without keeping it.
pub struct CompareSink<'a> {
    rest: &'a [u8],
    same: bool,
}

impl<'a> CompareSink<'a> {
    pub fn new(expected: &'a [u8]) -> Self {
        CompareSink {
            rest: expected,
            same: true,
        }
    }

    /// Whether everything written equals `expected`, to its end.
    pub fn matches(&self) -> bool {
        self.same && self.rest.is_empty()
    }
}

impl Sink for CompareSink<'_> {
    fn put(&mut self, s: &str) {
        if !self.same {
            return;
        }
        match self.rest.strip_prefix(s.as_bytes()) {
            Some(rest) => self.rest = rest,
            None => self.same = false,
        }
    }
}

/// Splits the text written into lines as `str::lines` does (`\n`, or `\r\n`, ends a line;
/// no empty last line), each line its own exactly sized `String`.
#[derive(Default)]
pub struct LineSink {
    lines: Vec<String>,
    current: String,
}

impl LineSink {
    pub fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            // The last line keeps a lone `\r`: only `\r\n` ends a line.
            self.lines.push(self.current.as_str().into());
        }
        self.lines.shrink_to_fit();
        self.lines
    }

    fn push_line(&mut self) {
        if self.current.ends_with('\r') {
            self.current.pop();
        }
        self.lines.push(self.current.as_str().into());
        self.current.clear();
    }
}

impl Sink for LineSink {
    fn put(&mut self, mut s: &str) {
        // A newline is one byte and never part of a multi-byte character: splitting there
        // keeps every line valid UTF-8.
        while let Some(i) = s.find('\n') {
            self.current.push_str(&s[..i]);
            self.push_line();
            s = &s[i + 1..];
        }
        self.current.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capped_sink_keeps_whole_lines_and_counts_the_rest() {
        let text = "{\n  \"a\": 1,\n  \"bé\": 2\n}\n";
        for cap in 0..text.len() + 2 {
            let mut s = CappedSink::new(cap);
            // Written in pieces, as a rendering writes.
            for piece in text.split_inclusive(['\n', ' ']) {
                s.put(piece);
            }
            let (kept, more) = s.finish();
            assert!(kept.len() <= cap, "{cap}");
            assert!(text.starts_with(&kept), "{cap}: {kept:?}");
            assert!(kept.is_empty() || kept.ends_with('\n'), "{cap}: {kept:?}");
            assert_eq!(kept.lines().count() + more, text.lines().count(), "{cap}");
        }
    }
}
