#!/usr/bin/env python3
"""Peak memory of dynamo-ctl with N registrations (default 100,000), release build:

1. N registrations in a real etcd (put through etcd's HTTP JSON gateway, 128 per
   transaction): peak RSS (`/usr/bin/time -f %M`) of `list`, `instances`,
   `instances -o json`, and the TUI's VmHWM (in tmux) on the picker and with a
   namespace of N/10 registrations open;
2. the same N registrations as Dynamo's file store (`<root>/v1/instances/<key>` files,
   touched before each run so none is stale).

Usage: scripts/measure-discovery-memory.py BIN [BIN...]   (N=100000 in the environment)
Each binary is measured in turn (e.g. a build from before a change, then after).
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
import urllib.parse
import urllib.request

BINS = sys.argv[1:]
N = int(os.environ.get("N", "100000"))
NAMESPACES = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what, cond, secs=120, fatal=True):
    deadline = time.time() + secs
    while not cond():
        if time.time() > deadline:
            if fatal:
                sys.exit(f"timed out waiting for {what}")
            return False
        time.sleep(0.05)
    return True


def registration(i):
    """Key (1.x layout) and value of registration i, as Dynamo 1.x writes them."""
    ns = f"mem{i % NAMESPACES}"
    iid = 0x694DA20B00000000 + i
    key = f"v1/instances/{ns}/backend/generate/{iid:x}"
    value = json.dumps({
        "type": "Endpoint", "component": "backend", "endpoint": "generate", "namespace": ns,
        "instance_id": iid,
        "transport": {"tcp": f"127.0.0.1:{20000 + i % 20000}/{iid:x}/{ns}/backend/generate"},
        "device_type": "cuda",
    }, separators=(",", ":"))
    return key, value


def peak_kb(cmd, env):
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=600)
    return int(r.stderr.strip().splitlines()[-1]), r.returncode


def tui_hwm(cmd, env, sock, ready):
    """The TUI's peak resident memory (VmHWM) once `ready(screen)` holds, in KiB."""
    envs = " ".join(f"{k}={v}" for k, v in env.items() if k in ("TMPDIR",))
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y",
                    "50", f"{envs} exec {' '.join(cmd)}"], check=True)
    try:
        def screen():
            return subprocess.run(["tmux", "-L", sock, "capture-pane", "-p"],
                                  capture_output=True, text=True).stdout
        t0 = time.time()
        shown = wait("the TUI to show the registrations", lambda: ready(screen()), 120, False)
        took = time.time() - t0
        time.sleep(2)  # a few more snapshots / frames
        pid = int(subprocess.run(["tmux", "-L", sock, "display", "-p", "#{pane_pid}"],
                                 capture_output=True, text=True).stdout)
        try:
            status = open(f"/proc/{pid}/status").read()
        except FileNotFoundError:
            return 0, "exited: " + screen().strip()[-200:]
        hwm = next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM"))
        note = f"shown after {took:.1f} s" if shown else "not shown within 120 s: " + \
            " ".join(screen().split())[-300:]
        return hwm, note
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


def measure(bin_, base, env, label, touch=lambda: None):
    per_ns = N // NAMESPACES
    for name, args in [("list", ["list"]), ("instances", ["instances"]),
                       ("instances -o json", ["instances", "-o", "json"])]:
        touch()
        t0 = time.time()
        kb, code = peak_kb([bin_] + base + args, env)
        extra = "" if code == 0 else f" (exit {code})"
        print(f"  {label:5} {name:28} {kb / 1024:7.1f} MiB  {time.time() - t0:.1f} s{extra}",
              flush=True)
    sock = f"dynctl-mem-{os.getpid()}"
    for name, args, ready in [
            ("TUI (picker)", [], lambda s: f"live {per_ns}" in s),
            (f"TUI (-n mem0, {per_ns} open)", ["-n", "mem0"],
             lambda s: "opened namespace mem0" in s)]:
        touch()
        kb, note = tui_hwm([bin_] + base + args, env, sock, ready)
        print(f"  {label:5} {name:28} {kb / 1024:7.1f} MiB  ({note})", flush=True)


def main():
    work = tempfile.mkdtemp()
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

    def up():
        try:
            urllib.request.urlopen(urllib.request.Request(f"{url}/v3/kv/range", b'{"key":"AA=="}'),
                                   timeout=1).read()
            return True
        except OSError:
            return False

    try:
        wait("etcd", up, 30)
        t = time.time()
        for start in range(0, N, 128):
            ops = []
            for i in range(start, min(start + 128, N)):
                k, v = registration(i)
                ops.append({"request_put": {"key": base64.b64encode(k.encode()).decode(),
                                            "value": base64.b64encode(v.encode()).decode()}})
            urllib.request.urlopen(urllib.request.Request(f"{url}/v3/kv/txn",
                                                          json.dumps({"success": ops}).encode()),
                                   timeout=30).read()
        print(f"put {N} registrations into etcd in {time.time() - t:.1f} s")
        os.mkdir(f"{work}/state")
        os.mkdir(f"{work}/tmp")
        bucket = f"{work}/kv/v1/instances"
        os.makedirs(bucket)
        names = []
        for i in range(N):
            k, v = registration(i)
            name = urllib.parse.quote(k[len("v1/instances/"):], safe="")
            names.append(f"{bucket}/{name}")
            with open(names[-1], "w") as f:
                f.write(v)
        print(f"wrote {N} file-store entries")

        def touch():
            for n in names:
                os.utime(n)

        # TMPDIR: no default file store from the machine's temp dir.
        env = dict(os.environ, TMPDIR=f"{work}/tmp", NO_COLOR="1")
        env.pop("ETCD_ENDPOINTS", None)
        env.pop("DYN_FILE_KV", None)
        for b in BINS:
            print(f"{b}:")
            # A generous --discovery-timeout: memory, not speed, on a busy machine.
            common = ["--state-dir", f"{work}/state", "--discovery-timeout", "60"]
            measure(b, common + ["--etcd-endpoints", url], env, "etcd")
            measure(b, common + ["--file-kv", f"{work}/kv", "--etcd-endpoints",
                                 "http://127.0.0.1:1"], env, "file", touch)
    finally:
        etcd.kill()
        etcd.wait()
        shutil.rmtree(work, ignore_errors=True)


main()
