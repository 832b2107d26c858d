#!/usr/bin/env bash
# The GPU half of docs/PERFORMANCE.md, for a machine that has a CUDA GPU and a Python with
# torch 2.11 (the `device` tool's H100). Build here, then run there with the binaries carried:
#
#   cargo build --release --all-targets
#   cp "$(cargo test --release --lib --no-run 2>&1 | grep -o 'target/release/deps/textgan-[0-9a-f]*')" \
#       target/release/unit-tests
#   cp "$(cargo test --release --test dist --no-run 2>&1 | grep -o 'target/release/deps/dist-[0-9a-f]*')" \
#       target/release/dist-tests
#   then the device tool's `run` with carry = [target/release/textgan, target/release/unit-tests,
#   target/release/dist-tests] and command = scripts/gpu-bench.sh
#
# It runs the GPU-only unit test (the graphed MLE step against the eager one), a short CUDA
# training run with train.cuda_graph, then every benchmark step on cuda beside the PyTorch
# reference. Results go to $OUT (or runs/gpu-bench) as JSON lines and logs.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-runs/gpu-bench}"
mkdir -p "$out"
py="${PYTHON:-python3}"
torch_lib="$("$py" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.txt" 2>&1
bin=target/release/textgan

if [ -x target/release/unit-tests ]; then
    target/release/unit-tests --test-threads 1 graphed cuda_graph adam >"$out/unit-tests.log" 2>&1
    echo "unit tests rc=$?" | tee -a "$out/summary.txt"
fi

rm -rf "$out/train-graph"
$bin train --out "$out/train-graph" --device cuda --set train.cuda_graph=true --set train.epochs=1 \
    >"$out/train-graph.log" 2>&1
echo "train cuda_graph rc=$?" | tee -a "$out/summary.txt"

bench() { $bin bench --device cuda "$@" >>"$out/bench.jsonl" 2>>"$out/bench.err"; echo "bench $* rc=$?" | tee -a "$out/summary.txt"; }
bench --size oracle --step mle --step sample --reps 30 --reference --python "$py"
bench --size oracle --step mle --cuda-graph --reps 100
bench --size lstm512 --step mle --cuda-graph --reps 30
bench --size lstm512 --size transformer --step mle --step sample --reps 10 --reference --python "$py"
bench --size oracle --step seqgan --step scratchgan --reps 5 --reference --python "$py"
bench --size oracle --step relgan --relgan-d-steps 1 --highway tied --reps 5 --reference --python "$py"
bench --size oracle --step relgan --reps 5 --reference --python "$py"

# NCCL (csrc/dist_nccl.cpp). On any GPU: an NCCL group of one process, its collectives on CUDA
# tensors and on CPU ones staged through the GPU (tests/dist.rs). On a machine with several
# GPUs: scripts/dist-bench.sh over NCCL, one process on one GPU against one process per GPU,
# the same global batch (the data-parallel overhead and speed-up, measured).
if [ -x target/release/dist-tests ]; then
    target/release/dist-tests --test-threads 1 the_backend >"$out/nccl-shim.log" 2>&1
    echo "nccl shim test rc=$?" | tee -a "$out/summary.txt"
fi
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ "$ngpu" -ge 2 ]; then
    TEXTGAN=$bin DIST_DEVICE=cuda DIST_NPROC=$ngpu DIST_BACKEND=nccl scripts/dist-bench.sh \
        >"$out/nccl-bench.txt" 2>&1
    echo "nccl dist-bench ($ngpu GPUs) rc=$?" | tee -a "$out/summary.txt"
else
    echo "nccl dist-bench skipped: $ngpu GPU(s), it needs 2 or more" | tee -a "$out/summary.txt"
fi
