#!/usr/bin/env bash
# all-MiniLM-L6-v2 fine-tuning steps and classification throughput, textgan against
# transformers (PyTorch) on the same sizes (docs/PERFORMANCE.md): batch 64, 64 tokens per text
# ([CLS] + 62 words + [SEP]), GAN-BERT's head, AdamW; peak resident memory of each process.
# Usage: scripts/classify-bench.sh OUT_DIR   (TEXTGAN_DATA holds minilm: textgan data get minilm)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$1"; mkdir -p "$out"
T="$root/target/release/textgan"
py="$root/.venv/bin/python"
minilm="${TEXTGAN_DATA:?set TEXTGAN_DATA}/minilm"
steps="${STEPS:-20}"; texts="${TEXTS:-2560}"
"$py" - "$out" "$steps" "$texts" <<'PY'
import sys, random
out, steps, texts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
words = "the a cat dog sat on mat park city river house car tree man woman child red blue big small old new runs eats sees likes with near over under".split()
r = random.Random(0)
line = lambda: " ".join(r.choice(words) for _ in range(62))
with open(f"{out}/train.tsv", "w") as f:
    for i in range(64 * steps):
        f.write(f"c{i % 8}\t{line()}\n")
with open(f"{out}/texts.txt", "w") as f:
    for i in range(texts):
        f.write(line() + "\n")
PY
echo "== textgan: $steps fine-tuning steps (supervised, one epoch, batch 64)"
rm -rf "$out/run"
/usr/bin/time -f "peak RSS %M KB, wall %e s" "$T" classify train --train "$out/train.tsv" \
  --trunk "$minilm" --method supervised --epochs 1 --batch-size 64 --no-balance --out "$out/run" \
  --device cpu 2>&1 | grep -E "epoch 1|peak"
grep -o '"steps":[0-9]*\|"seconds":[0-9.]*' "$out/run/metrics.jsonl" | tr '\n' ' '; echo
echo "== textgan: classifying $texts texts (wall of 64 texts, loading included, subtracted)"
head -64 "$out/texts.txt" > "$out/texts64.txt"
s=$(date +%s.%N); "$T" classify predict --run "$out/run" --input "$out/texts64.txt" --device cpu >/dev/null; m=$(date +%s.%N)
/usr/bin/time -f "peak RSS %M KB, wall %e s" "$T" classify predict --run "$out/run" \
  --input "$out/texts.txt" --device cpu 2>&1 >/dev/null | tail -1; e=$(date +%s.%N)
echo "textgan: classified $((texts - 64)) texts in $(echo "($e - $m) - ($m - $s)" | bc) s"
echo "== transformers: the same"
/usr/bin/time -f "peak RSS %M KB, wall %e s" "$py" - "$out" "$minilm" "$steps" <<'PY'
import sys, time, torch
out, model_dir, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
from transformers import AutoModel, AutoTokenizer
tok = AutoTokenizer.from_pretrained(model_dir)
bert = AutoModel.from_pretrained(model_dir)
rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/train.tsv")]
labels = sorted({a for a, _ in rows}); k = len(labels)
h = bert.config.hidden_size
head = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(h, h), torch.nn.LeakyReLU(0.2),
                           torch.nn.Dropout(0.2), torch.nn.Linear(h, k + 1))
opt = torch.optim.AdamW(list(bert.parameters()) + list(head.parameters()), lr=5e-5)
def vec(enc):
    out = bert(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).float()
    x = (out * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)
bert.train(); head.train()
t = time.time()
for s in range(steps):
    b = rows[64 * s: 64 * (s + 1)]
    enc = tok([x for _, x in b], padding=True, truncation=True, max_length=64, return_tensors="pt")
    y = torch.tensor([labels.index(a) for a, _ in b])
    loss = torch.nn.functional.cross_entropy(head(vec(enc))[:, :k], y)
    opt.zero_grad(); loss.backward(); opt.step()
print(f"transformers: {steps} steps in {time.time() - t:.2f} s ({(time.time() - t) / steps * 1000:.0f} ms a step)")
texts = [l.strip() for l in open(f"{out}/texts.txt")]
bert.eval(); head.eval()
t = time.time()
with torch.no_grad():
    for i in range(0, len(texts), 64):
        enc = tok(texts[i:i + 64], padding=True, truncation=True, max_length=64, return_tensors="pt")
        head(vec(enc))[:, :k].softmax(-1)
print(f"transformers: classified {len(texts)} texts in {time.time() - t:.2f} s ({len(texts) / (time.time() - t):.0f} texts/s)")
PY
