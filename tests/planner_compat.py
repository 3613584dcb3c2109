#!/usr/bin/env python3
"""The reference planner's LocalConnector add/remove logic, re-implemented faithfully from
the rules in /work/shared/reference/README.md section 1 (dynamo 0.3.x
dynamo/planner/local_connector.py), flaws included: string-sorted free GPUs, exactly one GPU,
the whole process environment dumped into --worker-env, naive single quotes, and the lock
taken for the read and again for the write (not across both).

Usage: planner_compat.py add|remove STATE_FILE COMPONENT
Prints the watcher name it added or removed. Exits 1 with a message on a refused change.
Standard library only.
"""

import fcntl
import json
import os
import sys

GPU_TYPES = ("VllmWorker", "PrefillWorker")


class Lock:
    """filelock.FileLock on Linux: flock(LOCK_EX) on <dir>/<ns>.lock."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def lock_for(state_file):
    ns = os.path.basename(state_file)[: -len(".json")]
    return Lock(os.path.join(os.path.dirname(state_file) or ".", ns + ".lock"))


def load(state_file):
    with lock_for(state_file):
        with open(state_file, "r") as f:
            return json.load(f)


def save(state_file, state):
    with lock_for(state_file):
        with open(state_file, "w") as f:
            json.dump(state, f, indent=2)


def suffix_of(name, base):
    if name == base:
        return 0
    if name.startswith(base + "_"):
        rest = name[len(base) + 1 :]
        if rest.isdigit():
            return int(rest)
    return None


def add_component(state_file, component):
    state = load(state_file)
    ns = state["namespace"]
    comps = state["components"]
    base = f"{ns}_{component}"
    if base not in comps:
        raise SystemExit(f"planner: no base entry {base}")
    suffixes = [s for s in (suffix_of(n, base) for n in comps) if s]
    name = f"{base}_{max(suffixes) + 1 if suffixes else 1}"

    gpus = []
    if component in GPU_TYPES:
        used = set()
        for c in comps.values():
            for g in (c.get("resources") or {}).get("allocated_gpus", []) or []:
                used.add(str(g))
        info = state["environment"]["SYSTEM_RESOURCES"]["gpu_info"]
        free = sorted(str(g) for g in info if str(g) not in used)
        if not free:
            raise SystemExit("planner: no free GPU")
        gpus = [free[0]]

    env = dict(os.environ)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[0]
    env["DYNAMO_SERVICE_CONFIG"] = state["environment"]["DYNAMO_SERVICE_CONFIG"]
    base_cmd = comps[base]["cmd"].split("--worker-env")[0].strip()
    cmd = f"{base_cmd} --worker-env '{json.dumps([env])}' --custom-component-name '{name}'"
    comps[name] = {
        "watcher_name": name,
        "cmd": cmd,
        "resources": {"allocated_gpus": gpus},
    }
    save(state_file, state)
    return name


def remove_component(state_file, component):
    state = load(state_file)
    ns = state["namespace"]
    comps = state["components"]
    base = f"{ns}_{component}"
    candidates = [(suffix_of(n, base), n) for n in comps]
    candidates = [(s, n) for s, n in candidates if s is not None]
    if not candidates:
        raise SystemExit(f"planner: no {component}")
    _, target = max(candidates)
    if target == base:
        comps[base]["resources"] = {}
        comps[base]["lease"] = None
    else:
        del comps[target]
    save(state_file, state)
    return target


def main():
    op, state_file, component = sys.argv[1:4]
    if op == "add":
        print(add_component(state_file, component))
    elif op == "remove":
        print(remove_component(state_file, component))
    else:
        raise SystemExit(f"unknown op {op}")


if __name__ == "__main__":
    main()
