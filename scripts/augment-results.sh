#!/usr/bin/env bash
# The augmentation rows of docs/RESULTS.md: a BiLSTM classifier from scratch on TREC's 2%
# split and on MR at 1% and 5% labels, without and with EDA, supervised and GAN-BERT, seeds
# 1-3. Writes OUT/summary.tsv (row, seed, last-epoch accuracy, macro-F1).
# Usage: scripts/augment-results.sh OUT   (TEXTGAN_DATA must hold minilm, trec-ganbert, mr)
set -euo pipefail
OUT=${1:?usage: scripts/augment-results.sh OUT}
T=${TEXTGAN:-./target/release/textgan}
mkdir -p "$OUT"
COMMON="--trunk lstm --lr 1e-3 --lr-g 1e-3 --device cpu"
run() { # name seed args...
  local name=$1 seed=$2; shift 2
  local dir="$OUT/$name-s$seed"
  [ -e "$dir/metrics.jsonl" ] || $T classify train $COMMON --seed "$seed" --out "$dir" "$@" 2> "$dir.log"
  tail -1 "$dir/metrics.jsonl" | python3 -c "import json,sys; r=json.load(sys.stdin); print('$name\t$seed\t%.4f\t%.4f' % (r['test_accuracy'], r['test_macro_f1']))" >> "$OUT/summary.tsv"
}
for seed in 1 2 3; do
  run trec-sup "$seed" --train trec-ganbert --method supervised
  run trec-sup-eda "$seed" --train trec-ganbert --method supervised --augment eda
  run trec-gan "$seed" --train trec-ganbert --method ganbert
  run trec-gan-eda "$seed" --train trec-ganbert --method ganbert --augment eda
  for f in 0.01 0.05; do
    run "mr$f-sup" "$seed" --train mr --labelled-fraction "$f" --method supervised --epochs 5
    run "mr$f-sup-eda" "$seed" --train mr --labelled-fraction "$f" --method supervised --epochs 5 --augment eda
  done
done
