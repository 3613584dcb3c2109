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
