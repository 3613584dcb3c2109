"""Measures scaling through a real circus arbiter (run by scripts/measure-arbiter.sh).

add:    `dynamo-ctl add` from exec to exit (it exits once the new process runs), next to
        the floor: the same `add` + `start` sent straight to circus and `list NAME` polled
        every millisecond until a pid shows (and next to `circusctl add --start`, which is
        what an operator would type, Python start-up included).
remove: `dynamo-ctl remove` from exec to exit (the watcher is gone and the file updated),
        next to the moment the worker itself exited on SIGTERM (it writes a timestamp).
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import zmq

ROUNDS = int(os.environ.get("ROUNDS", "20"))
BIN = sys.argv[1]
VENV_BIN = os.path.dirname(sys.executable)

WORKER = r"""#!/bin/sh
out=$1; shift; name=base
while [ $# -gt 0 ]; do case "$1" in --custom-component-name) name=$2; shift ;; esac; shift; done
trap 'date +%s.%N > "$out/$name.term"; kill $child 2>/dev/null; exit 0' TERM
sleep 100000 &
child=$!
wait $child
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ms(xs):
    xs = sorted(xs)
    return "median %.1f ms, p90 %.1f ms, min %.1f ms" % (
        statistics.median(xs) * 1e3,
        xs[int(len(xs) * 0.9) - 1] * 1e3,
        xs[0] * 1e3,
    )


class Circus:
    def __init__(self, endpoint):
        self.ctx = zmq.Context()
        self.s = self.ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(endpoint)

    def call(self, command, **props):
        # Retried while circus is busy with another command, as dynamo-ctl does.
        while True:
            r = self.call_once(command, **props)
            if "already running" not in r.get("reason", ""):
                return r
            time.sleep(0.001)

    def call_once(self, command, **props):
        mid = uuid.uuid4().hex
        self.s.send_string(json.dumps({"id": mid, "command": command, "properties": props}))
        while True:
            if not self.s.poll(5000):
                raise RuntimeError("circus did not answer " + command)
            r = json.loads(self.s.recv())
            if r.get("id") == mid:
                return r


def main():
    root = tempfile.mkdtemp(prefix="measure-arbiter-")
    state, out = os.path.join(root, "state"), os.path.join(root, "out")
    os.makedirs(state)
    os.makedirs(out)
    worker = os.path.join(root, "worker.sh")
    with open(worker, "w") as f:
        f.write(WORKER)
    base_cmd = "/bin/sh %s %s" % (worker, out)
    endpoint = "tcp://127.0.0.1:%d" % free_port()
    with open(os.path.join(root, "circus.ini"), "w") as f:
        f.write(
            "[circus]\nendpoint = %s\npubsub_endpoint = tcp://127.0.0.1:%d\nstatsd = False\n\n"
            "[watcher:m_VllmWorker]\ncmd = %s\nnumprocesses = 1\ngraceful_timeout = 1\n"
            % (endpoint, free_port(), base_cmd)
        )
    gpus = [str(i) for i in range(ROUNDS + 2)]
    with open(os.path.join(state, "m.json"), "w") as f:
        json.dump(
            {
                "namespace": "m",
                "circus_endpoint": endpoint,
                "components": {
                    "m_VllmWorker": {
                        "watcher_name": "m_VllmWorker",
                        "cmd": base_cmd,
                        "resources": {"allocated_gpus": [0]},
                    }
                },
                "environment": {
                    "DYNAMO_SERVICE_CONFIG": "{}",
                    "SYSTEM_RESOURCES": {"total_gpus": len(gpus), "gpu_info": gpus},
                },
            },
            f,
        )
    circusd = subprocess.Popen(
        [os.path.join(VENV_BIN, "circusd"), os.path.join(root, "circus.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        c = Circus(endpoint)
        while True:
            try:
                if c.call("list", name="m_VllmWorker").get("pids"):
                    break
            except RuntimeError:
                pass
            time.sleep(0.05)

        opts = {"copy_env": True, "stop_children": True, "graceful_timeout": 86400,
                "respawn": False, "singleton": True, "env": {"CUDA_VISIBLE_DEVICES": "9"}}
        floor = []
        for i in range(ROUNDS):
            name = "floor_%d" % i
            t0 = time.perf_counter()
            r = c.call("add", name=name, cmd=base_cmd, args=[], options=opts, start=True)
            assert r["status"] == "ok", r
            while not c.call("list", name=name).get("pids"):
                time.sleep(0.001)
            floor.append(time.perf_counter() - t0)
        circusctl = []
        for i in range(min(ROUNDS, 10)):
            name = "ctl_%d" % i
            t0 = time.perf_counter()
            subprocess.run(
                [os.path.join(VENV_BIN, "circusctl"), "--endpoint", endpoint, "add", "--start",
                 name, base_cmd],
                check=True, stdout=subprocess.DEVNULL,
            )
            while not c.call("list", name=name).get("pids"):
                time.sleep(0.001)
            circusctl.append(time.perf_counter() - t0)
        for name in ["floor_%d" % i for i in range(ROUNDS)] + ["ctl_%d" % i for i in range(min(ROUNDS, 10))]:
            # The worker's TERM trap ends its child too.
            c.call("rm", name=name, nostop=False, waiting=True)

        add, remove, after_exit = [], [], []
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            subprocess.run([BIN, "--state-dir", state, "add", "m", "VllmWorker"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            add.append(time.perf_counter() - t0)
        time.sleep(0.2)  # let the workers set their TERM traps
        for i in range(ROUNDS, 0, -1):
            t0w = time.time()
            t0 = time.perf_counter()
            subprocess.run([BIN, "--state-dir", state, "remove", "m", "VllmWorker"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            took = time.perf_counter() - t0
            t1w = t0w + took
            with open(os.path.join(out, "m_VllmWorker_%d.term" % i)) as f:
                exited = float(f.read().strip())
            remove.append(took)
            after_exit.append(t1w - exited)

        print("add    dynamo-ctl add (exec to exit, process running): %s" % ms(add))
        print("       floor, add+start straight to circus until a pid: %s" % ms(floor))
        print("       circusctl add --start until a pid:               %s" % ms(circusctl))
        print("       dynamo-ctl over the floor: %.1f ms (median)"
              % ((statistics.median(add) - statistics.median(floor)) * 1e3))
        print("remove dynamo-ctl remove (exec to exit, watcher gone, file updated): %s" % ms(remove))
        print("       of which after the worker's own exit:                        %s" % ms(after_exit))
    finally:
        try:
            c = Circus(endpoint)
            for w in c.call("list").get("watchers", []):
                for pid in c.call("list", name=w).get("pids", []):
                    os.killpg(pid, 9)  # circus makes each worker a session leader
        except Exception:
            pass
        circusd.terminate()
        try:
            circusd.wait(10)
        except subprocess.TimeoutExpired:
            circusd.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
