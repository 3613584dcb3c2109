//! Text shown a line at a time (the State panel's JSON), kept as one string and where each
//! line starts: a 100 MB state file's pretty JSON costs its bytes and a word per line,
//! not a `String` (24 bytes and an allocation) per line.

/// Lines of one text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    text: String,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
    /// The longest line, in characters (for sideways scrolling), counted once.
    widest: usize,
}

impl Lines {
    /// `text` split at `\n` (a final newline ends the last line, as `str::lines`).
    pub fn new(text: String) -> Lines {
        // Sized once (a 3M-line text never holds a half-size copy while it doubles).
        let n = text.bytes().filter(|&b| b == b'\n').count() + 1;
        let mut starts = Vec::with_capacity(n);
        let mut widest = 0;
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            starts.push(at);
            at += line.len();
            widest = widest.max(line.trim_end_matches('\n').chars().count());
        }
        Lines {
            text,
            starts,
            widest,
        }
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Line `i` without its newline ("" past the end).
    pub fn get(&self, i: usize) -> &str {
        let Some(&from) = self.starts.get(i) else {
            return "";
        };
        let to = self.starts.get(i + 1).copied().unwrap_or(self.text.len());
        self.text[from..to].trim_end_matches('\n')
    }

    /// Lines `from..to` (clamped).
    pub fn range(&self, from: usize, to: usize) -> impl Iterator<Item = &str> {
        let to = to.min(self.len());
        (from.min(to)..to).map(|i| self.get(i))
    }

    /// Every line, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.range(0, self.len())
    }

    /// The longest line's length in characters.
    pub fn widest(&self) -> usize {
        self.widest
    }

    /// Adds a line at the end.
    pub fn push(&mut self, line: &str) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.starts.push(self.text.len());
        self.text.push_str(line);
        self.widest = self.widest.max(line.chars().count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_str_lines_says() {
        for text in ["", "a", "a\n", "a\nbb\n\nccc", "{\n  \"x\": 1\n}\n", "é\nü"] {
            let l = Lines::new(text.to_string());
            let want: Vec<&str> = text.lines().collect();
            assert_eq!(l.iter().collect::<Vec<_>>(), want, "{text:?}");
            assert_eq!(l.len(), want.len());
            assert_eq!(
                l.widest(),
                want.iter().map(|s| s.chars().count()).max().unwrap_or(0)
            );
        }
        let l = Lines::new("a\nb\nc".into());
        assert_eq!(l.range(1, 9).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(l.range(5, 2).count(), 0);
        assert_eq!(l.get(7), "");
    }

    #[test]
    fn push_adds_a_line() {
        let mut l = Lines::new("a\n".into());
        l.push("// and 3 more");
        l.push("z");
        assert_eq!(l.iter().collect::<Vec<_>>(), ["a", "// and 3 more", "z"]);
        let mut e = Lines::default();
        e.push("x");
        assert_eq!(e.iter().collect::<Vec<_>>(), ["x"]);
    }
}
