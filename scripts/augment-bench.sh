#!/usr/bin/env bash
# EDA on 100,000 sentences: textgan's `augment --method eda` (4 new rows each, synonyms from
# all-MiniLM-L6-v2 neighbours) against nlpaug's augmenters that need no external resource
# (RandomWordAug swap and delete: its synonym augmenters need WordNet or word vectors, which
# this machine cannot download), in one run (docs/PERFORMANCE.md).
# Usage: scripts/augment-bench.sh OUT   (TEXTGAN_DATA holds minilm, coco, mr, multi30k)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$1"; mkdir -p "$out"
T="$root/target/release/textgan"
py="$root/.venv/bin/python"
data="${TEXTGAN_DATA:?set TEXTGAN_DATA}"
"$py" -m pip show nlpaug >/dev/null 2>&1 || "$py" -m pip install -q nlpaug==1.1.11
# 100,000 labelled sentences: Multi30k English, COCO and MR, repeated up to the count.
"$py" - "$data" "$out/in.tsv" <<'PY'
import sys, itertools
data, out = sys.argv[1], sys.argv[2]
src = [("caption", f"{data}/multi30k/train.en"), ("coco", f"{data}/coco/train.txt"),
       ("coco", f"{data}/coco/test.txt"), ("pos", f"{data}/mr/rt-polarity.pos"),
       ("neg", f"{data}/mr/rt-polarity.neg")]
rows = []
for label, path in src:
    with open(path, encoding="utf-8", errors="replace") as f:
        rows += [(label, l.strip()) for l in f if l.strip()]
with open(out, "w") as f:
    for label, text in itertools.islice(itertools.cycle(rows), 100000):
        f.write(f"{label}\t{text}\n")
PY
echo "== textgan augment --method eda (4 per sentence)"
/usr/bin/time -f "peak RSS %M KB, wall %e s" "$T" augment --method eda --in "$out/in.tsv" \
  --out "$out/eda.tsv" --per-example 4 --seed 1 --device cpu 2>&1 | grep -E "synonyms|new rows|peak"
echo "== textgan, swaps and deletions only (no synonyms)"
/usr/bin/time -f "peak RSS %M KB, wall %e s" "$T" augment --method eda --in "$out/in.tsv" \
  --out "$out/eda-sd.tsv" --per-example 4 --alpha-sr 0 --alpha-ri 0 --seed 1 --device cpu 2>&1 \
  | grep -E "new rows|peak"
echo "== nlpaug RandomWordAug swap + delete (2 + 2 per sentence)"
"$py" - "$out/in.tsv" <<'PY'
import sys, time
import nlpaug.augmenter.word as naw
texts = [l.rstrip("\n").split("\t", 1)[1] for l in open(sys.argv[1])]
swap, delete = naw.RandomWordAug(action="swap"), naw.RandomWordAug(action="delete")
t = time.time()
n = 0
for s in texts:
    n += len(swap.augment(s, n=2)) + len(delete.augment(s, n=2))
print(f"nlpaug: {n} rows from {len(texts)} sentences in {time.time() - t:.1f} s")
PY
