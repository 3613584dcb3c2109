//! Unit tests of the NATS source (URLs, tokens, frames, the preferred queue).

use super::client::{pub_frame, status_of};

use super::*;

fn parse(s: &str) -> Result<NatsUrl, NatsError> {
    NatsUrl::parse(s)
}

#[test]
fn urls() {
    let u = parse("nats://127.0.0.1:4333").unwrap();
    assert_eq!((u.host(), u.port()), ("127.0.0.1", 4333));
    assert_eq!(u.to_string(), "nats://127.0.0.1:4333");
    assert_eq!(parse("localhost:5000").unwrap().port(), 5000);
    assert_eq!(
        parse("nats-host").unwrap().to_string(),
        "nats://nats-host:4222"
    );
    assert_eq!(parse("NATS://h/").unwrap().to_string(), "nats://h:4222");
    assert_eq!(
        parse("[::1]:4223").unwrap().to_string(),
        "nats://[::1]:4223"
    );
    assert_eq!(parse("nats://[::1]").unwrap().host(), "::1");
    let u = parse("nats://bob:s%40cret@h:1").unwrap();
    assert!(
        u.auth
            == Auth::User {
                user: "bob".into(),
                pass: "s@cret".into()
            }
    );
    assert_eq!(format!("{u} {u:?}"), "nats://h:1 NatsUrl(nats://h:1)");
    assert!(parse("tok@h").unwrap().auth == Auth::Token("tok".into()));
}

#[test]
fn bad_urls_are_refused_without_showing_credentials() {
    for bad in [
        "",
        "  ",
        "tls://h:4222",
        "ws://h",
        "h:0",
        "h:99999",
        "h:port",
        "::1:4222",
        "[::1",
        "nats://h:4222/path",
        "a:1,b:2",
        "h\u{1b}[2J:4222",
        "@h",
        "nats://",
    ] {
        assert!(
            matches!(parse(bad), Err(NatsError::BadUrl { .. })),
            "{bad:?} accepted"
        );
    }
    let e = parse("nats://bob:hunter2@h:x").unwrap_err().to_string();
    assert!(!e.contains("hunter2"), "{e}");
    assert!(e.contains("nats://***@h:x"), "{e}");
}

#[test]
fn flag_then_env() {
    let f = |flag: Option<&str>, env: Option<&str>| {
        url_from_env(flag.map(Into::into), env.map(Into::into)).map(|u| u.map(|u| u.to_string()))
    };
    assert_eq!(f(None, None), Ok(None));
    assert_eq!(f(None, Some("")), Ok(None));
    assert_eq!(f(None, Some("e:1")).unwrap().unwrap(), "nats://e:1");
    assert_eq!(f(Some("f:2"), Some("e:1")).unwrap().unwrap(), "nats://f:2");
    assert!(f(Some("tls://f"), Some("e:1")).is_err());
}

#[test]
fn tokens_and_status() {
    assert!(valid_token("Qwen_Qwen3-0_6B"));
    assert!(valid_token("dynamo_prefill_queue"));
    for bad in ["", "a.b", "a b", "a*", ">", "a\r\nPUB x 1", "\u{1b}[31m"] {
        assert!(!valid_token(bad), "{bad:?}");
    }
    assert_eq!(status_of(b"NATS/1.0 503\r\n\r\n"), Some(503));
    assert_eq!(status_of(b"NATS/1.0 404 No Messages\r\n\r\n"), Some(404));
    assert_eq!(status_of(b"NATS/1.0\r\nA: b\r\n\r\n"), None);
    let mut f = Vec::new();
    assert!(pub_frame(&mut f, "a b", None, b"").is_err());
    assert!(pub_frame(&mut f, "a", Some("r\n"), b"").is_err());
    pub_frame(&mut f, "a.b", Some("r.1"), b"xy").unwrap();
    assert_eq!(f, b"PUB a.b r.1 2\r\nxy\r\n");
}

#[test]
fn preferred_queue() {
    let q = |s: &str, ns| QueueDepth {
        stream: s.into(),
        depth: 0,
        ack_pending: 0,
        waiting: 0,
        namespace_queue: ns,
    };
    assert_eq!(preferred(&[]), None);
    assert_eq!(preferred(&[q("m", false)]).unwrap().stream, "m");
    assert_eq!(preferred(&[q("a", false), q("b", false)]), None);
    assert_eq!(
        preferred(&[q("a", false), q("ns_prefill_queue", true)])
            .unwrap()
            .stream,
        "ns_prefill_queue"
    );
}
