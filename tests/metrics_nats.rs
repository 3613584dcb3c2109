//! Prefill queue depth against a real `nats-server -js` (Debian nats-server): Dynamo 0.3's
//! prefill queue made as its NATSQueue makes it, requests enqueued, fetched and acked as a
//! prefill worker does; plus servers that are down, silent, restarted or hostile.

mod nats_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dynamo_ctl::metrics::nats::{self, NatsError, NatsSource, NatsUrl, QueueDepth, prefill_queues};
use nats_support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The queues of these streams only (the shared server holds other tests' streams too).
fn only<'a>(qs: &'a [QueueDepth], names: &[&str]) -> Vec<&'a QueueDepth> {
    qs.iter()
        .filter(|q| names.contains(&q.stream.as_str()))
        .collect()
}

fn depth_of(qs: &[QueueDepth], name: &str) -> Option<(u64, u64)> {
    qs.iter()
        .find(|q| q.stream == name)
        .map(|q| (q.depth, q.ack_pending))
}

/// Polls until the queue of `name` reads (depth, ack_pending), or panics after 10 s (an ack
/// reaches the consumer's state a moment after the server confirmed it).
async fn wait_for(src: &mut NatsSource, name: &str, want: (u64, u64)) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let qs = src.poll(None).await.unwrap();
        if depth_of(&qs, name) == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: wanted {want:?}, got {:?}",
            depth_of(&qs, name)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn source(url: &str, timeout: Duration) -> NatsSource {
    NatsSource::new(NatsUrl::parse(url).unwrap(), timeout)
}

/// Depth N after N enqueued, N-k once k are fetched (k then ack-pending), ack-pending 0
/// once acked; for a model-named stream and a `<ns>_prefill_queue` one.
#[tokio::test]
async fn depth_follows_enqueue_fetch_and_ack() {
    let url = shared_url();
    let mut c = client(&url).await;
    for (stream, ns) in [
        ("deepseek-ai_DeepSeek-R1-Distill-Llama-8B", "dq1"),
        ("dq2_prefill_queue", "dq2"),
    ] {
        create_queue(&mut c, stream).await;
        enqueue(&mut c, stream, 7).await;

        let qs = prefill_queues(&url, Some(ns), T).await.unwrap();
        let q = only(&qs, &[stream]);
        assert_eq!(q.len(), 1, "{qs:?}");
        assert_eq!((q[0].depth, q[0].ack_pending, q[0].waiting), (7, 0, 0));
        assert_eq!(q[0].namespace_queue, stream == "dq2_prefill_queue");

        let acks = fetch(&mut c, stream, 3).await;
        let mut src = source(&url, T);
        wait_for(&mut src, stream, (4, 3)).await;
        ack(&mut c, &acks).await;
        wait_for(&mut src, stream, (4, 0)).await;
        // The same connection served every poll.
        assert_eq!(src.connects(), 1);
    }
}

/// With a namespace, its `<ns>_prefill_queue` is marked and model-named queues are still
/// returned; without one nothing is marked. Sorted by stream name.
#[tokio::test]
async fn namespace_queue_is_marked_and_model_queues_kept() {
    let url = shared_url();
    let mut c = client(&url).await;
    let names = [
        "nsm_prefill_queue",
        "nsm-Qwen_Qwen3-0_6B",
        "nsm-Llama-3_1-8B",
    ];
    for n in names {
        create_queue(&mut c, n).await;
    }
    enqueue(&mut c, "nsm-Llama-3_1-8B", 2).await;

    let qs = prefill_queues(&url, Some("nsm"), T).await.unwrap();
    let mine = only(&qs, &names);
    let got: Vec<(&str, u64, bool)> = mine
        .iter()
        .map(|q| (q.stream.as_str(), q.depth, q.namespace_queue))
        .collect();
    assert_eq!(
        got,
        [
            ("nsm-Llama-3_1-8B", 2, false),
            ("nsm-Qwen_Qwen3-0_6B", 0, false),
            ("nsm_prefill_queue", 0, true),
        ]
    );
    assert!(qs.windows(2).all(|w| w[0].stream < w[1].stream), "{qs:?}");
    assert_eq!(
        nats::preferred(&mine.into_iter().cloned().collect::<Vec<_>>())
            .unwrap()
            .stream,
        "nsm_prefill_queue"
    );

    let qs = prefill_queues(&url, None, T).await.unwrap();
    assert!(only(&qs, &names).iter().all(|q| !q.namespace_queue));
    assert_eq!(only(&qs, &names).len(), 3);

    // JSON field names the CLI prints.
    let v = serde_json::to_value(&qs[0]).unwrap();
    for k in [
        "stream",
        "depth",
        "ack_pending",
        "waiting",
        "namespace_queue",
    ] {
        assert!(v.get(k).is_some(), "{v}");
    }
}

