#!/usr/bin/env bash
# One training run of a preset on the device tool's GPU, for the long runs of docs/RESULTS.md
# (RelGAN on the oracle and on COCO) that two CPU cores cannot finish. Build here, then use the
# device tool's `run` with carry = [target/release/textgan] and, for example,
#
#   command = scripts/gpu-run.sh relgan-oracle
#   command = scripts/gpu-run.sh relgan-coco --set gan.steps=1000
#
# The run directory is written under $OUT (or runs/gpu), so its metrics.jsonl, samples and
# train.log come back. One device command may last 10 minutes: the run stops cleanly at
# $LIMIT seconds (default 570) if it has not finished, and its last evaluation is kept.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/gpu-run.sh PRESET [textgan train options]" >&2; exit 2; }
preset="$1"; shift
out="${OUT:-runs/gpu}"
mkdir -p "$out"
py="${PYTHON:-python3}"
torch_lib="$("$py" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.txt" 2>&1
rm -rf "${out:?}/$preset"
start=$(date +%s)
timeout --signal=INT "${LIMIT:-570}" target/release/textgan train --out "$out/$preset" \
    --preset "$preset" --device cuda "$@" 2>&1 | tee "$out/$preset.log" | tail -n 40
echo "rc=${PIPESTATUS[0]} wall_s=$(( $(date +%s) - start ))" | tee -a "$out/$preset.log"
# The checkpoint is large; the metrics, samples and logs are what the results need.
rm -f "$out/$preset/checkpoint.safetensors"
