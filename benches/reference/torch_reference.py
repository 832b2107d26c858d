"""Plain-PyTorch reference for `textgan bench`: the same steps, written the way the Python
toolkits write them (rollouts looped over prefixes and rollout copies, one batch at a time).

    .venv/bin/python benches/reference/torch_reference.py --size oracle --step mle --step sample
    .venv/bin/python benches/reference/torch_reference.py --size oracle --step seqgan --device cuda
    textgan bench --reference     # runs this script beside each of its own steps, with the ratio

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
    "transformer": dict(kind="transformer", emb=256, layers=4, heads=4, vocab=5000, batch=64, length=20),
    # Multi30k de->en sizes: bentrevett's Transformer (d 256, 3 + 3 layers, 8 heads, FFN 512),
    # vocabularies of words seen twice (7,853 German, 6,271 English), sources of 16 tokens.
    "seq2seq": dict(kind="seq2seq", emb=256, layers=3, heads=8, ffn=512, src_vocab=7853, vocab=6271,
                    batch=128, length=16),
    # GPT-2 through Hugging Face transformers (random weights): small's shape, and a tiny one.
    "gpt2": dict(kind="gpt2", emb=768, layers=12, heads=12, positions=1024, vocab=50257, batch=4, length=64),
    "gpt2tiny": dict(kind="gpt2", emb=64, layers=2, heads=4, positions=64, vocab=300, batch=64, length=32),
}


def gpt2_step(c, step, dev, reps):
    """transformers' GPT2LMHeadModel: a forward pass without gradients, generation with its
    key/value cache (sampling at temperature 1 from all tokens, every text to its length), or an
    MLE step (its own shifted loss, backward, global-norm clipping at 5, Adam)."""
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(vocab_size=c["vocab"], n_positions=c["positions"], n_embd=c["emb"], n_layer=c["layers"],
                     n_head=c["heads"], resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    m = GPT2LMHeadModel(cfg).to(dev).eval()
    b, length = c["batch"], c["length"]
    if step == "forward":
        x = torch.randint(c["vocab"], (b, length), device=dev)
        def fn():
            with torch.no_grad():
                m(x)
    elif step == "mle":
        m.train()
        opt = torch.optim.Adam(m.parameters(), 1e-3)
        x = torch.randint(c["vocab"], (b, length + 1), device=dev)
        def fn():
            opt.zero_grad()
            m(x, labels=x).loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 5.0)
            opt.step()
    else:
        start = torch.zeros(b, 1, dtype=torch.long, device=dev)
        def fn():
            m.generate(start, do_sample=True, top_k=0, top_p=1.0, max_new_tokens=length, min_new_tokens=length,
                       use_cache=True, pad_token_id=0)
    return median_ms(fn, dev, 1, min(reps, 5))


def reset_peak():
    """Linux: restart the process's peak resident set (VmHWM) from its current size."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None


class LSTMGen(nn.Module):
    def __init__(s, vocab, emb, hid):
        super().__init__()
        s.embed = nn.Embedding(vocab, emb)
        s.lstm = nn.LSTM(emb, hid, batch_first=True)
        s.out = nn.Linear(hid, vocab)

    def forward(s, x, h=None):
        o, h = s.lstm(s.embed(x), h)
        return s.out(o), h


class GPTGen(nn.Module):
    """A small GPT: pre-norm causal Transformer blocks, learned positions. Sampling re-runs the
    whole prefix at every step, as plain PyTorch code without a cache does."""

    def __init__(s, vocab, emb, layers, heads, max_len=64):
        super().__init__()
        s.embed = nn.Embedding(vocab, emb)
        s.pos = nn.Embedding(max_len, emb)
        layer = nn.TransformerEncoderLayer(emb, heads, 4 * emb, 0.0, F.gelu, batch_first=True, norm_first=True)
        s.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        s.norm = nn.LayerNorm(emb)
        s.out = nn.Linear(emb, vocab)

    def forward(s, x, h=None):
        if h is not None:  # decoding: the whole prefix again, logits of the last position only
            x = torch.cat([h, x], 1)
        t = x.size(1)
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=x.device)
        y = s.blocks(s.embed(x) + s.pos(torch.arange(t, device=x.device)), mask=mask, is_causal=True)
        return s.out(s.norm(y if h is None else y[:, -1:])), x