/// Streams without a `worker-group` consumer are not prefill queues.
#[tokio::test]
async fn streams_without_worker_group_are_not_reported() {
    let url = shared_url();
    let mut c = client(&url).await;
    create_stream(&mut c, "nowg-bare").await;
    create_stream(&mut c, "nowg-other").await;
    create_consumer(&mut c, "nowg-other", "other-group").await;
    create_queue(&mut c, "nowg-queue").await;
    enqueue(&mut c, "nowg-bare", 3).await;
    enqueue(&mut c, "nowg-other", 3).await;

    let qs = prefill_queues(&url, None, T).await.unwrap();
    let mine: Vec<&str> = only(&qs, &["nowg-bare", "nowg-other", "nowg-queue"])
        .iter()
        .map(|q| q.stream.as_str())
        .collect();
    assert_eq!(mine, ["nowg-queue"]);
}

/// More streams than requests kept in flight at once: every queue is read.
#[tokio::test]
async fn many_streams() {
    let url = shared_url();
    let mut c = client(&url).await;
    let names: Vec<String> = (0..150).map(|i| format!("many-{i:03}")).collect();
    for (i, n) in names.iter().enumerate() {
        nats_support::api(
            &mut c,
            &format!("$JS.API.STREAM.CREATE.{n}"),
            serde_json::json!({"name": n, "subjects": [format!("{n}.*")], "storage": "memory"}),
        )
        .await;
        create_consumer(&mut c, n, "worker-group").await;
        enqueue(&mut c, n, i % 3).await;
    }
    let qs = prefill_queues(&url, None, T).await.unwrap();
    let mine: Vec<(String, u64)> = qs
        .iter()
        .filter(|q| q.stream.starts_with("many-"))
        .map(|q| (q.stream.clone(), q.depth))
        .collect();
    let want: Vec<(String, u64)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), (i % 3) as u64))
        .collect();
    assert_eq!(mine, want);
}

/// Nothing listening: an error that says so, not a timeout.
#[tokio::test]
async fn refused_port_is_a_prompt_clear_error() {
    let port = free_port();
    let err = prefill_queues(&format!("127.0.0.1:{port}"), None, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NatsError::Unreachable { why, .. } if why.contains("refused")),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("nats://127.0.0.1:{port}")),
        "{err}"
    );
}

/// A listener that accepts and never speaks: a timeout error, not a hang.
#[tokio::test]
async fn silent_server_times_out() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("nats://{}", l.local_addr().unwrap());
    let res = tokio::time::timeout(
        Duration::from_secs(20),
        prefill_queues(&url, None, Duration::from_millis(300)),
    )
    .await
    .expect("prefill_queues did not return within its timeout");
    assert_eq!(res, Err(NatsError::Timeout(Duration::from_millis(300))));
    drop(l);
}

