"""Side-by-side check of `textgan eval` against nltk: same numbers, and how much faster.

    .venv/bin/python benches/reference/bleu_vs_nltk.py [--hyps 100] [--self 300]

nltk is too slow for the full 10,000 x 10,000 protocol, so it scores the first --hyps
hypotheses against all references (and Self-BLEU on the first --self samples); textgan scores
the same subsets, then the whole set. The time per hypothesis gives the ratio. A yardstick only:
nltk is never in textgan's path.
"""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

root = Path(__file__).resolve().parents[2]
p = argparse.ArgumentParser()
p.add_argument("--hyps", type=int, default=100)
p.add_argument("--self", dest="self_n", type=int, default=300)
p.add_argument("--samples", default=str(root / "data/coco/test.txt"))
p.add_argument("--references", default=str(root / "data/coco/train.txt"))
p.add_argument("--binary", default=str(root / "target/release/textgan"))
a = p.parse_args()

hyps = [l.strip() for l in open(a.samples, encoding="utf-8").read().splitlines()]
refs = [l.split() for l in open(a.references, encoding="utf-8").read().splitlines()]
sm = SmoothingFunction().method1
W = {n: tuple(1.0 / n for _ in range(n)) for n in (2, 3, 4, 5)}

def ours(samples, references, metrics):
    with tempfile.TemporaryDirectory() as d:
        s = Path(d) / "s.txt"; s.write_text("\n".join(samples) + "\n")
        cmd = [a.binary, "eval", "--samples", str(s), "--metrics", metrics, "--json", "--device", "cpu"]
        if references:
            cmd += ["--references", references]
        t0 = time.perf_counter(); out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out)["metrics"], time.perf_counter() - t0

sub = hyps[: a.hyps]
t0 = time.perf_counter()
nl = {n: sum(sentence_bleu(refs, h.split(), W[n], smoothing_function=sm) for h in sub) / len(sub) for n in W}
t_nltk = time.perf_counter() - t0
mine, t_sub = ours(sub, a.references, "bleu")
full, t_full = ours(hyps, a.references, "bleu")
print(f"BLEU, {len(sub)} hypotheses x {len(refs)} references")
for n in W:
    print(f"  BLEU-{n}: nltk {nl[n]:.10f}  textgan {mine[f'bleu-{n}']:.10f}  diff {abs(nl[n]-mine[f'bleu-{n}']):.1e}")
per_nltk = t_nltk / len(sub)
print(f"  nltk {t_nltk:.2f} s ({per_nltk*1e3:.1f} ms/hypothesis, 4 orders)")
print(f"  textgan, all {len(hyps)} hypotheses, whole process: {t_full:.2f} s;"
      f" nltk would need about {per_nltk*len(hyps):.0f} s: {per_nltk*len(hyps)/t_full:.0f}x")

ss = hyps[: a.self_n]
toks = [s.split() for s in ss]
t0 = time.perf_counter()
sb = {n: sum(sentence_bleu(toks[:i] + toks[i+1:], toks[i], W[n], smoothing_function=sm) for i in range(len(toks))) / len(toks) for n in W}
t_self = time.perf_counter() - t0
mine, _ = ours(ss, None, "self-bleu")
full, t_sfull = ours(hyps, None, "self-bleu")
print(f"Self-BLEU, {len(ss)} samples")
for n in W:
    print(f"  Self-BLEU-{n}: nltk {sb[n]:.10f}  textgan {mine[f'self-bleu-{n}']:.10f}  diff {abs(sb[n]-mine[f'self-bleu-{n}']):.1e}")
# nltk's Self-BLEU grows with the square of the sample count.
est = t_self * (len(hyps) / len(ss)) ** 2
print(f"  nltk {t_self:.2f} s for {len(ss)}; for {len(hyps)} about {est:.0f} s; textgan {t_sfull:.2f} s: {est/t_sfull:.0f}x")