class RMCGen(nn.Module):
    """RelGAN's relational memory core, as src/models/rmc.rs (1 slot, 2 heads x 256)."""

    def __init__(s, vocab, emb=32, slots=1, heads=2, head_size=256):
        super().__init__()
        d = heads * head_size
        s.slots, s.heads, s.hs, s.d = slots, heads, head_size, d
        s.embed = nn.Embedding(vocab, emb)
        s.input_proj = nn.Linear(emb, d)
        s.qkv = nn.Linear(d, 3 * d)
        s.ln_1, s.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        s.mlp_1, s.mlp_2 = nn.Linear(d, d), nn.Linear(d, d)
        s.gate_x, s.gate_m = nn.Linear(d, 2 * d), nn.Linear(d, 2 * d)
        s.out = nn.Linear(slots * d, vocab)

    def init_memory(s, b, dev):
        m = torch.zeros(s.slots, s.d, device=dev)
        m[:, : s.slots] = torch.eye(s.slots, device=dev)
        return m.unsqueeze(0).repeat(b, 1, 1)

    def step(s, emb, mem):
        b = emb.size(0)
        inp = s.input_proj(emb)
        mpi = torch.cat([mem, inp.unsqueeze(1)], 1)
        q, k, v = (z.view(b, -1, s.heads, s.hs).transpose(1, 2) for z in s.qkv(mpi).split(s.d, 2))
        att = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, -1, s.d)
        a = s.ln_1(mpi + att)
        a = s.ln_2(a + s.mlp_2(F.relu(s.mlp_1(a))))
        cand = a[:, : s.slots]
        gi, gf = (s.gate_x(inp).unsqueeze(1) + s.gate_m(torch.tanh(mem))).split(s.d, 2)
        mem = torch.sigmoid(gi) * torch.tanh(cand) + torch.sigmoid(gf + 1.0) * mem
        return s.out(mem.reshape(b, -1)), mem


class Head(nn.Module):
    """The CNN discriminators' head: highway (gated: own gate matrix; tied: TextGAN-PyTorch's one
    matrix for both), dropout, one logit."""

    def __init__(s, feat, highway, outputs=1):
        super().__init__()
        s.highway = nn.Linear(feat, feat)
        s.gate = nn.Linear(feat, feat) if highway == "gated" else None
        s.drop = nn.Dropout(0.25)
        s.out = nn.Linear(feat, outputs)

    def forward(s, h):
        z = s.highway(h)
        t = torch.sigmoid(s.gate(h) if s.gate is not None else z)
        h = t * F.relu(z) + (1 - t) * h
        return s.out(s.drop(h))


