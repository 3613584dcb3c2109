#!/usr/bin/env bash
# Runs every test of dynamo-ctl. Installs what the tests need when it is missing
# (Debian packages with apt-get), then runs formatting, lints and all tests. Nothing is
# skipped: a missing tool makes the run fail with a message naming it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v script >/dev/null || need_apt+=(bsdutils)
# etcd for the discovery tests (tests/discovery.rs start their own on free loopback ports).
command -v etcd >/dev/null || need_apt+=(etcd-server)
# The shells whose completions tests/cli_completions.rs runs, and groff for the man page.
command -v zsh >/dev/null || need_apt+=(zsh)
command -v fish >/dev/null || need_apt+=(fish)
command -v groff >/dev/null || need_apt+=(groff-base)
# nats-server for the prefill queue tests (tests/metrics_nats.rs start their own with -js).
command -v nats-server >/dev/null || need_apt+=(nats-server)
# Prometheus for the metrics tests (tests/metrics.rs start their own binary instance on a
# free loopback port; the Debian service, if it runs, is not used).
command -v prometheus >/dev/null || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# Python packages the tests run for real, in one venv reused between runs: circus (the
# arbiter of Dynamo 0.3.x deployments, tests/arbiter.rs).
if ! .venv/bin/python3 -c "import circus, sys; sys.exit(circus.__version__ != '0.19.0')" 2>/dev/null; then
  echo "test.sh: installing circus==0.19.0 into .venv"
  command -v python3 >/dev/null
  python3 -m venv .venv 2>/dev/null || {
    # Debian's python3 needs python3-venv for that.
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
    python3 -m venv .venv
  }
  .venv/bin/pip install -q --disable-pip-version-check circus==0.19.0
fi
# ai-dynamo-runtime: real Dynamo 1.x workers that register in discovery (tests/discovery.rs)
# and serve /metrics and /health (tests/metrics.rs).
# A 270 MB wheel: installed once, when missing.
if ! .venv/bin/python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('ai-dynamo-runtime') != '1.6.1')" 2>/dev/null; then
  echo "test.sh: installing ai-dynamo-runtime==1.6.1 into .venv"
  .venv/bin/pip install -q --disable-pip-version-check ai-dynamo-runtime==1.6.1
fi

# Snapshots must match what is committed; never write new ones here.
export INSTA_UPDATE=no
export CI="${CI:-true}"
# Tests drive their own terminals; don't let the caller's colour settings leak in.
unset NO_COLOR

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets 2>&1 | tee target/test-output.txt
# Summed for the record (cargo prints one result line per test binary).
awk '/^test result:/ {p+=$4; f+=$6} END {printf "%d passed, %d failed\n", p, f}' target/test-output.txt

# The release binary as it is installed (scripts/build-release.sh: static-pie on Linux
# glibc), run for real: a read, a change, and a host-name lookup (static glibc resolves
# `localhost` itself; a closed port is a clean error, exit 1).
echo "== the release binary (scripts/build-release.sh)"
BIN="$(scripts/build-release.sh)"
smoke="$(mktemp -d)"
trap 'rm -rf "$smoke"' EXIT
cp fixtures/demo/dynamo.json "$smoke/"
"$BIN" --version
"$BIN" --state-dir "$smoke" --no-discovery list > /dev/null
"$BIN" --state-dir "$smoke" --no-discovery add dynamo VllmWorker --state-only -o json 2>/dev/null \
  | grep -q '"op": "added"'
"$BIN" --state-dir "$smoke" --no-discovery show dynamo -o json | grep -q '"dynamo_VllmWorker_2"'
if "$BIN" --state-dir "$smoke" --etcd-endpoints http://localhost:1 instances > "$smoke/out" 2>&1; then
  echo "test.sh: instances against a closed port exited 0"; exit 1
fi
grep -q "localhost:1: Connection refused" "$smoke/out"
echo "release binary: ok"