/// A server without JetStream: said plainly (no responders), not a timeout.
#[tokio::test]
async fn server_without_jetstream() {
    let s = NatsServer::start_with(false);
    let err = prefill_queues(&s.url(), None, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(err, NatsError::NoJetStream);
}

/// Restarted between polls: the next poll answers, on a fresh connection. Down during a
/// poll: an error, then answers again once the server is back.
#[tokio::test]
async fn source_recovers_after_restart() {
    let mut s = NatsServer::start();
    let url = s.url();
    let mut c = client(&url).await;
    create_queue(&mut c, "restart_prefill_queue").await;
    enqueue(&mut c, "restart_prefill_queue", 4).await;
    drop(c);

    let mut src = source(&url, Duration::from_secs(5));
    let want = vec![QueueDepth {
        stream: "restart_prefill_queue".into(),
        depth: 4,
        ack_pending: 0,
        waiting: 0,
        namespace_queue: true,
    }];
    assert_eq!(src.poll(Some("restart")).await.unwrap().queues, want);
    assert_eq!(src.connects(), 1);

    s.stop();
    s.spawn();
    assert_eq!(src.poll(Some("restart")).await.unwrap().queues, want);
    assert_eq!(src.connects(), 2);

    s.stop();
    let err = src.poll(Some("restart")).await.unwrap_err();
    assert!(
        matches!(err, NatsError::Unreachable { .. } | NatsError::Closed),
        "{err:?}"
    );
    assert!(!src.connected());
    s.spawn();
    assert_eq!(src.poll(Some("restart")).await.unwrap().queues, want);
    assert_eq!(src.connects(), 3);
}

/// A fake NATS server: sends `info`, answers PING, and every PUB with a reply subject with
/// what `answer(subject, payload)` returns (nothing for `None`). Records the subjects.
async fn fake_server(
    info: &'static str,
    answer: impl Fn(&str, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    fake_server_raw(info, Duration::ZERO, move |subject, reply, payload| {
        let body = answer(subject, payload)?;
        Some(msg(reply, &body))
    })
    .await
}

/// `MSG <subject> 1 <len>` and its payload.
fn msg(subject: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("MSG {subject} 1 {}\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
    out
}

/// The fake server's loop: every connection (any number) gets `info` after `delay`, PONGs,
/// and for each PUB with a reply subject the raw bytes `answer(subject, reply, payload)`
/// returns, written as they are (after `delay` again).
async fn fake_server_raw(
    info: &'static str,
    delay: Duration,
    answer: impl Fn(&str, &str, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("nats://{}", l.local_addr().unwrap());
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let asked2 = asked.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let (asked, answer) = (asked2.clone(), answer.clone());
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                tokio::time::sleep(delay).await;
                if w.write_all(info.as_bytes()).await.is_err() {
                    return;
                }
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let args: Vec<&str> = line.split_whitespace().collect();
                    match args.first().copied() {
                        Some("PING") => {
                            let _ = w.write_all(b"PONG\r\n").await;
                        }
                        Some("PUB") => {
                            let Some(Ok(n)) = args.last().map(|n| n.parse::<usize>()) else {
                                return;
                            };
                            let mut payload = vec![0; n + 2];
                            if r.read_exact(&mut payload).await.is_err() {
                                return;
                            }
                            payload.truncate(n);
                            asked.lock().unwrap().push(args[1].to_string());
                            if args.len() == 4
                                && let Some(out) = answer(args[1], args[2], &payload)
                            {
                                tokio::time::sleep(delay).await;
                                if w.write_all(&out).await.is_err() {
                                    return;
                                }
                            }
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (url, asked)
}

const INFO: &str = "INFO {\"server_id\":\"fake\",\"version\":\"2.9.10\",\"headers\":true,\"max_payload\":1048576}\r\n";

/// Stream names are hostile text: names that are not a subject token are never put in a
/// subject, the rest come back escaped; names are paged.
#[tokio::test]
async fn hostile_stream_names() {
    let (url, asked) = fake_server(INFO, |subject, payload| {
        let body = match subject {
            "$JS.API.STREAM.NAMES" => {
                let req: serde_json::Value = serde_json::from_slice(payload).unwrap();
                if req["offset"] == 0 {
                    serde_json::json!({"total": 5, "offset": 0, "limit": 3, "streams": [
                        "evil\u{1b}]2;pwned\u{7}",
                        "a b\r\nPUB x 1",
                        "bidi\u{202e}txt",
                    ]})
                } else {
                    serde_json::json!({"total": 5, "offset": 3, "limit": 3,
                        "streams": ["ok.dotted", "gone"]})
                }
            }
            "$JS.API.CONSUMER.INFO.bidi\u{202e}txt.worker-group" => serde_json::json!({
                "name": "worker-group", "num_pending": 9, "num_ack_pending": 1, "num_waiting": 2
            }),
            "$JS.API.CONSUMER.INFO.gone.worker-group" => serde_json::json!({
                "error": {"code": 404, "err_code": 10014, "description": "consumer not found"}
            }),
            other => panic!("asked {other:?}"),
        };
        Some(body.to_string().into_bytes())
    })
    .await;
    let qs = prefill_queues(&url, None, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(qs.malformed.count, 0);
    assert_eq!(
        qs.queues,
        [QueueDepth {
            stream: "bidi\\u{202e}txt".into(),
            depth: 9,
            ack_pending: 1,
            waiting: 2,
            namespace_queue: false,
        }]
    );
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [
            "$JS.API.STREAM.NAMES",
            "$JS.API.STREAM.NAMES",
            "$JS.API.CONSUMER.INFO.bidi\u{202e}txt.worker-group",
            "$JS.API.CONSUMER.INFO.gone.worker-group",
        ]
    );
}

/// Broken answers are errors with the server's text escaped, never a panic.
#[tokio::test]
async fn malformed_answers_are_errors() {
    // Stream names that are not JSON: the whole source fails.
    let (url, _) = fake_server(INFO, |subject, _| {
        Some(match subject {
            "$JS.API.STREAM.NAMES" => b"{\"total\": \"\x1b[2J lots\"}".to_vec(),
            _ => b"{}".to_vec(),
        })
    })
    .await;
    let err = prefill_queues(&url, None, Duration::from_secs(10))
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, NatsError::Protocol(_)), "{err:?}");
    assert!(
        shown.contains("stream names") && !shown.contains('\u{1b}'),
        "{shown}"
    );

    // A server that wants TLS is refused (dynamo-ctl speaks plain NATS only).
    let (url, _) = fake_server(
        "INFO {\"server_id\":\"x\",\"tls_required\":true}\r\n",
        |_, _| None,
    )
    .await;
    let err = prefill_queues(&url, None, Duration::from_secs(10)).await;
    assert_eq!(err, Err(NatsError::TlsRequired));

    // Not NATS at all.
    let (url, _) = fake_server("HTTP/1.1 400 Bad Request\r\n\r\n", |_, _| None).await;
    let err = prefill_queues(&url, None, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, NatsError::Protocol(_)), "{err:?}");

    // An answer that never comes: the poll's timeout.
    let (url, _) = fake_server(INFO, |_, _| None).await;
    let err = prefill_queues(&url, None, Duration::from_millis(300)).await;
    assert_eq!(err, Err(NatsError::Timeout(Duration::from_millis(300))));
}

/// Streams whose `worker-group` consumer answers nonsense (a count of 1e30, 2^64, -1, 2.5,
/// no count, not JSON, an API error) are skipped and counted; the namespace's own queue
/// and the other queues stay; in `top` too (JSON and table).
#[tokio::test]
async fn nonsensical_consumers_are_skipped_and_counted() {
    let (url, _) = fake_server(INFO, |subject, _| {
        let info = |pending: &str| {
            format!(r#"{{"name":"worker-group","num_pending":{pending},"num_ack_pending":1,"num_waiting":0}}"#)
                .into_bytes()
        };
        Some(match subject {
            "$JS.API.STREAM.NAMES" => serde_json::json!({"total": 9, "streams": [
                "huge", "wrap", "neg", "frac", "none", "notjson", "apierr",
                "good_prefill_queue", "model-q",
            ]})
            .to_string()
            .into_bytes(),
            "$JS.API.CONSUMER.INFO.huge.worker-group" => info("1e30"),
            "$JS.API.CONSUMER.INFO.wrap.worker-group" => info("18446744073709551616"),
            "$JS.API.CONSUMER.INFO.neg.worker-group" => info("-1"),
            "$JS.API.CONSUMER.INFO.frac.worker-group" => info("2.5"),
            "$JS.API.CONSUMER.INFO.none.worker-group" => br#"{"name":"worker-group"}"#.to_vec(),
            "$JS.API.CONSUMER.INFO.notjson.worker-group" => b"\x1b[2J lots".to_vec(),
            "$JS.API.CONSUMER.INFO.apierr.worker-group" => {
                br#"{"error":{"code":500,"err_code":10008,"description":"boom"}}"#.to_vec()
            }
            "$JS.API.CONSUMER.INFO.good_prefill_queue.worker-group" => info("3"),
            "$JS.API.CONSUMER.INFO.model-q.worker-group" => info("7"),
            other => panic!("asked {other:?}"),
        })
    })
    .await;
    let qs = prefill_queues(&url, Some("good"), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        qs.iter()
            .map(|q| (q.stream.as_str(), q.depth, q.namespace_queue))
            .collect::<Vec<_>>(),
        [("good_prefill_queue", 3, true), ("model-q", 7, false)]
    );
    assert_eq!(qs.malformed.count, 7, "{:?}", qs.malformed);
    let first = qs.malformed.first.clone().unwrap();
    assert!(
        first.contains("stream apierr") && first.contains("boom"),
        "{first}"
    );
    assert_eq!(nats::preferred(&qs).unwrap().stream, "good_prefill_queue");

    let bin = env!("CARGO_BIN_EXE_dynamo-ctl");
    // The fake server runs on this test's runtime: `top` waits on the blocking pool, and
    // `timeout` ends it if it hangs.
    let top = |args: &[&str]| {
        let mut c = std::process::Command::new("timeout");
        c.arg("30")
            .arg(bin)
            .args(args)
            .env("NATS_SERVER", &url)
            .env_remove("DYNAMO_CTL_PROMETHEUS")
            .env("NO_COLOR", "1");
        async move {
            tokio::task::spawn_blocking(move || c.output().unwrap())
                .await
                .unwrap()
        }
    };
    let out = top(&["top", "good", "-o", "json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["prefill_queue"]["stream"], "good_prefill_queue");
    assert_eq!(v["prefill_queue"]["depth"], 3);
    assert_eq!(v["sources"][0]["status"], "ok");
    assert_eq!(v["sources"][0]["malformed"], 7);
    let out = top(&["top", "good"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("prefill queue: 3 pending (good_prefill_queue)"),
        "{text}"
    );
    assert!(text.contains("7 malformed streams left out"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
}

/// A server that answers the stream list after one large message for another inbox and
/// 4 MB of `+OK`: read in linear time (it took 13-33 s when each operation was cut
/// from the front of the buffer), so the poll answers within its timeout.
#[tokio::test]
async fn a_flood_after_a_large_message_is_read_linearly() {
    let (url, _) = fake_server_raw(INFO, Duration::ZERO, |subject, reply, _| {
        Some(match subject {
            "$JS.API.STREAM.NAMES" => {
                // Another reply subject of the client's inbox (`<inbox>.<n>`).
                let inbox = reply.rsplit_once('.').map_or(reply, |(i, _)| i);
                let mut out = msg(&format!("{inbox}.999999"), &vec![b'x'; 4 << 20]);
                out.extend(b"+OK\r\n".repeat((4 << 20) / 5));
                out.extend(msg(reply, br#"{"total":1,"streams":["floodq"]}"#));
                out
            }
            _ => msg(
                reply,
                br#"{"num_pending":2,"num_ack_pending":0,"num_waiting":0}"#,
            ),
        })
    })
    .await;
    let res = tokio::time::timeout(
        Duration::from_secs(60),
        prefill_queues(&url, None, Duration::from_secs(10)),
    )
    .await
    .expect("the poll outlived its own timeout");
    let qs = res.unwrap();
    assert_eq!(qs.queues.len(), 1);
    assert_eq!(qs.queues[0].depth, 2);
}

/// The timeout bounds the whole poll: a server slow at each step (each one within the
/// timeout, all together not) is a timeout, and so is one that floods `+OK` forever.
#[tokio::test]
async fn the_timeout_bounds_the_whole_poll() {
    let t = Duration::from_millis(800);
    // INFO after 0.5 s, each answer 0.5 s after its request: more than 0.8 s in all.
    let (slow, _) = fake_server_raw(INFO, Duration::from_millis(500), |subject, reply, _| {
        Some(match subject {
            "$JS.API.STREAM.NAMES" => msg(reply, br#"{"total":1,"streams":["q"]}"#),
            _ => msg(reply, br#"{"num_pending":1}"#),
        })
    })
    .await;
    let res = tokio::time::timeout(Duration::from_secs(20), prefill_queues(&slow, None, t))
        .await
        .expect("the poll outlived its own timeout");
    assert_eq!(res.unwrap_err(), NatsError::Timeout(t));
    // Every poll of a kept source too (connect, then a poll on the connection).
    let mut src = source(&slow, t);
    let res = tokio::time::timeout(Duration::from_secs(20), src.poll(None)).await;
    assert_eq!(res.unwrap().unwrap_err(), NatsError::Timeout(t));
    assert!(!src.connected());

    // An endless flood of +OK after the request.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flood = format!("nats://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let Ok((sock, _)) = l.accept().await else {
            return;
        };
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        let _ = w.write_all(INFO.as_bytes()).await;
        let mut line = String::new();
        // Up to the PING of the connect, answered; then +OK for ever.
        while r.read_line(&mut line).await.unwrap_or(0) > 0 && !line.contains("PING") {
            line.clear();
        }
        let _ = w.write_all(b"PONG\r\n").await;
        let chunk = b"+OK\r\n".repeat(1 << 14);
        while w.write_all(&chunk).await.is_ok() {}
    });
    let res = tokio::time::timeout(Duration::from_secs(20), prefill_queues(&flood, None, t))
        .await
        .expect("the poll outlived its own timeout");
    assert_eq!(res.unwrap_err(), NatsError::Timeout(t));
}

/// `dynamo-ctl top` with NATS as its only source ($NATS_SERVER, as Dynamo sets it): the
/// namespace's prefill queue depth in JSON and in the table; a dead NATS is an error.
#[tokio::test]
async fn top_shows_the_prefill_queue_depth() {
    let url = shared_url();
    let mut c = client(&url).await;
    create_queue(&mut c, "topq_prefill_queue").await;
    enqueue(&mut c, "topq_prefill_queue", 5).await;
    let bin = env!("CARGO_BIN_EXE_dynamo-ctl");
    let run = |args: &[&str], nats: &str| {
        std::process::Command::new(bin)
            .args(args)
            .env("NATS_SERVER", nats)
            .env_remove("DYNAMO_CTL_PROMETHEUS")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let out = run(&["top", "topq", "-o", "json"], &url);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["prefill_queue"]["stream"], "topq_prefill_queue");
    assert_eq!(v["prefill_queue"]["depth"], 5);
    assert_eq!(v["sources"][0]["kind"], "nats");
    assert_eq!(v["sources"][0]["status"], "ok");
    let out = run(&["top", "topq"], &url);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("prefill queue: 5 pending (topq_prefill_queue)"),
        "{text}"
    );
    // Nothing listens there: reported, exit 1.
    let dead = format!("nats://127.0.0.1:{}", free_port());
    let out = run(&["top", "topq", "-o", "json"], &dead);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sources"][0]["status"], "error");
    assert!(v["prefill_queue"].is_null());
}
