#!/usr/bin/env bash
# Data-parallel overhead on one machine: one process of 2 threads against two processes of 1
# thread each (`--nproc-per-node 2`, Gloo over loopback), for the MLE step (split across the
# ranks) and the SeqGAN step (its generator step's rollouts split across the ranks; the
# discriminator's step and the sampling still run whole on every rank), and COCO's evaluation
# (test NLL, sampling, BLEU and Self-BLEU, each half per rank). The last row is one rank of
# one thread doing a whole evaluation: what each rank did before the evaluation was split.
# Per-step time = (wall of a long run - wall of a short run) / (step difference), so start-up,
# rendezvous and the final evaluation cancel. Run it on an otherwise idle machine.
#   scripts/dist-bench.sh            (uses target/release/textgan; TEXTGAN=... for another)
# On GPUs (scripts/gpu-bench.sh does this on a machine with several): DIST_DEVICE=cuda
# DIST_NPROC=N DIST_BACKEND=nccl compare one process on one GPU with N processes, one GPU each.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${TEXTGAN:-$root/target/release/textgan}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
n="${DIST_NPROC:-2}"
data="--device ${DIST_DEVICE:-cpu} --backend ${DIST_BACKEND:-auto} --set data.grammar_train=4000 --set data.grammar_test=200 --set train.eval_samples=10"

wall() { # seconds the command takes
  local s e
  s=$(date +%s.%N)
  "$@" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}

per_step() { # label, short, long, command... (STEPS is replaced by the step count)
  local label=$1 short=$2 long=$3
  shift 3
  local a b
  rm -rf "$tmp/r"
  a=$(wall "${@//STEPS/$short}")
  rm -rf "$tmp/r"
  b=$(wall "${@//STEPS/$long}")
  printf '%-44s %8.1f ms/step\n' "$label" "$(echo "($b - $a) * 1000 / ($long - $short)" | bc -l)"
}

eval_time() { # label, command...: mean seconds of an evaluation (metrics.jsonl's eval_s)
  local label=$1
  shift
  rm -rf "$tmp/r"
  "$@" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  printf '%-44s %8.2f s/evaluation\n' "$label" \
    "$(jq -s '[.[] | select(.eval_s != null) | .eval_s] | add / length' "$tmp/r/metrics.jsonl")"
}

mle="--set train.epochs=1000 --set train.eval_every=100000"
seqgan="--set train.epochs=0 --set gan.algorithm=seqgan --set gan.rollouts=16 --set gan.d_steps=1 \
 --set gan.d_pretrain_steps=0 --set gan.eval_every=100000 --set gan.batch_size=64"
echo "textgan $("$bin" --version | cut -d' ' -f2), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p'))"
per_step "MLE, 1 process x 2 threads" 20 220 env OMP_NUM_THREADS=2 "$bin" train --out "$tmp/r" $data $mle --max-steps STEPS
per_step "MLE, $n processes x 1 thread" 20 220 "$bin" train --out "$tmp/r" --nproc-per-node $n $data $mle --max-steps STEPS
per_step "SeqGAN, 1 process x 2 threads" 2 12 env OMP_NUM_THREADS=2 "$bin" train --out "$tmp/r" $data $seqgan --set gan.steps=STEPS
per_step "SeqGAN, $n processes x 1 thread" 2 12 "$bin" train --out "$tmp/r" --nproc-per-node $n $data $seqgan --set gan.steps=STEPS
gumbel="--set train.epochs=0 --set gan.algorithm=gumbel --set gan.d_steps=1 --set gan.d_pretrain_steps=0 \
 --set gan.eval_every=100000 --set gan.batch_size=64"
per_step "Gumbel-softmax, 1 process x 2 threads" 5 55 env OMP_NUM_THREADS=2 "$bin" train --out "$tmp/r" $data $gumbel --set gan.steps=STEPS
per_step "Gumbel-softmax, $n processes x 1 thread" 5 55 "$bin" train --out "$tmp/r" --nproc-per-node $n $data $gumbel --set gan.steps=STEPS
# COCO's evaluation: the test NLL of its 10,000 test captions, 2,000 samples, BLEU against the
# test captions and Self-BLEU (needs `textgan data get coco`, or TEXTGAN_DATA at a copy).
if "$bin" data list 2>/dev/null | grep -E '^coco +[0-9.]+ [KMG]?B +present' >/dev/null; then
  evals="--preset coco-lstm --set train.eval_every=10 --set train.eval_samples=2000 --max-steps 30"
  eval_time "COCO evaluation, 1 process x 2 threads" env OMP_NUM_THREADS=2 "$bin" train --out "$tmp/r" ${data%% --set*} $evals
  eval_time "COCO evaluation, $n processes x 1 thread" "$bin" train --out "$tmp/r" --nproc-per-node $n ${data%% --set*} $evals
  eval_time "COCO evaluation, 2 x 1, not split (one rank)" env OMP_NUM_THREADS=1 "$bin" train --out "$tmp/r" ${data%% --set*} $evals
else
  echo "COCO is not in the data directory: the evaluation rows are skipped" >&2
fi
