use std::io::Write;

use super::*;

fn append(p: &Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

fn numbered(from: usize, to: usize) -> String {
    (from..to).map(|i| format!("line {i}\n")).collect()
}

/// Reads until nothing more is waiting.
fn drain(t: &mut Tail) -> (Vec<String>, Vec<Note>) {
    let (mut lines, mut notes) = (Vec::new(), Vec::new());
    loop {
        let (l, n, more) = t.read_new(1 << 20);
        lines.extend(l);
        notes.extend(n);
        if !more {
            return (lines, notes);
        }
    }
}

#[test]
fn the_last_lines_of_a_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("output.log");
    append(&p, &numbered(0, 100_000));
    let (_, lines, note) = Tail::open(&p, 3, 4096);
    assert_eq!(note, None);
    assert_eq!(lines, ["line 99997", "line 99998", "line 99999"]);
    // Without a final newline, the unfinished line is held, not shown.
    append(&p, "half");
    let (mut t, lines, _) = Tail::open(&p, 2, 4096);
    assert_eq!(lines, ["line 99998", "line 99999"]);
    assert_eq!(t.take_partial().as_deref(), Some("half"));
    // More wanted than there are; an empty file; none wanted.
    let q = d.path().join("short.log");
    append(&q, "a\nb\n");
    assert_eq!(Tail::open(&q, 10, 4096).1, ["a", "b"]);
    assert_eq!(Tail::open(&q, 0, 4096).1, Vec::<String>::new());
    let e = d.path().join("empty.log");
    append(&e, "");
    assert_eq!(Tail::open(&e, 10, 4096).1, Vec::<String>::new());
}

#[test]
fn follows_appends_and_holds_an_unfinished_line_until_it_ends() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("output.log");
    append(&p, "one\n");
    let (mut t, lines, _) = Tail::open(&p, 10, 4096);
    assert_eq!(lines, ["one"]);
    assert_eq!(drain(&mut t).0, Vec::<String>::new());
    append(&p, "two\nthr");
    assert_eq!(drain(&mut t).0, ["two"]);
    append(&p, "ee\n");
    assert_eq!(drain(&mut t).0, ["three"]);
}

#[test]
fn a_huge_line_is_cut_with_a_mark_and_memory_stays_bounded() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("output.log");
    let big = "x".repeat(10 << 20);
    append(&p, &format!("before\n{big}\nafter\n"));
    let (mut t, lines, _) = Tail::open(&p, 3, 100);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "before");
    assert!(lines[1].starts_with(&"x".repeat(100)));
    assert!(lines[1].ends_with(&format!("[line cut: {} more bytes]", (10 << 20) - 100)));
    assert_eq!(lines[2], "after");
    // A huge line arriving in pieces is held at the cap too.
    for _ in 0..50 {
        append(&p, &"y".repeat(100_000));
        drain(&mut t);
        assert!(t.partial.len() <= 100);
    }
    append(&p, "\n");
    let got = drain(&mut t).0;
    assert_eq!(got.len(), 1);
    assert!(
        got[0].ends_with("[line cut: 4999900 more bytes]"),
        "{}",
        &got[0][90..]
    );
}

#[test]
fn a_file_of_one_line_longer_than_the_read_back_limit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("output.log");
    let f = std::fs::File::create(&p).unwrap();
    // Sparse: 80 MiB of zero bytes and no newline but the last.
    f.set_len(80 << 20).unwrap();
    drop(f);
    append(&p, "\n");
    let (_, lines, _) = Tail::open(&p, 5, 64);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with(CUT_START), "{}", &lines[0][..20]);
    assert!(lines[0].contains("[line cut:"));
}

#[test]
fn rotation_is_followed_without_loss_or_repeat() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("output.log");
    append(&p, &numbered(0, 10));
    let (mut t, first, _) = Tail::open(&p, 100, 4096);
    let mut seen = first;
    // Written, then rotated (the way circus does: rename, new file), before we look.
    append(&p, &numbered(10, 20));
    let rotate = |i: usize| {
        for k in (1..i).rev() {
            let from = format!("{}.{k}", p.display());
            if Path::new(&from).exists() {
                std::fs::rename(&from, format!("{}.{}", p.display(), k + 1)).unwrap();
            }
        }
        std::fs::rename(&p, format!("{}.1", p.display())).unwrap();
    };
    rotate(10);
    append(&p, &numbered(20, 30));
    let (l, notes) = drain(&mut t);
    seen.extend(l);
    assert!(notes.contains(&Note::Rotated), "{notes:?}");
    // Three rotations between two reads: the files in between are read too.
    append(&p, &numbered(30, 40));
    rotate(10);
    append(&p, &numbered(40, 50));
    rotate(10);
    append(&p, "line 50\nli");
    rotate(10);
    append(&p, "ne 51\n");
    seen.extend(drain(&mut t).0);
    let want: Vec<String> = (0..52).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, want);
}

#[test]
fn truncation_vanishing_and_coming_back_are_said() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("output.log");
    append(&p, &numbered(0, 5));
    let (mut t, _, _) = Tail::open(&p, 10, 4096);
    std::fs::write(&p, "fresh\n").unwrap();
    let (lines, notes) = drain(&mut t);
    assert_eq!(lines, ["fresh"]);
    assert_eq!(notes, [Note::Truncated]);
    std::fs::remove_file(&p).unwrap();
    let (lines, notes) = drain(&mut t);
    assert!(lines.is_empty());
    assert!(matches!(&notes[..], [Note::Missing(_)]), "{notes:?}");
    // Said once, not on every read.
    assert_eq!(drain(&mut t).1, []);
    append(&p, "back\n");
    let (lines, notes) = drain(&mut t);
    assert_eq!(lines, ["back"]);
    assert_eq!(notes, [Note::Reading]);
}

#[test]
fn a_missing_or_unreadable_file_is_a_note_not_an_error() {
    let d = tempfile::tempdir().unwrap();
    let (mut t, lines, note) = Tail::open(&d.path().join("nope.log"), 10, 4096);
    assert!(lines.is_empty());
    assert!(matches!(note, Some(Note::Missing(_))), "{note:?}");
    assert_eq!(drain(&mut t), (vec![], vec![]));
    // A directory where the file should be.
    let (_, _, note) = Tail::open(d.path(), 10, 4096);
    assert!(matches!(note, Some(Note::Unreadable(_))), "{note:?}");
}

#[test]
fn hostile_bytes_come_out_clean() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("output.log");
    append(
        &p,
        "\u{1b}]0;PWNED\u{7}\u{1b}[31mred\u{1b}[0m\u{1b}[2J\r\n\u{9b}1;1H\n",
    );
    let (_, lines, _) = Tail::open(&p, 10, 4096);
    assert_eq!(lines, ["red", ""]);
}
