#!/usr/bin/env python3
"""Peak memory and time of `dynamo-ctl top` against large and hostile metrics sources.

Usage: measure-metrics-hostile.py BINARY [BINARY...]

Serves, on 127.0.0.1 from this process (a threading http.server and an asyncio NATS fake):
  - /p300k/metrics   a /metrics page of 300k series: 30k workers x 10 series
  - /w300k/metrics   a /metrics page of 300k workers, one series each (the worker cap)
  - /b100k/metrics   one histogram of 100k distinct bucket bounds
  - /b250k/metrics   the same with 250k (26 MB, under the 32 MiB cap)
  - /prom30k/...     a Prometheus answering every query with 30k series
  - NATS             one large message for another inbox subject, then 8 MB of +OK,
                     then the real answers (a poll with a 2 s timeout)
and runs each BINARY on each case under /usr/bin/time -f '%M %e': peak RSS (MB) and
wall seconds. `top --window 0.5` scrapes twice (rates need two), half a second apart.
"""
import asyncio
import http.server
import json
import socketserver
import subprocess
import sys
import threading
from urllib.parse import parse_qs, urlparse

NS, COMP = "n", "c"


def line(name, wid, value, le=None):
    extra = f',le="{le}"' if le is not None else ""
    return (
        f'{name}{{dynamo_namespace="{NS}",dynamo_component="{COMP}",'
        f'worker_id="{wid:x}"{extra}}} {value}\n'
    )


def page_300k():
    out = []
    for w in range(30_000):
        out.append(line("dynamo_component_requests_total", w, 100 + w))
        out.append(line("dynamo_component_inflight_requests", w, 2))
        out.append(line("dynamo_component_errors_total", w, 1))
        out.append(line("dynamo_component_gpu_cache_usage_percent", w, 0.25))
        out.append(f'dynamo_component_uptime_seconds{{worker_id="{w:x}"}} 100\n')
        for le in ("0.1", "1", "+Inf"):
            out.append(line("dynamo_component_request_duration_seconds_bucket", w, 50, le))
        out.append(line("dynamo_component_request_duration_seconds_sum", w, 9))
        out.append(line("dynamo_component_request_duration_seconds_count", w, 50))
    return "".join(out).encode()


def page_workers(n):
    return "".join(line("dynamo_component_requests_total", w, 1) for w in range(n)).encode()


def page_buckets(n):
    out = [
        line("dynamo_component_request_duration_seconds_bucket", 1, i, f"{i * 1e-6:.6f}")
        for i in range(n)
    ]
    out.append(line("dynamo_component_request_duration_seconds_bucket", 1, n, "+Inf"))
    return "".join(out).encode()


def prom_answer(query, n=30_000):
    rows = []
    by_le = "le)" in query
    for i in range(n):
        metric = {"dynamo_namespace": NS, "dynamo_component": COMP}
        if by_le:
            metric["worker_id"] = f"{i // 10:x}"
            metric["le"] = ["0.1", "0.5", "1", "2", "5", "10", "20", "50", "100", "+Inf"][i % 10]
        else:
            metric["worker_id"] = f"{i:x}"
        rows.append({"metric": metric, "value": [1700000000.0, "1"]})
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": rows}}
    ).encode()


PAGES = {}
PROM = {}
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urlparse(self.path)
        if u.path.startswith("/prom30k/api/v1/query"):
            q = parse_qs(u.query).get("query", [""])[0]
            key = "le)" in q
            with LOCK:
                if key not in PROM:
                    PROM[key] = prom_answer(q)
                body = PROM[key]
        else:
            body = PAGES.get(u.path.split("/")[1], b"")
            if u.path.endswith("/health"):
                body = b'{"status":"ready","endpoints":{}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def nats_fake():
    """A NATS server that floods before answering the stream list."""
    info = b'INFO {"server_id":"fake","headers":true,"max_payload":1048576}\r\n'

    def msg(subject, body):
        return b"MSG %s 1 %d\r\n%s\r\n" % (subject.encode(), len(body), body)

    async def conn(r, w):
        w.write(info)
        while True:
            l = await r.readline()
            if not l:
                return
            a = l.decode(errors="replace").split()
            if not a:
                continue
            if a[0] == "PING":
                w.write(b"PONG\r\n")
            elif a[0] == "PUB":
                payload = await r.readexactly(int(a[-1]) + 2)
                if len(a) != 4:
                    continue
                subject, reply = a[1], a[2]
                if subject == "$JS.API.STREAM.NAMES":
                    inbox = reply.rsplit(".", 1)[0]
                    w.write(msg(inbox + ".999999", b"x" * (4 << 20)))
                    w.write(b"+OK\r\n" * ((8 << 20) // 5))
                    w.write(msg(reply, b'{"total":1,"streams":["q"]}'))
                else:
                    w.write(msg(reply, b'{"num_pending":1}'))
            await w.drain()

    loop = asyncio.new_event_loop()
    srv = loop.run_until_complete(asyncio.start_server(conn, "127.0.0.1", 0))
    port = srv.sockets[0].getsockname()[1]
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return port


def measure(binary, args, env=None):
    cmd = ["/usr/bin/time", "-f", "%M %e", binary] + args
    p = subprocess.run(
        ["timeout", "300"] + cmd,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", **(env or {})},
    )
    last = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    try:
        kb, secs = last.split()
        return f"{int(kb) / 1024:7.0f} MB {float(secs):6.2f} s (exit {p.returncode})"
    except ValueError:
        return f"failed (exit {p.returncode}): {p.stderr.strip()[-200:]}"


def main():
    bins = sys.argv[1:]
    if not bins:
        sys.exit(__doc__)
    print("generating pages...", file=sys.stderr)
    PAGES["p300k"] = page_300k()
    PAGES["w300k"] = page_workers(300_000)
    PAGES["b100k"] = page_buckets(100_000)
    PAGES["b250k"] = page_buckets(250_000)
    for k, v in PAGES.items():
        print(f"  /{k}/metrics: {len(v) / 1e6:.1f} MB", file=sys.stderr)
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    nats_port = nats_fake()
    scrape = lambda p: ["top", "--metrics", f"{base}/{p}/metrics", "--window", "0.5",
                        "--metrics-timeout", "120", "-o", "json"]
    cases = [
        ("/metrics page, 300k series (30k workers)", scrape("p300k"), None),
        ("/metrics page, 300k workers (1 series each)", scrape("w300k"), None),
        ("/metrics histogram, 100k buckets", scrape("b100k"), None),
        ("/metrics histogram, 250k buckets", scrape("b250k"), None),
        ("Prometheus, 30k series per query",
         ["top", "--prometheus", f"{base}/prom30k", "--metrics-timeout", "120", "-o", "json"],
         None),
        ("NATS: 4 MB message + 8 MB of +OK, timeout 2 s",
         ["top", "-o", "json", "--metrics-timeout", "2"],
         {"NATS_SERVER": f"nats://127.0.0.1:{nats_port}"}),
    ]
    for name, args, env in cases:
        print(name)
        for b in bins:
            print(f"  {b}: {measure(b, args, env)}", flush=True)


if __name__ == "__main__":
    main()
