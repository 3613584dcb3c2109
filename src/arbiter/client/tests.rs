use super::*;

#[test]
fn endpoints_from_the_file_are_checked() {
    assert!(check_endpoint("tcp://127.0.0.1:5555").is_ok());
    assert!(check_endpoint("tcp://[::1]:5555").is_ok());
    assert!(check_endpoint("ipc:///tmp/circus.sock").is_ok());
    for bad in [
        "",
        "tcp://127.0.0.1",
        "tcp://:5",
        "tcp://h:99999",
        "inproc://x",
        "http://x:1",
        "tcp://a\x1b]2;x\x07:1",
    ] {
        assert!(check_endpoint(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_refused_port_is_reported_as_refused_not_as_a_timeout() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let mut c = Client::new(&format!("tcp://127.0.0.1:{port}"), Duration::from_secs(30)).unwrap();
    let e = c.list().unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(e.to_string().to_lowercase().contains("refused"), "{e}");
}

#[test]
fn ids_are_unique() {
    let a = unique("");
    let b = unique("");
    assert_ne!(a, b);
}
