#!/usr/bin/env python3
"""Measures the TUI against a real etcd (release build, real pty in tmux):

1. an etcd put -> the frame that shows it (the dashboard's Live column), ROUNDS times;
   the put's time is taken right before the request is sent, so the number includes
   etcd's commit and the watch stream's delivery;
2. idle with the watch open: CPU, wake-ups (context switches) and frames over IDLE s.

The TUI writes its frame times itself (DYNAMO_CTL_TRACE). Usage:
  scripts/measure-discovery-tui.py BIN   (ROUNDS=20 IDLE=10 in the environment)
"""
import base64
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
ROUNDS = int(os.environ.get("ROUNDS", "20"))
IDLE = int(os.environ.get("IDLE", "10"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_us():
    return time.time_ns() // 1000


def frames(trace):
    try:
        with open(trace) as f:
            return [int(l.split()[1]) for l in f if l.startswith("frame ")]
    except FileNotFoundError:
        return []


def wait(what, cond, secs=15):
    deadline = time.time() + secs
    while not cond():
        if time.time() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.002)


def main():
    work = tempfile.mkdtemp()
    sock = f"dynctl-measure-disc-{os.getpid()}"
    client, peer = free_port(), free_port()
    etcd = subprocess.Popen(
        ["etcd", "--data-dir", f"{work}/etcd", "--name", "m",
         "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"m=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{client}"

    def put(key, value):
        body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                           "value": base64.b64encode(value.encode()).decode()}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{url}/v3/kv/put", body), timeout=5).read()

    def up():
        try:
            urllib.request.urlopen(urllib.request.Request(f"{url}/v3/kv/range", b'{"key":"AA=="}'),
                                   timeout=1).read()
            return True
        except OSError:
            return False

    try:
        wait("etcd", up)
        os.mkdir(f"{work}/state")
        shutil.copy(f"{ROOT}/fixtures/reference/after-planner-add.json", f"{work}/state/dynamo.json")
        trace = f"{work}/trace"
        subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
                        f"DYNAMO_CTL_TRACE={trace} exec {BIN} --state-dir {work}/state -n dynamo "
                        f"--etcd-endpoints {url}"], check=True)
        wait("the first frame", lambda: os.path.exists(trace) and "first-complete-frame" in open(trace).read())

        def screen():
            return subprocess.run(["tmux", "-L", sock, "capture-pane", "-p"],
                                  capture_output=True, text=True).stdout

        wait("discovery online", lambda: "etcd ●" in screen())
        lat = []
        for i in range(ROUNDS):
            # One more VllmWorker on `generate` each round: the Live column changes.
            n = len(frames(trace))
            t = now_us()
            put(f"v1/instances/dynamo/VllmWorker/generate/{0x1000 + i:x}",
                json.dumps({"type": "Endpoint", "component": "VllmWorker", "endpoint": "generate",
                            "namespace": "dynamo", "instance_id": 0x1000 + i,
                            "transport": {"tcp": "127.0.0.1:1/x"}}))
            wait("a frame", lambda: len(frames(trace)) > n, 5)
            lat.append((frames(trace)[n] - t) / 1000)
            time.sleep(0.05)
        wait("the last put on screen", lambda: any(
            " VllmWorker " in l and f" {ROUNDS}+" in l for l in screen().splitlines()), 5)
        lat.sort()
        print(f"etcd put -> frame showing it ({ROUNDS} puts): median {lat[len(lat) // 2]:.1f} ms, "
              f"min {lat[0]:.1f} ms, max {lat[-1]:.1f} ms")

        pid = int(subprocess.run(["tmux", "-L", sock, "display", "-p", "#{pane_pid}"],
                                 capture_output=True, text=True).stdout)
        tck = os.sysconf("SC_CLK_TCK")

        def cpu():
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return int(f[11]) + int(f[12])

        def ctx():
            out = {}
            for t in os.listdir(f"/proc/{pid}/task"):
                try:
                    s = open(f"/proc/{pid}/task/{t}/status").read()
                except FileNotFoundError:
                    continue
                out[t] = sum(int(l.split()[1]) for l in s.splitlines() if "ctxt_switches" in l)
            return out

        # Past the last flash (3 s): what is left is the watch itself.
        time.sleep(4)
        f0, c0, x0 = len(frames(trace)), cpu(), ctx()
        time.sleep(IDLE)
        f1, c1, x1 = len(frames(trace)), cpu(), ctx()
        switches = sum(x1[t] - x0[t] for t in x0 if t in x1)
        print(f"idle {IDLE} s with the etcd watch open: {c1 - c0} CPU ticks (1/{tck} s) = "
              f"{(c1 - c0) / tck / IDLE * 100:.3f}% of a core, {switches} context switches, "
              f"{f1 - f0} frames")
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        etcd.kill()
        etcd.wait()
        shutil.rmtree(work, ignore_errors=True)


main()
