//! Hostile arbiters: a ZeroMQ ROUTER on a free loopback port, in a thread, answering each
//! request as the test says (late, busy, refusing, huge, or with a flood of replies for
//! someone else). Dropping it stops the thread.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// What the fake does with one request.
pub enum Answer {
    /// This JSON object, with the request's id put in.
    Json(Value),
    /// These bytes as they are (build them with the request's id to be taken as the answer).
    Raw(Vec<u8>),
    /// The answer after a pause (the fake answers nothing else meanwhile).
    Later(Duration, Box<Answer>),
    /// A message of several frames, each of these bytes.
    Parts(Vec<Vec<u8>>),
    /// These bytes over and over, as fast as the socket takes them, until the fake is
    /// dropped; the request is never answered.
    Flood(Vec<u8>),
    /// No answer.
    Silence,
}

/// One request as the fake saw it.
pub struct Request {
    pub id: String,
    pub command: String,
    pub properties: Value,
}

impl Request {
    /// `properties.name`, when the request names a watcher.
    pub fn name(&self) -> Option<&str> {
        self.properties.get("name").and_then(Value::as_str)
    }

    /// `{"id": ID, "status": "ok", <extra>}` as bytes, with `tail` (raw JSON, e.g. a huge
    /// array) as the value of `key`.
    pub fn ok_with_raw(&self, key: &str, tail: &[u8]) -> Vec<u8> {
        let mut out = format!(r#"{{"id": "{}", "status": "ok", "{key}": "#, self.id).into_bytes();
        out.extend_from_slice(tail);
        out.push(b'}');
        out
    }
}

pub struct Fake {
    pub endpoint: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    pub fn start(answer: impl Fn(&Request) -> Answer + Send + 'static) -> Fake {
        let ctx = zmq::Context::new();
        let s = ctx.socket(zmq::ROUTER).unwrap();
        s.set_linger(0).unwrap();
        s.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = s.get_last_endpoint().unwrap().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let _ctx = ctx;
            while !stopping.load(Ordering::Relaxed) {
                if s.poll(zmq::POLLIN, 20).unwrap_or(0) == 0 {
                    continue;
                }
                let Ok(parts) = s.recv_multipart(0) else {
                    continue;
                };
                let [peer, body] = &parts[..] else { continue };
                let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let req = Request {
                    id: v["id"].as_str().unwrap_or_default().to_string(),
                    command: v["command"].as_str().unwrap_or_default().to_string(),
                    properties: v["properties"].clone(),
                };
                let mut a = answer(&req);
                if let Answer::Later(pause, next) = a {
                    std::thread::sleep(pause);
                    a = *next;
                }
                match a {
                    Answer::Json(mut v) => {
                        v["id"] = json!(req.id);
                        let _ = s.send_multipart([&peer[..], v.to_string().as_bytes()], 0);
                    }
                    Answer::Raw(b) => {
                        let _ = s.send_multipart([&peer[..], &b[..]], 0);
                    }
                    Answer::Parts(ps) => {
                        let mut all = vec![peer.clone()];
                        all.extend(ps);
                        let _ = s.send_multipart(all, 0);
                    }
                    Answer::Flood(b) => {
                        // The ROUTER drops what the peer's queue does not take.
                        while !stopping.load(Ordering::Relaxed) {
                            let _ = s.send_multipart([&peer[..], &b[..]], zmq::DONTWAIT);
                        }
                    }
                    Answer::Later(..) | Answer::Silence => {}
                }
            }
        });
        Fake {
            endpoint,
            stop,
            thread: Some(thread),
        }
    }

    /// A state directory with namespace `ns` (one VllmWorker, `<ns>_VllmWorker`) whose
    /// circus endpoint is this fake.
    pub fn state_dir(&self, ns: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write_state(dir.path(), ns, &self.endpoint);
        dir
    }
}

pub fn write_state(dir: &Path, ns: &str, endpoint: &str) {
    let v = json!({
        "namespace": ns,
        "circus_endpoint": endpoint,
        "components": {
            format!("{ns}_VllmWorker"): {
                "watcher_name": format!("{ns}_VllmWorker"),
                "cmd": "true",
                "resources": {"allocated_gpus": [0]},
            }
        },
        "environment": {
            "DYNAMO_SERVICE_CONFIG": "{}",
            "SYSTEM_RESOURCES": {"total_gpus": 2, "gpu_info": ["0", "1"]},
        },
    });
    std::fs::write(dir.join(format!("{ns}.json")), v.to_string()).unwrap();
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