class RelGANDis(nn.Module):
    """RelGAN's discriminator: 64 one-number representations, widths 2-5 x 300, highway."""

    def __init__(s, vocab, highway, emb=64, reps=64, sizes=(2, 3, 4, 5), nums=(300, 300, 300, 300)):
        super().__init__()
        s.embed = nn.Linear(vocab, emb, bias=False)
        s.reps = reps
        s.convs = nn.ModuleList(nn.Conv2d(1, n, (f, emb // reps), stride=(1, emb // reps)) for f, n in zip(sizes, nums))
        s.head = Head(sum(nums), highway)

    def forward(s, onehot):
        e = s.embed(onehot).unsqueeze(1)  # [B, 1, T, E]
        pools = [F.relu(c(e)).amax(2) for c in s.convs]  # [B, n, R]
        h = torch.cat(pools, 1).permute(0, 2, 1).reshape(-1, sum(c.out_channels for c in s.convs))
        return s.head(h).view(onehot.size(0), s.reps)


class LSTMDis(nn.Module):
    """ScratchGAN-style discriminator: one logit per token."""

    def __init__(s, vocab, emb=64, hid=128):
        super().__init__()
        s.embed = nn.Embedding(vocab, emb)
        s.lstm = nn.LSTM(emb, hid, batch_first=True)
        s.out = nn.Linear(hid, 1)

    def forward(s, x):
        return s.out(s.lstm(s.embed(x))[0]).squeeze(2)


class CNNDis(nn.Module):
    """SeqGAN's discriminator: widths 1-10, 15, 20; highway; dropout."""

    def __init__(s, vocab, highway, emb=64, sizes=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
                 nums=(100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160), outputs=1):
        super().__init__()
        s.embed = nn.Embedding(vocab, emb)
        s.convs = nn.ModuleList(nn.Conv2d(1, n, (f, emb)) for f, n in zip(sizes, nums))
        s.head = Head(sum(nums), highway, outputs)

    def forward(s, x):
        e = s.embed(x).unsqueeze(1)
        h = torch.cat([F.relu(c(e)).squeeze(3).amax(2) for c in s.convs], 1)
        out = s.head(h)
        return out.squeeze(1) if out.shape[1] == 1 else out


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
def serial_rollout_rewards(g, d, samples, n, reward=None):
    """TextGAN-PyTorch's loop: for each rollout copy, for each prefix, complete and score
    (`reward(seq)`, by default D's probability)."""
    reward = reward or (lambda x: torch.sigmoid(d(x)))
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
            rewards[p - 1] += reward(torch.cat(seq, 1)[:, :t])
        rewards[t - 1] += reward(samples)
    return (rewards / n).t()


def gumbel_decode(g, n, length, beta, dev):
    """RelGAN's generation: soft one-hots softmax(beta (logits + Gumbel)), hard argmax fed back."""
    mem = g.init_memory(n, dev)
    x = torch.zeros(n, dtype=torch.long, device=dev)
    out = []
    for _ in range(length):
        logits, mem = g.step(g.embed(x), mem)
        u = torch.rand_like(logits)
        z = logits - torch.log(-torch.log(u + 1e-10) + 1e-10)
        x = z.argmax(-1)
        out.append(F.softmax(beta * z, -1))
    return torch.stack(out, 1)


def rsgan(pos, neg):
    """RelGAN's loss: the positive side should out-score the negative one."""
    return F.binary_cross_entropy_with_logits(pos - neg, torch.ones_like(pos))


class Seq2seq(nn.Module):
    """nn.Transformer as textgan's encoder-decoder: pre-norm, learned positions, output tied to
    the target embedding, ReLU feed-forward, dropout 0.1."""

    def __init__(s, c, max_len=128):
        super().__init__()
        d = c["emb"]
        s.heads = c["heads"]
        s.se, s.te = nn.Embedding(c["src_vocab"], d), nn.Embedding(c["vocab"], d)
        s.sp, s.tp = nn.Embedding(max_len, d), nn.Embedding(max_len, d)
        s.tr = nn.Transformer(d, c["heads"], c["layers"], c["layers"], c["ffn"], 0.1,
                              batch_first=True, norm_first=True)

    def encode(s, src):
        pad = src == 0
        x = s.se(src) + s.sp(torch.arange(src.size(1), device=src.device))
        return s.tr.encoder(x, src_key_padding_mask=pad), pad

    def forward(s, src, tgt):
        mem, pad = s.encode(src)
        t = tgt.size(1)
        y = s.te(tgt) + s.tp(torch.arange(t, device=tgt.device))
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=tgt.device)
        h = s.tr.decoder(y, mem, tgt_mask=mask, tgt_is_causal=True, memory_key_padding_mask=pad)
        return h @ s.te.weight.t()


@torch.no_grad()
def beam_translate(m, src, width, steps, bos=1, eos=2):
    """Beam search with a key/value cache per decoder layer (the cross-attention's keys and
    values computed once), finished beams frozen: the algorithm of textgan's beam search."""
    m.eval()
    b, v = src.size(0), m.te.weight.size(0)
    mem, pad = m.encode(src)
    layers = m.tr.decoder.layers

    def proj(att, x, which):
        return F.linear(x, att.in_proj_weight.chunk(3)[which], att.in_proj_bias.chunk(3)[which])

    def heads(x):
        return x.view(x.size(0), x.size(1), m.heads, -1).transpose(1, 2)

    rep = lambda t: t.repeat_interleave(width, 0)
    cross = [(rep(heads(proj(l.multihead_attn, mem, 1))), rep(heads(proj(l.multihead_attn, mem, 2))))
             for l in layers]
    cmask = ~rep(pad)[:, None, None, :]
    cache = [None] * len(layers)
    scores = torch.full((b, width), float("-inf"), device=src.device)
    scores[:, 0] = 0
    scores = scores.view(-1)
    tok = torch.full((b * width,), bos, dtype=torch.long, device=src.device)
    seqs = torch.empty(b * width, 0, dtype=torch.long, device=src.device)
    done = torch.zeros(b * width, dtype=torch.bool, device=src.device)
    only_eos = torch.full((v,), float("-inf"), device=src.device)
    only_eos[eos] = 0
    base = torch.arange(b, device=src.device)[:, None] * width
    for t in range(steps):
        x = (m.te(tok) + m.tp.weight[t])[:, None]
        for i, l in enumerate(layers):
            h = l.norm1(x)
            q, k, vv = heads(proj(l.self_attn, h, 0)), heads(proj(l.self_attn, h, 1)), heads(proj(l.self_attn, h, 2))
            if cache[i] is not None:
                k, vv = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], vv], 2)
            cache[i] = (k, vv)
            a = F.scaled_dot_product_attention(q, k, vv)
            x = x + l.self_attn.out_proj(a.transpose(1, 2).reshape(x.size(0), 1, -1))
            q = heads(proj(l.multihead_attn, l.norm2(x), 0))
            a = F.scaled_dot_product_attention(q, cross[i][0], cross[i][1], attn_mask=cmask)
            x = x + l.multihead_attn.out_proj(a.transpose(1, 2).reshape(x.size(0), 1, -1))
            x = x + l.linear2(F.relu(l.linear1(l.norm3(x))))
        logp = F.log_softmax(m.tr.decoder.norm(x[:, 0]) @ m.te.weight.t(), -1)
        logp = torch.where(done[:, None], only_eos[None], logp)
        top, idx = (scores[:, None] + logp).view(b, -1).topk(width, -1)
        frm = (idx // v + base).view(-1)
        tok, scores = (idx % v).view(-1), top.view(-1)
        seqs = torch.cat([seqs[frm], tok[:, None]], 1)
        done = done[frm] | (tok == eos)
        cache = [(k[frm], vv[frm]) for k, vv in cache]
        if bool(done.all()):
            break
    return seqs


class LeakG(nn.Module):
    """LeakGAN's Manager and Worker as TextGAN-PyTorch's LeakGAN_G steps them (LSTM cells, the
    Worker's V x k output, goals in feature space), with the paper's goal embedding: psi of the
    sum of the last c goals."""

    def __init__(s, vocab, emb=32, hid=32, k=16, c=4, feat=1720):
        super().__init__()
        s.embed = nn.Embedding(vocab, emb)
        s.worker, s.manager = nn.LSTMCell(emb, hid), nn.LSTMCell(feat, hid)
        s.work_out, s.to_goal = nn.Linear(hid, vocab * k), nn.Linear(hid, feat)
        s.psi = nn.Linear(feat, k, bias=False)
        s.goal_init = nn.Parameter(torch.randn(feat) * 0.1)
        s.vocab, s.k, s.c, s.hid = vocab, k, c, hid

    def init(s, n, dev):
        z = torch.zeros(n, s.hid, device=dev)
        return (z, z, z, z, (s.goal_init / s.c).expand(n, s.c, -1))

    def step(s, tok, st, feat):
        wh, wc, mh, mc, win = st
        mh, mc = s.manager(feat, (mh, mc))
        goal = F.normalize(s.to_goal(mh), dim=-1)
        w = s.psi(win.sum(1))
        wh, wc = s.worker(s.embed(tok), (wh, wc))
        logits = torch.bmm(s.work_out(wh).view(-1, s.vocab, s.k), w.unsqueeze(2)).squeeze(2)
        return logits, goal, (wh, wc, mh, mc, torch.cat([win[:, 1:], goal.unsqueeze(1)], 1))


def cnn_features(d, ids):
    """The CNN discriminator's highway output (`dis.get_feature` in TextGAN-PyTorch)."""
    e = d.embed(ids).unsqueeze(1)
    h = torch.cat([F.relu(c(e)).squeeze(3).amax(2) for c in d.convs], 1)
    z = d.head.highway(h)
    t = torch.sigmoid(d.head.gate(h) if d.head.gate is not None else z)
    return t * F.relu(z) + (1 - t) * h


def leak_run(g, d, n, length, dev, given=None, upto=0):
    """LeakGAN's forward_leakgan: every step re-runs D's CNN on the zero-padded row so far.
    Tokens of `given` are teacher-forced up to `upto` (all of them when `upto` is 0), the rest
    sampled. Returns tokens, logits, features f_0..f_T and goals."""
    st, tok = g.init(n, dev), torch.zeros(n, dtype=torch.long, device=dev)
    row = torch.zeros(n, length, dtype=torch.long, device=dev)
    logits, feats, goals = [], [], []
    for t in range(length):
        with torch.no_grad():
            f = cnn_features(d, row)
        out, goal, st = g.step(tok, st, f)
        logits.append(out); feats.append(f); goals.append(goal)
        if given is not None and (upto == 0 or t < upto):
            tok = given[:, t]
        else:
            with torch.no_grad():
                tok = torch.multinomial(F.softmax(out, -1), 1).squeeze(1)
        row = row.clone(); row[:, t] = tok
    with torch.no_grad():
        feats.append(cnn_features(d, row))
    return row, torch.stack(logits, 1), torch.stack(feats, 1), torch.stack(goals, 1)


def make_gen(c, dev):
    if c["kind"] == "seq2seq":
        return Seq2seq(c).to(dev)
    if c["kind"] == "transformer":
        return GPTGen(c["vocab"], c["emb"], c["layers"], c["heads"]).to(dev)
    return LSTMGen(c["vocab"], c["emb"], c["hid"]).to(dev)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", action="append", choices=list(SIZES))
    ap.add_argument("--step", action="append", choices=["mle", "sample", "seqgan", "relgan", "scratchgan", "forward", "cot", "jsdgan", "dgsan", "rankgan", "textgan", "leakgan", "dpgan"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--highway", choices=["gated", "tied"], default="gated")
    ap.add_argument("--relgan-d-steps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    for size in a.size or ["oracle"]:
        c = SIZES[size]
        if c["kind"] == "gpt2":
            for step in a.step or ["forward", "sample"]:
                reset_peak()
                torch.manual_seed(0)
                ms = gpt2_step(c, step, dev, a.reps)
                print(json.dumps({"impl": "pytorch", "step": step, "size": size, "device": str(dev),
                                  "threads": torch.get_num_threads(), "median_ms": ms,
                                  "tokens_per_s": c["batch"] * c["length"] / (ms / 1e3),
                                  "reps": min(a.reps, 5), "peak_rss_mb": peak_rss_mb(), "library": "transformers"}),
                      flush=True)
            continue
        b, length, vocab = c["batch"], c["length"], c["vocab"]
        torch.manual_seed(0)
        g = make_gen(c, dev)
        opt = torch.optim.Adam(g.parameters(), 1e-3)
        data = torch.randint(vocab, (b, length + 1), device=dev)
        bos = torch.zeros(b, 1, dtype=torch.long, device=dev)
        for step in a.step or ["mle", "sample"]:
            reset_peak()
            tokens = b * length
            if c["kind"] == "seq2seq":
                # MLE: the step; sample: translating 1,000 sources with beam 5 (17 steps).
                src = torch.randint(4, c["src_vocab"], (1000, length), device=dev)
                if step == "mle":
                    g.train()
                    def fn():
                        logits = g(src[:b], data[:, :-1])
                        loss = F.cross_entropy(logits.reshape(-1, vocab), data[:, 1:].reshape(-1))
                        opt.zero_grad(); loss.backward()
                        nn.utils.clip_grad_norm_(g.parameters(), 5.0); opt.step()
                    ms, reps = median_ms(fn, dev, 3, a.reps), a.reps
                else:
                    reps = min(a.reps, 3)
                    ms = median_ms(lambda: [beam_translate(g, src[i:i + b], 5, length + 1)
                                            for i in range(0, 1000, b)], dev, 1, reps)
                    tokens = 1000 * (length + 1)
            elif step == "mle":
                def fn():
                    logits, _ = g(data[:, :-1])
                    loss = F.cross_entropy(logits.reshape(-1, vocab), data[:, 1:].reshape(-1))
                    opt.zero_grad(); loss.backward()
                    nn.utils.clip_grad_norm_(g.parameters(), 5.0); opt.step()
                ms, reps = median_ms(fn, dev, 3, a.reps), a.reps
            elif step == "sample":
                reps = min(a.reps, 5)
                ms = median_ms(lambda: sample(g, 10_000, length, dev), dev, 1, reps)
                tokens = 10_000 * length
            elif step == "seqgan":
                d = CNNDis(vocab, a.highway).to(dev).eval()
                def fn():
                    s = sample(g, b, length, dev)
                    r = serial_rollout_rewards(g, d, s, 16)
                    logp = F.log_softmax(g(torch.cat([bos, s[:, :-1]], 1))[0], -1).gather(2, s.unsqueeze(2)).squeeze(2)
                    loss = -(logp * r).mean()
                    opt.zero_grad(); loss.backward(); opt.step()
                reps = min(a.reps, 3)
                ms = median_ms(fn, dev, 1, reps)
            elif step == "relgan":
                # RelGAN's own generator at every size, as `textgan bench` uses at the oracle's.
                rg = RMCGen(vocab).to(dev)
                d = RelGANDis(vocab, a.highway).to(dev).train()
                gopt = torch.optim.Adam(rg.parameters(), 1e-4)
                dopt = torch.optim.Adam(d.parameters(), 1e-4)
                real = lambda: F.one_hot(torch.randint(vocab, (b, length), device=dev), vocab).float()
                def fn():
                    fake = gumbel_decode(rg, b, length, 1.1, dev)
                    loss = rsgan(d(fake), d(real()))
                    gopt.zero_grad(); loss.backward(); gopt.step()
                    for _ in range(a.relgan_d_steps):
                        with torch.no_grad():
                            fake = gumbel_decode(rg, b, length, 1.1, dev)
                        loss = rsgan(d(real()), d(fake))
                        dopt.zero_grad(); loss.backward(); dopt.step()
                reps = min(a.reps, 5)
                ms = median_ms(fn, dev, 1, reps)
            elif step == "textgan":
                # Texygen's textGan_MMD step as textgan runs it: G's Gumbel-softmax rows
                # (beta 1000) through a CNN of widths 2, 3 x 100, 200; G minimises MMD² of the
                # highway features against a real batch's; then one D update of
                # BCE - 0.1 MMD².
                d = CNNDis(vocab, a.highway, emb=32, sizes=(2, 3), nums=(100, 200)).to(dev).train()
                dopt = torch.optim.Adam(d.parameters(), 1e-4)
                sig = torch.tensor([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 5, 10, 15, 20, 25, 30, 35, 100, 1e3, 1e4, 1e5, 1e6], device=dev)
                def soft_rows(n):
                    h, x, out = None, torch.zeros(n, 1, dtype=torch.long, device=dev), []
                    for _ in range(length):
                        logits, h = g(x, h)
                        u = torch.rand_like(logits[:, -1])
                        z = logits[:, -1] - torch.log(-torch.log(u + 1e-10) + 1e-10)
                        x = z.argmax(-1, keepdim=True)
                        out.append(F.softmax(1000.0 * z, -1))
                    return torch.stack(out, 1)
                def feats(e):
                    h = torch.cat([F.relu(c(e.unsqueeze(1))).squeeze(3).amax(2) for c in d.convs], 1)
                    hw = d.head
                    z = hw.highway(h)
                    t = torch.sigmoid(hw.gate(h) if hw.gate is not None else z)
                    f = t * F.relu(z) + (1 - t) * h
                    return f, hw.out(hw.drop(f)).squeeze(1)
                def mmd(x, y):
                    def k(p, q):
                        dist = (p.pow(2).sum(1, keepdim=True) + q.pow(2).sum(1) - 2 * p @ q.t()).clamp(min=0)
                        return torch.exp(-dist.unsqueeze(0) / (2 * sig.view(-1, 1, 1))).sum(0).mean()
                    return (k(x, x) + k(y, y) - 2 * k(x, y)).clamp(min=0)
                def fn():
                    fake = soft_rows(b)
                    with torch.no_grad():
                        fr, _ = feats(d.embed(data[:, 1:]))
                    ff, _ = feats(fake @ d.embed.weight)
                    loss = mmd(fr, ff)
                    opt.zero_grad(); loss.backward()
                    nn.utils.clip_grad_norm_(g.parameters(), 5.0); opt.step()
                    with torch.no_grad():
                        fake = soft_rows(b)
                    fr, r = feats(d.embed(data[:, 1:]))
                    ff, f = feats(fake @ d.embed.weight)
                    dl = F.softplus(-r).mean() + F.softplus(f).mean() - 0.1 * mmd(fr, ff)
                    dopt.zero_grad(); dl.backward(); dopt.step()
                reps = min(a.reps, 10)
                ms = median_ms(fn, dev, 1, reps)
            elif step == "leakgan":
                # LeakGAN's step at the oracle's size: 4 rollouts of every prefix re-run from
                # the start (TextGAN-PyTorch's rollout), D's CNN features computed at every
                # decoding step, rewards rescaled by rank (delta 12), the Manager's cosine loss
                # and the Worker's intrinsic REINFORCE, then 5 D updates on fresh samples.
                lg = LeakG(vocab).to(dev)
                d = CNNDis(vocab, a.highway).to(dev)
                gopt = torch.optim.Adam(lg.parameters(), 1.5e-3)
                dopt = torch.optim.Adam(d.parameters(), 1e-4)
                c = 4
                def cos(x, y):
                    return F.cosine_similarity(x, y, dim=-1, eps=1e-8)
                def fn():
                    d.eval()
                    with torch.no_grad():
                        s, _, _, _ = leak_run(lg, d, b, length, dev)
                        r = torch.zeros(b, length, device=dev)
                        for _ in range(4):
                            for p in range(1, length):
                                full, _, _, _ = leak_run(lg, d, b, length, dev, given=s, upto=p)
                                r[:, p - 1] += torch.sigmoid(d(full))
                        r /= 4
                        r[:, -1] = torch.sigmoid(d(s))
                        ranks = r.argsort(0, descending=True).argsort(0).float()
                        q = torch.sigmoid(12 * (0.5 - ranks / b))
                    _, logits, f, g = leak_run(lg, d, b, length, dev, given=s)
                    gd = g.detach()
                    intr = torch.stack([sum(cos(f[:, k] - f[:, k - i], gd[:, k - i]) for i in range(1, min(c, k) + 1)) / c
                                        for k in range(1, length + 1)], 1)
                    logp = F.log_softmax(logits, -1).gather(2, s.unsqueeze(2)).squeeze(2)
                    worker = -(logp * intr).mean()
                    m = length - c + 1
                    manager = -(cos(f[:, c:c + m] - f[:, :m], g[:, :m]) * q[:, :m]).mean()
                    gopt.zero_grad(); (worker + manager).backward()
                    nn.utils.clip_grad_norm_(lg.parameters(), 5.0); gopt.step()
                    d.train()
                    for _ in range(5):
                        with torch.no_grad():
                            fake, _, _, _ = leak_run(lg, d, b, length, dev)
                        dl = F.softplus(-d(data[:, 1:])).mean() + F.softplus(d(fake)).mean()
                        dopt.zero_grad(); dl.backward(); dopt.step()
                reps = min(a.reps, 3)
                ms = median_ms(fn, dev, 1, reps)
            elif step == "rankgan":
                # Texygen's RankGAN step: rollout rewards are rank scores (softmax over the
                # human comparison batch of gamma cos to 16 references), then 5 ranker updates.
                d = CNNDis(vocab, a.highway, outputs=64).to(dev)
                dopt = torch.optim.Adam(d.parameters(), 1e-4)
                def rank(cand, comp, refs, gamma=1.0):
                    u = F.normalize(refs, dim=1)
                    a_s, a_c = gamma * F.normalize(cand, dim=1) @ u.t(), gamma * F.normalize(comp, dim=1) @ u.t()
                    lse = torch.logsumexp(a_c, 0, keepdim=True).expand_as(a_s)
                    return (a_s - torch.logsumexp(torch.stack([a_s, lse]), 0)).exp().mean(1)
                def fn():
                    s = sample(g, b, length, dev)
                    d.eval()
                    with torch.no_grad():
                        c_feat, u_feat = d(data[:, 1:]), d(data[:16, 1:])
                    r = serial_rollout_rewards(g, d, s, 16, lambda x: rank(d(x), c_feat, u_feat))
                    logp = F.log_softmax(g(torch.cat([bos, s[:, :-1]], 1))[0], -1).gather(2, s.unsqueeze(2)).squeeze(2)
                    loss = -(logp * r).mean()
                    opt.zero_grad(); loss.backward(); opt.step()
                    d.train()
                    for _ in range(5):
                        fake = sample(g, b, length, dev)
                        yr, yf, yu = d(data[:, 1:]), d(fake), d(data[:16, 1:])
                        dl = -rank(yr, yf, yu).clamp(min=1e-20).log().mean() + rank(yf, yr, yu).clamp(min=1e-20).log().mean()
                        dopt.zero_grad(); dl.backward(); dopt.step()
                reps = min(a.reps, 3)
                ms = median_ms(fn, dev, 1, reps)
            elif step == "cot":
                # CoT_G.get_loss and the mediator's NLL on real + generated (TextGAN-PyTorch's
                # cot_instructor), the mediator an LSTM of twice the generator's sizes.
                med = LSTMGen(vocab, 2 * c["emb"], 2 * c["hid"]).to(dev) if c["kind"] == "lstm" else make_gen(c, dev)
                mopt = torch.optim.Adam(med.parameters(), 1e-3)
                def fn():
                    s = sample(g, b, length, dev)
                    inp = torch.cat([bos, s[:, :-1]], 1)
                    with torch.no_grad():
                        rewards = F.log_softmax(med(inp)[0], -1)
                    log_pred = F.log_softmax(g(inp)[0], -1)
                    loss = -torch.sum(log_pred.exp() * (rewards - log_pred)) / (b * length)
                    opt.zero_grad(); loss.backward()
                    nn.utils.clip_grad_norm_(g.parameters(), 5.0); opt.step()
                    x = torch.cat([data[:, 1:], sample(g, b, length, dev)], 0)
                    xin = torch.cat([torch.zeros(2 * b, 1, dtype=torch.long, device=dev), x[:, :-1]], 1)
                    ml = F.cross_entropy(med(xin)[0].reshape(-1, vocab), x.reshape(-1))
                    mopt.zero_grad(); ml.backward(); mopt.step()
                reps = min(a.reps, 10)
                ms = median_ms(fn, dev, 1, reps)
            elif step == "jsdgan":
                # JSDGAN_G.JSD_loss on one real batch.
                def fn():
                    pred = F.log_softmax(g(data[:, :-1])[0], -1)
                    pred = torch.sum(pred * F.one_hot(data[:, 1:], vocab).float(), dim=-1)
                    prob_gen = torch.exp(torch.sum(pred, dim=-1).double())
                    prob_gen = torch.div(prob_gen - prob_gen.min(),
                                         torch.clamp(prob_gen.max() - prob_gen.min(), min=1e-78)).clamp(min=1e-10)
                    prob_data = torch.full_like(prob_gen, 1 / b)
                    reward = torch.log(1. - torch.div(prob_data, prob_data + prob_gen))
                    loss = torch.sum((prob_gen * reward).detach() * torch.sum(pred.double(), dim=-1))
                    opt.zero_grad(); loss.backward()
                    nn.utils.clip_grad_norm_(g.parameters(), 5.0); opt.step()
                ms, reps = median_ms(fn, dev, 3, a.reps), a.reps
            elif step == "dpgan":
                # DPGAN as textgan runs it (TextGAN-PyTorch's dpgan_instructor, generator texts
                # the argmax tokens under teacher forcing on a real batch): word rewards -log p
                # of a language-model discriminator of the generator's sizes, sentence reward
                # their mean, returns the reversed cumulative sum of their product; then one
                # LM update on the real batch and fresh samples.
                lm = make_gen(c, dev)
                lmopt = torch.optim.Adam(lm.parameters(), 1e-4)
                def word_rewards(x):
                    inp = torch.cat([bos, x[:, :-1]], 1)
                    r = -F.log_softmax(lm(inp)[0], -1).gather(2, x.unsqueeze(2)).squeeze(2)
                    return r, r.mean(1)
                def fn():
                    best, y = F.log_softmax(g(data[:, :-1])[0], -1).max(-1)
                    with torch.no_grad():
                        r, big_r = word_rewards(y)
                        q = (r * big_r.unsqueeze(1)).flip(1).cumsum(1).flip(1)
                    loss = -(best * q).sum() / b
                    opt.zero_grad(); loss.backward()
                    nn.utils.clip_grad_norm_(g.parameters(), 5.0); opt.step()
                    fake = sample(g, b, length, dev)
                    lm_loss = -word_rewards(data[:, 1:])[1].mean() + word_rewards(fake)[1].mean()
                    lmopt.zero_grad(); lm_loss.backward()
                    nn.utils.clip_grad_norm_(lm.parameters(), 5.0); lmopt.step()
                reps = min(a.reps, 10)
                ms = median_ms(fn, dev, 1, reps)
            elif step == "dgsan":
                # dgsan_instructor.adv_train_generator on one real batch and one of G_old's.
                import copy
                old = copy.deepcopy(g)
                def pred_of(m, s):
                    inp = torch.cat([bos, s[:, :-1]], 1)
                    p = torch.exp(F.log_softmax(m(inp)[0], -1))
                    return torch.sum(p * F.one_hot(s, vocab).float(), dim=-1)
                def fn():
                    fake = sample(old, b, length, dev)
                    real = data[:, 1:]
                    real_new, fake_new = pred_of(g, real), pred_of(g, fake)
                    with torch.no_grad():
                        real_old, fake_old = pred_of(old, real), pred_of(old, fake)
                    real_loss = -torch.sum(torch.log(1 / (1 + real_old / real_new)))
                    fake_loss = -torch.sum(torch.log(1 / (1 + fake_new / fake_old)))
                    loss = real_loss + fake_loss
                    opt.zero_grad(); loss.backward()
                    nn.utils.clip_grad_norm_(g.parameters(), 5.0); opt.step()
                reps = min(a.reps, 10)
                ms = median_ms(fn, dev, 1, reps)
            else:  # scratchgan: dense per-token rewards, discounted returns, moving baseline
                d = LSTMDis(vocab).to(dev)
                dopt = torch.optim.Adam(d.parameters(), 1e-4)
                baseline = torch.zeros(length, device=dev)
                def fn():
                    nonlocal baseline
                    s = sample(g, b, length, dev)
                    with torch.no_grad():
                        rew = 2 * torch.sigmoid(d(s)) - 1
                        ret = torch.zeros_like(rew)
                        nxt = torch.zeros(b, device=dev)
                        for t in reversed(range(length)):
                            nxt = rew[:, t] + 0.23 * nxt
                            ret[:, t] = nxt
                    adv = ret - baseline
                    baseline = 0.9 * baseline + 0.1 * ret.mean(0)
                    logp = F.log_softmax(g(torch.cat([bos, s[:, :-1]], 1))[0], -1).gather(2, s.unsqueeze(2)).squeeze(2)
                    loss = -(logp * adv).mean()
                    opt.zero_grad(); loss.backward(); opt.step()
                    fake = sample(g, b, length, dev)
                    pr, pf = d(data[:, 1:]), d(fake)
                    dl = F.binary_cross_entropy_with_logits(pr, torch.ones_like(pr)) + \
                        F.binary_cross_entropy_with_logits(pf, torch.zeros_like(pf))
                    dopt.zero_grad(); dl.backward(); dopt.step()
                reps = min(a.reps, 10)
                ms = median_ms(fn, dev, 1, reps)
            print(json.dumps({"impl": "pytorch", "step": step, "size": size, "device": str(dev),
                              "threads": torch.get_num_threads(), "median_ms": ms,
                              "tokens_per_s": tokens / (ms / 1e3), "reps": reps,
                              "peak_rss_mb": peak_rss_mb()}), flush=True)


if __name__ == "__main__":
    main()
