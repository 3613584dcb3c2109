#!/usr/bin/env bash
# Builds the release binary to install, and prints its path.
#
# On Linux with glibc it is linked static-pie (`-C target-feature=+crt-static`, for the
# dynamo-ctl binary only: the dependencies are the same artifacts `cargo build --release`
# makes). A short command (`dynamo-ctl add NS TYPE`) then starts without the dynamic loader,
# its library lookups and the relocation of libc: about 1.4x the cost of a C program doing
# the same file work, against 1.9x for the dynamically linked build
# (scripts/measure-startup.sh measures both). It stays position-independent (ASLR).
# glibc 2.34+ has the `files` and `dns` name lookups built in, so host names resolve in a
# static binary; an NSS module other than those (nsswitch.conf) is loaded from the glibc
# the binary was built with, so install it on the machine it was built on, or build where
# it runs. Elsewhere (another libc, another OS) it is the plain `cargo build --release`.
#
# Usage: scripts/build-release.sh   (honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${CARGO_TARGET_DIR:-$PWD/target}/release/dynamo-ctl"
if [ "$(uname -s)" = Linux ] && ldd --version 2>&1 | grep -qiE 'glibc|gnu libc'; then
  cargo rustc --release --bin dynamo-ctl --quiet -- -C target-feature=+crt-static
else
  cargo build --release --quiet
fi
echo "$out"
