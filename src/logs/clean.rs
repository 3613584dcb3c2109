//! Log lines are hostile text: whatever a worker prints reaches our terminal only through
//! [`clean_line`]. Escape sequences are removed, all of them (SGR colours too: a log is
//! read for its words, and a colour a worker chose can hide text on our theme); every other
//! control character is shown escaped (`\u{7}`), tabs become spaces, a CR ending the line
//! (CRLF) is dropped; bytes that are not UTF-8 become U+FFFD.

use crate::text::is_unsafe;

/// Tab stops every this many columns.
const TAB: usize = 8;

/// The mark after a line that was cut at the cap.
pub fn cut_mark(more: u64) -> String {
    format!(" … [line cut: {more} more bytes]")
}

/// The mark before a line whose start was not read (it began before what was read back).
pub const CUT_START: &str = "[…] ";

/// `raw` (one line, without its newline) as text that is safe on a terminal; `more` bytes
/// of it were dropped beyond the cap (said at the end).
pub fn clean_line(raw: &[u8], more: u64) -> String {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut col = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek().copied() {
                Some('[') => {
                    chars.next();
                    skip_csi(&mut chars);
                }
                Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => {
                    chars.next();
                    skip_string(&mut chars);
                }
                Some(n) if ('\u{20}'..='\u{2f}').contains(&n) => {
                    // ESC, intermediates, a final character (`ESC ( B`).
                    while chars
                        .next_if(|c| ('\u{20}'..='\u{2f}').contains(c))
                        .is_some()
                    {}
                    chars.next();
                }
                Some(n) if ('\u{30}'..='\u{7e}').contains(&n) => {
                    chars.next();
                }
                // A lone ESC (at the end, or before a control): shown.
                _ => {
                    out.push_str("\\u{1b}");
                    col += 6;
                }
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\t' => {
                let n = TAB - col % TAB;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            }
            c if is_unsafe(c) => {
                let e = format!("\\u{{{:x}}}", c as u32);
                col += e.len();
                out.push_str(&e);
            }
            c => {
                out.push(c);
                col += 1;
            }
        }
    }
    if more > 0 {
        out.push_str(&cut_mark(more));
    }
    out
}

/// Skips a control sequence's parameters, intermediates and final byte (or to the end).
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        // Not part of a control sequence: the sequence is broken, drop it here.
        if !('\u{20}'..='\u{3f}').contains(&c) {
            return;
        }
    }
}

/// Skips an OSC / DCS / SOS / PM / APC string up to its terminator (BEL, ST, `ESC \`) or
/// the end of the line.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        clean_line(s.as_bytes(), 0)
    }

    #[test]
    fn plain_text_stays() {
        assert_eq!(c("INFO worker ready é 😀"), "INFO worker ready é 😀");
        assert_eq!(c("crlf\r"), "crlf");
    }

    #[test]
    fn escapes_are_removed_and_controls_escaped() {
        assert_eq!(c("\u{1b}[31mred\u{1b}[0m plain"), "red plain");
        assert_eq!(c("a\u{1b}]2;PWNED\u{7}b"), "ab");
        assert_eq!(c("a\u{1b}]52;c;AAAA\u{1b}\\b"), "ab");
        assert_eq!(c("x\u{1b}[2J\u{1b}[Hy"), "xy");
        assert_eq!(c("\u{1b}(Bq\u{1b}=z"), "qz");
        assert_eq!(c("a\u{9b}31mb\u{9d}0;t\u{9c}c"), "abc");
        assert_eq!(
            c("bell\u{7} cr\rback\u{8}"),
            "bell\\u{7} cr\\u{d}back\\u{8}"
        );
        assert_eq!(c("rtl\u{202e}txt"), "rtl\\u{202e}txt");
        assert_eq!(c("end\u{1b}"), "end\\u{1b}");
        assert_eq!(c("\u{1b}P1$qm\u{1b}\\after"), "after");
        // An unterminated OSC eats the rest of the line, never the next one.
        assert_eq!(c("a\u{1b}]0;title"), "a");
        for s in [
            "\u{1b}[31m",
            "\u{1b}]0;x\u{7}",
            "\u{1b}[?1049h",
            "\u{7}\u{1b}c",
        ] {
            assert!(!c(s).contains('\u{1b}'), "{s:?}");
            assert!(!c(s).chars().any(is_unsafe), "{s:?}");
        }
    }

    #[test]
    fn tabs_invalid_utf8_and_the_cut_mark() {
        assert_eq!(c("a\tb"), "a       b");
        assert_eq!(c("abcdefgh\tx"), "abcdefgh        x");
        assert_eq!(
            clean_line(b"bad \xff\xfe end", 0),
            "bad \u{fffd}\u{fffd} end"
        );
        assert_eq!(clean_line(b"head", 42), "head … [line cut: 42 more bytes]");
    }
}
