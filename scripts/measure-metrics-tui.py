#!/usr/bin/env python3
"""Measures the TUI's load polling (release build, real pty in tmux):

1. CPU over IDLE s on a dashboard polling 3 sources every 2 s: a real Prometheus (the
   PromQL round), a direct scrape (Prometheus's own /metrics: a real exposition page of
   ~100 KB) and a real nats-server -js (the prefill queue); then the same with no source
   configured (no polls at all);
2. the time from a metrics answer reaching the event loop to the frame that shows it, and
   from asking to that frame (the whole round).

Usage: scripts/measure-metrics-tui.py BIN   (IDLE=20 in the environment)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = sys.argv[1]
IDLE = int(os.environ.get("IDLE", "20"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what, cond, secs=20):
    deadline = time.time() + secs
    while not cond():
        if time.time() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.02)


def answers(url):
    try:
        urllib.request.urlopen(url, timeout=1).read()
        return True
    except OSError:
        return False


def marks(trace, what):
    try:
        with open(trace) as f:
            return [int(l.split()[1]) for l in f if l.split()[0] == what]
    except FileNotFoundError:
        return []


def run_tui(sock, work, trace, extra):
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40",
                    f"DYNAMO_CTL_TRACE={trace} exec {BIN} --state-dir {work}/state -n dynamo "
                    f"--no-discovery --refresh 2 {extra}"], check=True)
    wait("the first frame", lambda: marks(trace, "first-complete-frame"))
    return int(subprocess.run(["tmux", "-L", sock, "display", "-p", "#{pane_pid}"],
                              capture_output=True, text=True).stdout)


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def main():
    work = tempfile.mkdtemp()
    sock = f"dynctl-measure-metrics-{os.getpid()}"
    prom_port, nats_port = free_port(), free_port()
    with open(f"{work}/prom.yml", "w") as f:
        f.write("global:\n  scrape_interval: 1s\nscrape_configs: []\n")
    prom = subprocess.Popen(["prometheus", f"--config.file={work}/prom.yml",
                             f"--storage.tsdb.path={work}/tsdb",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nats = subprocess.Popen(["nats-server", "-js", "-a", "127.0.0.1", "-p", str(nats_port),
                             "-sd", f"{work}/js"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tck = os.sysconf("SC_CLK_TCK")
    try:
        prom_url = f"http://127.0.0.1:{prom_port}"
        wait("prometheus", lambda: answers(f"{prom_url}/-/ready"))
        os.mkdir(f"{work}/state")
        # The demo namespace without its circus endpoint: no arbiter polls, so what is
        # measured is the metrics polling alone.
        with open(f"{ROOT}/fixtures/demo/dynamo.json") as f:
            doc = json.load(f)
        doc.pop("circus_endpoint", None)
        with open(f"{work}/state/dynamo.json", "w") as f:
            json.dump(doc, f, indent=2)

        # With three sources.
        trace = f"{work}/trace"
        pid = run_tui(sock, work, trace, f"--prometheus {prom_url} --metrics {prom_url}/metrics "
                                         f"--nats nats://127.0.0.1:{nats_port}")
        wait("two rounds", lambda: len(marks(trace, "metrics-seen")) >= 2)
        time.sleep(1)
        c0, r0 = cpu(pid), len(marks(trace, "metrics-seen"))
        time.sleep(IDLE)
        c1, r1 = cpu(pid), len(marks(trace, "metrics-seen"))
        print(f"polling 3 sources every 2 s, {IDLE} s: {r1 - r0} rounds, {c1 - c0} CPU ticks (1/{tck} s) "
              f"= {(c1 - c0) / tck / IDLE * 100:.2f}% of a core")
        frames, asked, seen = marks(trace, "frame"), marks(trace, "metrics-asked"), marks(trace, "metrics-seen")
        to_frame, round_trip = [], []
        for s in seen:
            f = min((f for f in frames if f >= s), default=None)
            a = max((a for a in asked if a <= s), default=None)
            if f is not None:
                to_frame.append((f - s) / 1000)
            if f is not None and a is not None:
                round_trip.append((f - a) / 1000)
        to_frame.sort()
        round_trip.sort()
        print(f"metrics answer -> its frame ({len(to_frame)} rounds): median {to_frame[len(to_frame) // 2]:.2f} ms, "
              f"max {to_frame[-1]:.2f} ms; ask -> frame (the whole round, 3 sources): median "
              f"{round_trip[len(round_trip) // 2]:.1f} ms, max {round_trip[-1]:.1f} ms")
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)

        # With none.
        trace2 = f"{work}/trace2"
        pid = run_tui(sock, work, trace2, "")
        time.sleep(1)
        c0 = cpu(pid)
        time.sleep(IDLE)
        c1 = cpu(pid)
        print(f"no metrics source, {IDLE} s: {len(marks(trace2, 'metrics-asked'))} rounds, {c1 - c0} CPU ticks "
              f"= {(c1 - c0) / tck / IDLE * 100:.2f}% of a core")
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        for p in (prom, nats):
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


main()
