//! Text from state files (names, types, watchers, endpoints, file names, error messages that
//! quote them) made safe to print on a terminal: control characters can retitle the
//! terminal, clear the screen or reorder what is shown.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as is: C0 controls (tab and newline included),
/// DEL, C1 controls, and the Unicode bidi controls (embeddings, overrides, isolates, marks).
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character replaced by its escape (`\u{1b}`), so the text stays
/// readable and unambiguous. Borrows when there is nothing to replace.
pub fn safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// How long ago `then` was, in the words the CLI and the TUI share: "just now" (under
/// 10 s, and a time in the future: clock skew), "45s ago", "3m ago", "2h ago", "4d ago".
pub fn ago(now: std::time::SystemTime, then: std::time::SystemTime) -> String {
    let secs = now.duration_since(then).map(|d| d.as_secs()).unwrap_or(0);
    match secs {
        0..=9 => "just now".into(),
        10..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(safe("dynamo_VllmWorker_1 é 😀"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(
            safe("a\u{1b}]2;PWNED\u{7}\u{1b}[2Jb"),
            "a\\u{1b}]2;PWNED\\u{7}\\u{1b}[2Jb"
        );
        assert_eq!(safe("x\ny\tz\u{7f}\u{9b}"), "x\\u{a}y\\u{9}z\\u{7f}\\u{9b}");
        assert_eq!(safe("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(
            safe("\u{2066}\u{2069}\u{200f}"),
            "\\u{2066}\\u{2069}\\u{200f}"
        );
    }
}

/// Most bytes `c` copies: a clipboard of a few names, ids or lines (terminals cap OSC 52
/// too; xterm at 100,000 bytes of base64).
pub const COPY_MAX: usize = 64 * 1024;

/// The terminal's clipboard sequence (OSC 52) that puts `text` in the clipboard: works
/// over ssh, and in tmux with `set-clipboard on`. `text` is made safe first (a pasted
/// control character must not run anything) and cut to [`COPY_MAX`] bytes.
pub fn osc52(text: &str) -> String {
    let mut t = safe(text).into_owned();
    if t.len() > COPY_MAX {
        let mut end = COPY_MAX;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
    }
    format!("\x1b]52;c;{}\x07", base64(t.as_bytes()))
}

/// Standard base64 with padding.
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    #[test]
    fn base64_as_rfc_4648_says() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o, "{i}");
        }
    }

    #[test]
    fn osc52_is_safe_and_bounded() {
        assert_eq!(osc52("foo"), "\x1b]52;c;Zm9v\x07");
        // A control character is escaped before it reaches the clipboard.
        assert_eq!(
            osc52("a\x1bb"),
            format!("\x1b]52;c;{}\x07", base64(b"a\\u{1b}b"))
        );
        let big = osc52(&"é".repeat(COPY_MAX));
        assert!(big.len() < COPY_MAX / 3 * 4 + 16, "{}", big.len());
    }
}
