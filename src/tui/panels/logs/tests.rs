use super::*;
use std::path::PathBuf;

fn d() -> Data {
    crate::tui::app::App::new(PathBuf::new(), false, None).data
}

fn src(w: &str, s: Stream) -> Source {
    Source {
        watcher: w.into(),
        stream: s,
        file: Ok(PathBuf::from(format!("/l/{w}/{}", s.dynamo_file()))),
    }
}

fn opened(cap: usize) -> LogView {
    let mut p = LogView::new("W", false, cap);
    p.on_log(LogNews::Opened {
        sources: vec![src("W", Stream::Stdout), src("W", Stream::Stderr)],
        first: Batch {
            lines: vec![(0, "out 0".into()), (1, "err 0".into())],
            notes: vec![],
        },
        handle: LogHandle::default(),
    });
    p
}

fn lines(i: usize, from: usize, to: usize) -> LogNews {
    LogNews::Lines(Batch {
        lines: (from..to)
            .map(|k| (i, format!("{} {k}", if i == 0 { "out" } else { "err" })))
            .collect(),
        notes: vec![],
    })
}

fn texts(p: &LogView) -> Vec<String> {
    p.view().iter().map(|e| e.text.clone()).collect()
}

#[test]
fn keeps_at_most_the_cap_per_stream_and_merges_in_arrival_order() {
    let mut p = opened(3);
    p.on_log(lines(0, 1, 10));
    assert_eq!(texts(&p), ["out 7", "out 8", "out 9"]);
    p.on_cmd(Cmd::Stream, &d());
    assert_eq!(texts(&p), ["err 0"]);
    p.on_log(lines(1, 1, 2));
    p.on_cmd(Cmd::Merge, &d());
    // err 0 came with the first lines, before out 7.
    assert_eq!(texts(&p), ["err 0", "out 7", "out 8", "out 9", "err 1"]);
}

#[test]
fn space_stops_following_and_counts_what_comes_then_resumes() {
    let mut p = opened(100);
    p.on_cmd(Cmd::Follow, &d());
    assert!(!p.follow);
    p.on_log(lines(0, 1, 6));
    assert_eq!(texts(&p), ["out 0"], "the view stays as it was");
    assert_eq!(p.held_count, 5);
    p.on_cmd(Cmd::Follow, &d());
    assert!(p.follow);
    assert_eq!(p.held_count, 0);
    assert_eq!(texts(&p).len(), 6);
    // Scrolling up stops following too; G resumes.
    p.on_cmd(Cmd::Up, &d());
    assert!(!p.follow);
    p.on_cmd(Cmd::Bottom, &d());
    assert!(p.follow);
}

#[test]
fn search_moves_between_matches_and_copy_takes_the_match() {
    let mut p = opened(100);
    p.on_log(lines(0, 1, 50));
    p.scroll.fit(50, 10);
    p.search.input.set_value("out 1");
    let out = p.on_input(InputOutcome::Submit("out 1".into()), &d());
    assert!(out.is_empty());
    assert_eq!(p.current, Some(19), "the last match at or above the bottom");
    p.on_cmd(Cmd::PrevMatch, &d());
    assert_eq!(p.current, Some(18));
    p.on_cmd(Cmd::NextMatch, &d());
    assert_eq!(p.current, Some(19));
    assert!(!p.follow);
    let out = p.on_cmd(Cmd::Copy, &d());
    assert!(
        matches!(&out[0], Outcome::Effect(Effect::Copy(t)) if t == "out 19"),
        "{out:?}"
    );
    assert!(matches!(&out[1], Outcome::Say(_, m) if m.contains("copied line 20")));
    // Esc clears the search first, then closes.
    assert!(p.on_cmd(Cmd::Close, &d()).is_empty());
    assert!(matches!(p.on_cmd(Cmd::Close, &d())[..], [Outcome::Pop]));
}

#[test]
fn notes_are_kept_per_source_and_a_truncation_is_said() {
    let mut p = opened(100);
    let out = p.on_log(LogNews::Lines(Batch {
        lines: vec![],
        notes: vec![
            (0, Note::Missing("/l/W/output.log does not exist".into())),
            (1, Note::Truncated),
        ],
    }));
    assert_eq!(
        p.notes[0].as_deref(),
        Some("W stdout: /l/W/output.log does not exist")
    );
    assert!(matches!(&out[..], [Outcome::Say(_, m)] if m.contains("truncated")));
    p.on_log(LogNews::Lines(Batch {
        lines: vec![],
        notes: vec![(0, Note::Reading)],
    }));
    assert_eq!(p.notes[0], None);
}
