#!/usr/bin/env python3
"""Measures the TUI against a real etcd (release build, real pty in tmux):

1. an etcd put -> the frame that shows it (the dashboard's Live column), ROUNDS times;
   the put's time is taken right before the request is sent, so the number includes
   etcd's commit and the watch stream's delivery;
2. idle with the watch open: CPU, wake-ups (context switches) and frames over IDLE s;
3. 10,000 registrations of one namespace: exec -> the first complete frame (snapshot
   loaded and drawn), the TUI's resident memory, and key -> frame in the
   registered-instances panel (`i`, then `j`).

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
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)

        # 10,000 registrations of `big`, in transactions of 128 puts (etcd's default cap).
        n_big = 10_000
        t = time.time()
        for start in range(0, n_big, 128):
            ops = []
            for i in range(start, min(start + 128, n_big)):
                key = f"v1/instances/big/backend/generate/{0x10000 + i:x}"
                value = json.dumps({"type": "Endpoint", "component": "backend", "endpoint": "generate",
                                    "namespace": "big", "instance_id": 0x10000 + i,
                                    "transport": {"tcp": f"127.0.0.1:{20000 + i % 1000}/{0x10000 + i:x}"}})
                ops.append({"request_put": {"key": base64.b64encode(key.encode()).decode(),
                                            "value": base64.b64encode(value.encode()).decode()}})
            urllib.request.urlopen(urllib.request.Request(f"{url}/v3/kv/txn",
                                                          json.dumps({"success": ops}).encode()),
                                   timeout=10).read()
        print(f"put {n_big} registrations in {time.time() - t:.1f} s")
        trace2 = f"{work}/trace2"
        t0 = now_us()
        subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
                        f"DYNAMO_CTL_TRACE={trace2} exec {BIN} --state-dir {work}/state -n big "
                        f"--etcd-endpoints {url}"], check=True)
        wait("the first frame", lambda: os.path.exists(trace2) and "first-complete-frame" in open(trace2).read(), 60)
        wait("10,000 on screen", lambda: "backend" in screen() and "10000" in screen(), 60)
        first = next(int(l.split()[1]) for l in open(trace2) if l.startswith("first-complete-frame"))
        shown = len(frames(trace2))
        last = frames(trace2)[-1]
        pid = int(subprocess.run(["tmux", "-L", sock, "display", "-p", "#{pane_pid}"],
                                 capture_output=True, text=True).stdout)
        rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS"))
        print(f"10,000 registrations: exec -> first complete frame {(first - t0) / 1000:.0f} ms, "
              f"-> the frame with all of them {(last - t0) / 1000:.0f} ms; TUI resident memory {rss / 1024:.1f} MiB")
        keys = []

        def marks(what):
            with open(trace2) as f:
                return [int(l.split()[1]) for l in f if l.startswith(what + " ")]

        for k in ["i"] + ["j", "k"] * 10:
            k0 = len(marks("key"))
            subprocess.run(["tmux", "-L", sock, "send-keys", k])
            wait("the key", lambda: len(marks("key")) > k0, 10)
            key_t = marks("key")[k0]
            wait("its frame", lambda: any(f >= key_t for f in frames(trace2)), 10)
            keys.append((min(f for f in frames(trace2) if f >= key_t) - key_t) / 1000)
        panel, moves = keys[0], sorted(keys[1:])
        print(f"10,000 registrations: key -> frame: i (open the panel) {panel:.1f} ms, "
              f"j/k in it median {moves[len(moves) // 2]:.1f} ms, max {moves[-1]:.1f} ms")
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        etcd.kill()
        etcd.wait()
        shutil.rmtree(work, ignore_errors=True)


main()
