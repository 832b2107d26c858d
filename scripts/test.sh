#!/usr/bin/env bash
# The test command: installs libtorch once, then runs the whole suite (unit and end-to-end).
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh oracle` to filter).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-torch.sh"
cd "$root"
# The named data sets (COCO, the SeqGAN oracle, MR, Multi30k) are never part of the checkout:
# tests that need them read the copies laid out beside it, where there are some, and say
# they skipped otherwise. `textgan data get NAME` fetches them into your own data directory.
if [ -z "${TEXTGAN_DATA:-}" ] && [ -d "$root/../shared/data" ]; then
  export TEXTGAN_DATA="$(cd "$root/../shared/data" && pwd)"
  echo "test.sh: TEXTGAN_DATA=$TEXTGAN_DATA" >&2
fi
# The fault-injection hooks (kills, signals, NaN updates, a rank that parts) are compiled in
# for the tests only; a plain `cargo test --release` skips the tests that need them.
cargo test --release --features test-hooks "$@"
