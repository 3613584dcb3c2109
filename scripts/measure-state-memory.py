#!/usr/bin/env python3
"""Peak memory of dynamo-ctl on a big state file, release build.

Writes a state file of N components (default 200,000, about 111 MB, under the 256 MiB
cap) shaped like the planner's (watcher_name, cmd with --worker-env, resources with GPUs),
then measures the peak RSS (`/usr/bin/time -f %M`) of `list`, `show NS`, `add NS TYPE
--state-only` (a copy of the file each run), and the TUI's VmHWM (in tmux, once the
dashboard is drawn), each against the file's size (the target is at most 4x).

Usage: scripts/measure-state-memory.py BIN [BIN...]   (N=200000 in the environment)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BINS = sys.argv[1:]
N = int(os.environ.get("N", "200000"))
NS = "big"


def state(n):
    env = json.dumps([{"CUDA_VISIBLE_DEVICES": "0"}])
    comps = {}
    for i in range(n):
        ty = ["VllmWorker", "PrefillWorker", "Processor", "Router"][i % 4]
        name = f"{NS}_{ty}" if i < 4 else f"{NS}_{ty}_{i}"
        comps[name] = {
            "watcher_name": name,
            "cmd": "/opt/dynamo/venv/bin/python3 -m dynamo.sdk.cli.serve_dynamo graphs.agg:Frontend "
                   f"--service-name {ty} --worker-id $(CIRCUS.WID) --worker-env '{env}' "
                   f"--custom-component-name '{name}' --target dynamo",
            "resources": {"allocated_gpus": [] if ty in ("Processor", "Router") else [str(i % 8)]},
            "lease": 7587899101031805710 + i,
        }
    return {
        "namespace": NS,
        "circus_endpoint": "tcp://127.0.0.1:1",
        "components": comps,
        "environment": {
            "DYNAMO_SERVICE_CONFIG": "{}",
            "SYSTEM_RESOURCES": {"total_gpus": 1024, "gpu_info": [str(g) for g in range(1024)]},
        },
    }


def peak(cmd, env):
    out = subprocess.run(["/usr/bin/time", "-f", "%M %e"] + cmd, env=env,
                         capture_output=True, text=True)
    kb, secs = out.stderr.strip().splitlines()[-1].split()
    return int(kb), float(secs), out.returncode, out.stderr


def tui_peak(bin_, d, env):
    sess = f"stmem{os.getpid()}"
    cmd = f"{bin_} --state-dir {d} -n {NS}"
    subprocess.run(["tmux", "new-session", "-d", "-s", sess, "-x", "120", "-y", "40", cmd], env=env)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", sess],
                                    capture_output=True, text=True).stdout
            if f"namespace {NS}" in screen and "VllmWorker" in screen:
                break
            time.sleep(0.2)
        else:
            return None
        pid = subprocess.run(["tmux", "list-panes", "-t", sess, "-F", "#{pane_pid}"],
                             capture_output=True, text=True).stdout.strip()
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", sess], capture_output=True)


def main():
    root = tempfile.mkdtemp(prefix="dynamo-ctl-statemem-")
    try:
        src = os.path.join(root, "orig.json")
        with open(src, "w") as f:
            json.dump(state(N), f, indent=2)
        size_mb = os.path.getsize(src) / 1e6
        print(f"state file: {N} components, {size_mb:.1f} MB")
        env = {k: v for k, v in os.environ.items()
               if k not in ("ETCD_ENDPOINTS", "DYN_FILE_KV", "NO_COLOR")}
        d = os.path.join(root, "state")
        os.mkdir(d)
        for bin_ in BINS:
            print(f"== {bin_}")
            for what, args in [
                ("list", ["list"]),
                ("show", ["show", NS]),
                ("add --state-only", ["add", NS, "VllmWorker", "--state-only"]),
            ]:
                shutil.copy(src, os.path.join(d, f"{NS}.json"))
                kb, secs, code, err = peak([bin_, "--no-discovery", "--state-dir", d] + args, env)
                note = "" if code == 0 else f"  (exit {code}: {err.strip().splitlines()[0][:100]})"
                print(f"{what:18} peak {kb / 1024:7.1f} MiB  {kb * 1024 / 1e6 / size_mb:4.2f}x the file  {secs:5.2f} s{note}")
            shutil.copy(src, os.path.join(d, f"{NS}.json"))
            kb = tui_peak(bin_, d, env)
            if kb is None:
                print("TUI               did not draw the dashboard within 300 s")
            else:
                print(f"{'TUI (dashboard)':18} peak {kb / 1024:7.1f} MiB  {kb * 1024 / 1e6 / size_mb:4.2f}x the file")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
