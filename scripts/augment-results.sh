#!/usr/bin/env bash
# The augmentation rows of docs/RESULTS.md (issue 38): classifiers on TREC's 2% split and on MR
# at 1% and 5% labels, without and with EDA (`classify train --augment eda`: strengths
# 0.05, 16 rows per labelled row), supervised and GAN-BERT, on a BiLSTM from scratch or a
# frozen all-MiniLM-L6-v2; seeds 1-3. Appends to OUT/summary.tsv: row, seed, last-epoch test
# accuracy, macro-F1. Runs already in OUT are not run again.
# Usage: scripts/augment-results.sh OUT   (TEXTGAN_DATA must hold minilm, trec-ganbert, mr)
set -euo pipefail
OUT=${1:?usage: scripts/augment-results.sh OUT}
T=${TEXTGAN:-./target/release/textgan}
mkdir -p "$OUT"
run() { # name seed args...
  local name=$1 seed=$2; shift 2
  local dir="$OUT/$name-s$seed"
  [ -e "$dir/metrics.jsonl" ] || $T classify train --device cpu --seed "$seed" --out "$dir" "$@" 2> "$dir.log"
  tail -1 "$dir/metrics.jsonl" | python3 -c "import json,sys; r=json.load(sys.stdin); print('$name\t$seed\t%.4f\t%.4f' % (r['test_accuracy'], r['test_macro_f1']))" >> "$OUT/summary.tsv"
}
LSTM="--trunk lstm --lr 1e-3 --lr-g 1e-3"
FROZEN="--freeze --lr 1e-3"
for seed in 1 2 3; do
  for aug in "" "--augment eda"; do
    tag=${aug:+-eda}
    run "trec-sup$tag" "$seed" --train trec-ganbert --method supervised $LSTM $aug
    run "trec-gan$tag" "$seed" --train trec-ganbert --method ganbert $LSTM $aug
    run "trec-frozen-sup$tag" "$seed" --train trec-ganbert --method supervised $FROZEN $aug
    for f in 0.01 0.05; do
      run "mr$f-sup$tag" "$seed" --train mr --labelled-fraction "$f" --method supervised --epochs 5 $LSTM $aug
    done
    run "mr0.01-gan$tag" "$seed" --train mr --labelled-fraction 0.01 --method ganbert --epochs 5 $LSTM $aug
    run "mr0.01-frozen-sup$tag" "$seed" --train mr --labelled-fraction 0.01 --method supervised --epochs 5 $FROZEN $aug
  done
done
