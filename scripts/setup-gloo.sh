#!/usr/bin/env bash
# Gloo's headers for multi-process training (the `dist` feature; build.rs compiles torch's
# c10d Gloo group against them): Debian's libgloo-dev, installed once when run as root, else
# named in one line. build.rs reruns when they appear, so the next build has Gloo.
set -euo pipefail
[ -e /usr/include/gloo/allreduce.h ] && exit 0
[ -n "${TEXTGAN_GLOO_INCLUDE:-}" ] && exit 0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup-gloo: installing Debian's libgloo-dev (once) for --nproc-per-node" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends libgloo-dev >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends libgloo-dev >/dev/null 2>&1; } ||
    echo "setup-gloo: libgloo-dev could not be installed; textgan builds without multi-process training" >&2
  exit 0
fi
# Not root: say once per checkout what to run (the error of --nproc-per-node says it again).
hint="$root/.venv/.gloo-hint-shown"
if [ ! -e "$hint" ]; then
  echo "setup-gloo: for multi-process training (--nproc-per-node), run once: sudo apt-get install libgloo-dev (the next ./textgan call rebuilds with it)" >&2
  mkdir -p "$root/.venv" && touch "$hint"
fi
