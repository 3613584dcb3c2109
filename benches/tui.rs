//! Benchmarks of the TUI's frames.
//!
//! cargo bench --bench tui -- --warm-up-time 1 --measurement-time 5
//!
//! - `dashboard/frame_*`: one dashboard frame (120x40) of a namespace with N types of one
//!   entry each, circus heard with every watcher running. The frame draws the rows joined
//!   when the sources answered ([`dynamo_ctl::rows`]), only those in view.
//! - `dashboard/join_*`: joining those rows again (what a circus, discovery or metrics
//!   answer costs once).

use std::fmt::Write;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use dynamo_ctl::arbiter::Watcher;
use dynamo_ctl::state::Document;
use dynamo_ctl::tui::app::{Action, App, Listing, LoadOutcome, Refresh};
use dynamo_ctl::tui::theme::{ColorMode, Theme};
use dynamo_ctl::tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app(n: usize) -> App {
    let mut text =
        String::from(r#"{"namespace":"big","circus_endpoint":"tcp://127.0.0.1:1","components":{"#);
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        write!(
            text,
            r#""big_T{i}":{{"watcher_name":"big_T{i}","cmd":"x --service-name T{i}","resources":{{}}}}"#
        )
        .unwrap();
    }
    text.push_str("}}");
    let doc = Document::parse(&text).unwrap();
    let mut app = App::new(PathBuf::from("/nonexistent"), false, Some("big".into()));
    let _ = app.start();
    let _ = app.update(Action::Refreshed(Refresh {
        listing: Listing::Found(vec![]),
        ns: Some(("big".into(), LoadOutcome::Loaded(Box::new(doc), None))),
    }));
    let _ = app.update(Action::ArbiterSeen {
        ns: "big".into(),
        endpoint: "tcp://127.0.0.1:1".into(),
        result: Ok((0..n)
            .map(|i| Watcher {
                name: format!("big_t{i}"),
                pids: vec![i as u32 + 1],
            })
            .collect()),
    });
    assert!(app.current.is_some());
    app
}

fn dashboard(c: &mut Criterion) {
    let mut g = c.benchmark_group("dashboard");
    g.sample_size(20);
    let theme = Theme::new(ColorMode::TrueColor);
    let banner = ui::banner();
    for n in [1_000, 20_000] {
        let mut a = app(n);
        let view = ui::View {
            theme: &theme,
            banner: &banner,
            spin: 0,
        };
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        g.bench_function(format!("frame_{n}_types"), |b| {
            b.iter(|| {
                term.draw(|f| ui::draw(f, black_box(&a), &view)).unwrap();
            })
        });
        g.bench_function(format!("join_{n}_types"), |b| {
            b.iter(|| {
                a.rows_stale = true;
                a.rejoin();
                black_box(a.rows.lines)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, dashboard);
criterion_main!(benches);
