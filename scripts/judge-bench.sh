#!/usr/bin/env bash
# MAUVE, FED and the n-gram LM on COCO, side by side with the references (docs/RESULTS.md,
# docs/PERFORMANCE.md): the test captions against themselves split in two, an MLE run's samples
# at several sizes and temperatures, n-gram baselines of orders 2-5; the time to encode 10,000
# captions and to compute MAUVE on 5,000 x 5,000 against sentence-transformers and mauve-text.
# Usage: scripts/judge-bench.sh MLE_RUN_DIR OUT_DIR   (TEXTGAN_DATA holds coco and minilm)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="$1"; out="$2"; mkdir -p "$out"
T="$root/target/release/textgan"
py="$root/.venv/bin/python"
coco="${TEXTGAN_DATA:?set TEXTGAN_DATA}/coco"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
head -5000 "$coco/test.txt" > "$out/test-a.txt"
sed -n 5001,10000p "$coco/test.txt" > "$out/test-b.txt"
ev() { "$T" eval "$@" --json; }
echo "== encoding 10,000 captions and MAUVE on 5,000 x 5,000 (textgan)"
s=$(date +%s.%N); ev --samples "$out/test-a.txt" --references "$out/test-b.txt" --metrics fed > "$out/fed-halves.json"; e=$(date +%s.%N)
echo "textgan encode + FED: $(echo "$e - $s" | bc) s"
for seed in 25 1 2 3 4 5; do
  s=$(date +%s.%N); ev --samples "$out/test-a.txt" --references "$out/test-b.txt" --metrics mauve --mauve-seed $seed > "$out/mauve-halves-$seed.json"; e=$(date +%s.%N)
  echo "textgan seed $seed: $(grep -o '"mauve":[0-9.]*' "$out/mauve-halves-$seed.json") (encode + MAUVE $(echo "$e - $s" | bc) s)"
done
echo "== the same with sentence-transformers and mauve-text"
"$py" - "$out" "$TEXTGAN_DATA/minilm" <<'PY'
import sys, time, numpy as np
out, model = sys.argv[1], sys.argv[2]
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(model, device="cpu")
a = [l.strip() for l in open(f"{out}/test-a.txt")]; b = [l.strip() for l in open(f"{out}/test-b.txt")]
t = time.time(); fa = m.encode(a, batch_size=64); fb = m.encode(b, batch_size=64)
print(f"sentence-transformers encode 10,000: {time.time() - t:.1f} s", flush=True)
import mauve
for seed in [25, 1, 2, 3, 4, 5]:
    t = time.time(); r = mauve.compute_mauve(p_features=fa, q_features=fb, seed=seed)
    print(f"mauve-text seed {seed}: {r.mauve:.4f} (MAUVE alone {time.time() - t:.1f} s)", flush=True)
PY
echo "== the MLE run: sizes at T = 1, then temperatures at 2,000"
for n in 500 1000 2000 5000; do
  ev --run "$run" -n $n --temperature 1.0 --references <(head -$n "$out/test-b.txt") --metrics mauve,fed > "$out/mle-n$n.json"
  echo "MLE T=1 n=$n: $(grep -o '"mauve":[0-9.]*\|"fed":[0-9.]*' "$out/mle-n$n.json" | tr '\n' ' ')"
done
head -2000 "$out/test-b.txt" > "$out/ref-2000.txt"
for t in 0.7 1.0 1.3; do
  ev --run "$run" -n 2000 --temperature $t --save-samples "$out/mle-t$t.txt" --references "$out/ref-2000.txt" --metrics mauve,fed > "$out/mle-t$t.json"
  ev --samples "$out/mle-t$t.txt" --references "$coco/test.txt" --train "$coco/train.txt" --metrics bleu,self-bleu,ngram-ppl > "$out/mle-t$t-text.json"
  echo "MLE T=$t: $(grep -o '"mauve":[0-9.]*\|"fed":[0-9.]*' "$out/mle-t$t.json" | tr '\n' ' ') $(grep -o '"bleu-5":[0-9.]*\|"self-bleu-5":[0-9.]*\|"ngram-ppl":[0-9.]*' "$out/mle-t$t-text.json" | tr '\n' ' ')"
done
echo "== n-gram baselines (orders 2-5, T = 1, 2,000 samples)"
for o in 2 3 4 5; do
  "$T" ngram --data "$coco/train.txt" --order $o -n 2000 --seed 1 --output "$out/ngram-$o.txt" --test "$coco/test.txt" 2> "$out/ngram-$o.log"
  ev --samples "$out/ngram-$o.txt" --references "$out/ref-2000.txt" --metrics mauve,fed > "$out/ngram-$o.json"
  ev --samples "$out/ngram-$o.txt" --references "$coco/test.txt" --train "$coco/train.txt" --metrics bleu,self-bleu,ngram-ppl > "$out/ngram-$o-text.json"
  echo "order $o: $(tail -1 "$out/ngram-$o.log") | $(grep -o '"mauve":[0-9.]*\|"fed":[0-9.]*' "$out/ngram-$o.json" | tr '\n' ' ') $(grep -o '"bleu-5":[0-9.]*\|"self-bleu-5":[0-9.]*\|"ngram-ppl":[0-9.]*' "$out/ngram-$o-text.json" | tr '\n' ' ')"
  head -1 "$out/ngram-$o.log"
done
