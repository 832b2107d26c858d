"""Plain-PyTorch reference for `textgan bench`: the same steps, written the way the Python
toolkits write them (rollouts looped over prefixes and rollout copies, one batch at a time).

    .venv/bin/python benches/reference/torch_reference.py --size oracle --step mle --step sample
    .venv/bin/python benches/reference/torch_reference.py --size oracle --step seqgan --device cuda

Prints one JSON line per (size, step) with the median milliseconds, in the format of
`textgan bench`, so the two can be compared line by line. A yardstick only: never in textgan's path.
"""
import argparse, json, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {
    "oracle": dict(kind="lstm", emb=32, hid=32, vocab=5000, batch=64, length=20),
    "lstm512": dict(kind="lstm", emb=512, hid=512, vocab=5000, batch=256, length=40),
}


class LSTMGen(nn.Module):
    def __init__(s, vocab, emb, hid):
        super().__init__()
        s.embed = nn.Embedding(vocab, emb)
        s.lstm = nn.LSTM(emb, hid, batch_first=True)
        s.out = nn.Linear(hid, vocab)

    def forward(s, x, h=None):
        o, h = s.lstm(s.embed(x), h)
        return s.out(o), h


class CNNDis(nn.Module):
    """SeqGAN's discriminator: widths 1-10, 15, 20; highway; dropout."""

    def __init__(s, vocab, emb=64, sizes=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
                 nums=(100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)):
        super().__init__()
        s.embed = nn.Embedding(vocab, emb)
        s.convs = nn.ModuleList(nn.Conv2d(1, n, (f, emb)) for f, n in zip(sizes, nums))
        feat = sum(nums)
        s.highway = nn.Linear(feat, feat)
        s.gate = nn.Linear(feat, feat)
        s.drop = nn.Dropout(0.25)
        s.out = nn.Linear(feat, 1)

    def forward(s, x):
        e = s.embed(x).unsqueeze(1)
        h = torch.cat([F.relu(c(e)).squeeze(3).amax(2) for c in s.convs], 1)
        t = torch.sigmoid(s.gate(h))
        h = t * F.relu(s.highway(h)) + (1 - t) * h
        return s.out(s.drop(h)).squeeze(1)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, dev, warmup, reps):
    for _ in range(warmup):
        fn()
    sync(dev)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


@torch.no_grad()
def sample(g, n, length, dev):
    x = torch.zeros(n, 1, dtype=torch.long, device=dev)
    h, out = None, []
    for _ in range(length):
        logits, h = g(x, h)
        x = torch.multinomial(F.softmax(logits[:, -1], -1), 1)
        out.append(x)
    return torch.cat(out, 1)


@torch.no_grad()
def serial_rollout_rewards(g, d, samples, n):
    """TextGAN-PyTorch's loop: for each rollout copy, for each prefix, complete and score."""
    b, t = samples.shape
    rewards = torch.zeros(t, b, device=samples.device)
    for _ in range(n):
        for p in range(1, t):
            inp = torch.cat([torch.zeros(b, 1, dtype=torch.long, device=samples.device), samples[:, :p]], 1)
            logits, h = g(inp)
            seq = [samples[:, :p]]
            x = torch.multinomial(F.softmax(logits[:, -1], -1), 1)
            for _ in range(p, t):
                seq.append(x)
                logits, h = g(x, h)
                x = torch.multinomial(F.softmax(logits[:, -1], -1), 1)
            rewards[p - 1] += torch.sigmoid(d(torch.cat(seq, 1)[:, :t]))
        rewards[t - 1] += torch.sigmoid(d(samples))
    return (rewards / n).t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", action="append", choices=list(SIZES))
    ap.add_argument("--step", action="append", choices=["mle", "sample", "seqgan"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    for size in a.size or ["oracle"]:
        c = SIZES[size]
        g = LSTMGen(c["vocab"], c["emb"], c["hid"]).to(dev)
        opt = torch.optim.Adam(g.parameters(), 1e-3)
        data = torch.randint(c["vocab"], (c["batch"], c["length"] + 1), device=dev)
        for step in a.step or ["mle", "sample"]:
            if step == "mle":
                def fn():
                    logits, _ = g(data[:, :-1])
                    loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), data[:, 1:].reshape(-1))
                    opt.zero_grad(); loss.backward()
                    nn.utils.clip_grad_norm_(g.parameters(), 5.0); opt.step()
                ms, reps, tokens = median_ms(fn, dev, 3, a.reps), a.reps, c["batch"] * c["length"]
            elif step == "sample":
                reps = min(a.reps, 5)
                ms = median_ms(lambda: sample(g, 10_000, c["length"], dev), dev, 1, reps)
                tokens = 10_000 * c["length"]
            else:
                d = CNNDis(c["vocab"]).to(dev).eval()
                gopt = torch.optim.Adam(g.parameters(), 1e-2)
                def fn():
                    s = sample(g, c["batch"], c["length"], dev)
                    r = serial_rollout_rewards(g, d, s, 16)
                    inp = torch.cat([torch.zeros(c["batch"], 1, dtype=torch.long, device=dev), s[:, :-1]], 1)
                    logp = F.log_softmax(g(inp)[0], -1).gather(2, s.unsqueeze(2)).squeeze(2)
                    loss = -(logp * r).mean()
                    gopt.zero_grad(); loss.backward(); gopt.step()
                reps = min(a.reps, 3)
                ms, tokens = median_ms(fn, dev, 1, reps), c["batch"] * c["length"]
            print(json.dumps({"impl": "pytorch", "step": step, "size": size, "device": str(dev),
                              "threads": torch.get_num_threads(), "median_ms": ms,
                              "tokens_per_s": tokens / (ms / 1e3), "reps": reps}), flush=True)


if __name__ == "__main__":
    main()
