#!/usr/bin/env bash
# The test command: installs libtorch once, then runs the whole suite (unit and end-to-end).
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh oracle` to filter).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-torch.sh"
cd "$root"
cargo test --release "$@"
