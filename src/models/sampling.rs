//! Decoding: greedy, temperature, top-k and top-p sampling, batched over many sequences at once.
use super::{Condition, Generator};
use tch::{Device, Kind, Tensor};

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Logits are divided by this before the softmax (1 = the model's distribution).
    pub temperature: f64,
    /// Keep only the k most likely tokens (0 = all).
    pub top_k: i64,
    /// Keep the smallest set of tokens whose probability reaches p (1 = all).
    pub top_p: f64,
    /// Always take the most likely token.
    pub greedy: bool,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            greedy: false,
        }
    }
}

impl Sampling {
    /// The one check of sampling options, for every way a user sets them (the command line's
    /// flags, the server's fields): a temperature in [0.01, 100] (outside it the scaled logits
    /// overflow float32, or nearly do; greedy decoding takes the most likely token instead),
    /// top-k non-negative, top-p in (0, 1].
    pub fn validate(&self) -> crate::Result<()> {
        use crate::error::shown;
        let bad = |m: String| Err(crate::Error::Request(m));
        if !(0.01..=100.0).contains(&self.temperature) {
            return bad(format!(
                "temperature must be in [0.01, 100], got {} (greedy decoding takes the most likely token)",
                shown(self.temperature)
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!(
                "top_p must be in (0, 1], got {}",
                shown(self.top_p)
            ));
        }
        if self.top_k < 0 {
            return bad(format!("top_k must be non-negative, got {}", self.top_k));
        }
        Ok(())
    }

    /// Next tokens [B] from logits [B, V].
    pub fn pick(&self, logits: &Tensor) -> Tensor {
        self.pick_n(logits, 1).squeeze_dim(1)
    }

    /// `n` independent next tokens per row, [B, n], from logits [B, V]: the distribution is
    /// prepared once per row however many draws are taken from it.
    pub fn pick_n(&self, logits: &Tensor, n: i64) -> Tensor {
        self.pick_n_given(logits, n, None)
    }

    /// [`Sampling::pick_n`] reading its uniform numbers [B, n] from `u` when given (drawn
    /// here otherwise): several processes that each draw one slice of a batch take the
    /// slice of the numbers one process would draw for the whole batch, so they pick the
    /// same tokens whatever the number of processes.
    pub fn pick_n_given(&self, logits: &Tensor, n: i64, u: Option<&Tensor>) -> Tensor {
        if self.greedy || self.temperature <= 0.0 {
            return logits.argmax(-1, true).expand([-1, n], false).contiguous();
        }
        let mut logits = if self.temperature == 1.0 {
            logits.shallow_clone()
        } else {
            logits / self.temperature
        };
        let v = logits.size()[1];
        if self.top_k > 0 && self.top_k < v {
            let (top, _) = logits.topk(self.top_k, -1, true, true); // [B, k]
            let kth = top.narrow(1, self.top_k - 1, 1); // [B, 1]
            logits = logits.masked_fill(&logits.lt_tensor(&kth), f64::NEG_INFINITY);
        }
        if self.top_p < 1.0 {
            let (sorted, idx) = logits.sort(-1, true); // [B, V] descending
            let probs = sorted.softmax(-1, Kind::Float);
            // Drop a token when the tokens strictly more likely than it already reach top_p.
            let before = probs.cumsum(-1, Kind::Float) - &probs;
            let drop_sorted = before.ge(self.top_p);
            let drop = drop_sorted.scatter(1, &idx, &drop_sorted);
            logits = logits.masked_fill(&drop, f64::NEG_INFINITY);
        }
        let probs = logits.softmax(-1, Kind::Float);
        match u {
            Some(u) => draw_n_given(&probs, u),
            None => draw_n(&probs, n),
        }
    }
}

/// `n` independent draws per row of `probs` [B, V] -> [B, n] (with replacement), by inverse
/// CDF: one cumulative sum per row and a binary search per draw. Same distribution as
/// `multinomial(n, true)`, which on the CPU is several times slower for wide vocabularies.
///
/// Wide rows are searched in two levels: torch's CPU cumulative sum is a serial loop along the
/// row (17% of a SeqGAN step on 5,000 tokens), so the row is cut into blocks of about sqrt(V),
/// whose sums come from one vectorised reduction; the draw picks a block by its cumulative sum
/// and then a token inside it by the cumulative sum of that block alone. The same distribution,
/// and the same token for the same uniform number up to rounding.
pub fn draw_n(probs: &Tensor, n: i64) -> Tensor {
    let b = probs.size()[0];
    draw_n_given(probs, &Tensor::rand([b, n], (Kind::Float, probs.device())))
}

/// Rows `lo..lo + len` of the uniform numbers [whole, cols] one process draws for a batch of
/// `whole` rows: what a process holding those rows of the batch takes, so that processes that
/// split a batch draw together what one process draws (the same generator state on each).
pub fn uniform_rows(
    (whole, cols): (i64, i64),
    (lo, len): (i64, i64),
    options: (Kind, Device),
) -> Tensor {
    Tensor::rand([whole, cols], options).narrow(0, lo, len)
}

/// [`draw_n`] with its uniform numbers in [0, 1) given, [B, n].
pub fn draw_n_given(probs: &Tensor, u: &Tensor) -> Tensor {
    let (b, v) = probs.size2().expect("[B, V]");
    let n = u.size()[1];
    if v < TWO_LEVEL_MIN_V {
        let cdf = probs.cumsum(-1, Kind::Float); // [B, V]
        let total = cdf.narrow(1, v - 1, 1); // [B, 1]: 1 up to rounding
        let u = u * &total;
        let ids = u
            .searchsorted(&cdf, false, true, "right", None::<Tensor>)
            .clamp_max(v - 1);
        return never_impossible(probs, ids);
    }
    let width = (v as f64).sqrt().ceil() as i64;
    let full = v / width; // whole blocks; a shorter last one holds the rest
    let tail = v - full * width;
    // Block sums without copying the row (a padded copy costs as much as the cumulative sum).
    let mut sums = probs
        .narrow(1, 0, full * width)
        .view([b, full, width])
        .sum_dim_intlist([2i64].as_slice(), false, Kind::Float); // [B, nb]
    if tail > 0 {
        let last = probs.narrow(1, full * width, tail).sum_dim_intlist(
            [1i64].as_slice(),
            true,
            Kind::Float,
        );
        sums = Tensor::cat(&[sums, last], 1);
    }
    let blocks = sums.size()[1];
    let outer = sums.cumsum(-1, Kind::Float); // [B, nb]
    let total = outer.narrow(1, blocks - 1, 1);
    let u = u * &total; // [B, n]
    let blk = u
        .searchsorted(&outer, false, true, "right", None::<Tensor>)
        .clamp_max(blocks - 1); // [B, n]
                                // Where inside the block: the fraction of the block's mass below u, scaled to the
                                // block's own cumulative sum so that rounding between the two sums cannot step past it.
    let mass = sums.gather(1, &blk, false);
    let before = outer.gather(1, &blk, false) - &mass;
    let frac = ((&u - before) / mass.clamp_min(f64::MIN_POSITIVE))
        .clamp(0.0, 1.0 - f64::from(f32::EPSILON));
    // The block's entries [B, n, width]; past the row's end (the last block) they count as 0.
    let offsets = Tensor::arange(width, (Kind::Int64, probs.device()));
    let idx = blk.unsqueeze(2) * width + offsets; // [B, n, width]
    let inside = idx.lt(v);
    let rows = probs
        .gather(1, &idx.clamp_max(v - 1).view([b, n * width]), false)
        .view([b, n, width])
        * inside;
    let inner = rows.cumsum(-1, Kind::Float);
    let target = (frac * inner.narrow(2, width - 1, 1).squeeze_dim(2)).unsqueeze(2); // [B, n, 1]
    let within = target
        .searchsorted(&inner, false, true, "right", None::<Tensor>)
        .squeeze_dim(2)
        .clamp_max(width - 1);
    never_impossible(probs, (blk * width + within).clamp_max(v - 1))
}

/// The rows of one batch: `ids` [rows, width] row-major, cut at `<eos>` after the prompt; with
/// their log-probabilities `lp` [rows, lw] (none: empty), as far as each row goes (`<eos>`
/// included).
fn rows_of(
    ids: &[i64],
    (rows, width): (usize, usize),
    (lp, lw): (&[f32], usize),
    spec: &GenerateSpec,
) -> Vec<(Vec<i64>, Vec<f32>)> {
    (0..rows)
        .map(|r| {
            let mut seq: Vec<i64> = spec.prefix.clone();
            let mut ended = false;
            for &t in &ids[r * width..(r + 1) * width] {
                if Some(t) == spec.eos {
                    ended = true;
                    break;
                }
                seq.push(t);
            }
            let scores = match lp.is_empty() {
                true => vec![],
                false => lp[r * lw..r * lw + seq.len() + usize::from(ended)].to_vec(),
            };
            (seq, scores)
        })
        .collect()
}

/// Rows at least this wide are drawn from in two levels ([`draw_n`]).
const TWO_LEVEL_MIN_V: i64 = 512;

/// Rounding can land a draw on a token of probability 0 (a banned or filtered one) at the very
/// end of a row or block; such draws take the row's most likely token instead.
fn never_impossible(probs: &Tensor, ids: Tensor) -> Tensor {
    let ok = probs.gather(1, &ids, false).gt(0.0);
    // On the CPU, asking first is cheaper than the argmax over every row; on a GPU the
    // question would wait for the device, and the argmax costs little there.
    if probs.device() == Device::Cpu && bool::try_from(ok.all()).unwrap_or(false) {
        return ids;
    }
    let best = probs.argmax(-1, true).expand_as(&ids);
    ids.where_self(&ok, &best)
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateSpec {
    pub count: usize,
    /// Tokens per sequence at most, `<eos>` included.
    pub max_len: usize,
    pub batch_size: usize,
    /// Start token fed first.
    pub bos: i64,
    /// Sequences end at this token (absent: every sequence runs to `max_len`).
    pub eos: Option<i64>,
    /// Tokens never produced (padding, `<bos>`).
    pub banned: Vec<i64>,
    /// Forced first tokens (a prompt); they are part of the output.
    pub prefix: Vec<i64>,
    /// What the sequences are conditioned on: one row per sequence (`count` rows), or none.
    pub cond: Condition,
}

/// Samples `spec.count` sequences; each is returned without `<bos>` and cut before `<eos>`.
pub fn generate(
    gen: &dyn Generator,
    spec: &GenerateSpec,
    sampling: &Sampling,
    device: Device,
) -> Vec<Vec<i64>> {
    generate_inner(gen, spec, sampling, device, (false, false))
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

/// [`generate`] with the work shared by the processes of a job ([`crate::dist`]): each one
/// samples its rows of every batch ([`crate::dist::shard_range`]) with the uniform numbers one
/// process draws for those rows, a batch stops when all its rows have ended, and the rows
/// are gathered, so every process returns what one process alone would (to rounding in the
/// network's sums). Outside a job, or with fewer rows in a batch than processes, [`generate`].
pub fn generate_shared(
    gen: &dyn Generator,
    spec: &GenerateSpec,
    sampling: &Sampling,
    device: Device,
) -> Vec<Vec<i64>> {
    generate_inner(gen, spec, sampling, device, (false, true))
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

/// [`generate`], with each token's log-probability under the generator's own distribution
/// (temperature 1, nothing banned or filtered), taken from the logits the sampling computed
/// anyway: the prompt's tokens, then the generated ones, `<eos>` included where a sequence
/// ended (so a sequence ended when it has one log-probability more than tokens). The same
/// draws as [`generate`].
pub fn generate_scored(
    gen: &dyn Generator,
    spec: &GenerateSpec,
    sampling: &Sampling,
    device: Device,
) -> Vec<(Vec<i64>, Vec<f32>)> {
    generate_inner(gen, spec, sampling, device, (true, false))
}

/// log p(tok) under `logits` [B, V] for tokens [B]: [B].
fn log_prob_of(logits: &Tensor, tok: &Tensor) -> Tensor {
    logits.gather(1, &tok.unsqueeze(1), false).squeeze_dim(1)
        - logits.logsumexp([1i64].as_slice(), false)
}

fn generate_inner(
    gen: &dyn Generator,
    spec: &GenerateSpec,
    sampling: &Sampling,
    device: Device,
    (scored, shared): (bool, bool),
) -> Vec<(Vec<i64>, Vec<f32>)> {
    let _guard = tch::no_grad_guard();
    let mut out = Vec::with_capacity(spec.count);
    let mut left = spec.count;
    let steps = spec.max_len.saturating_sub(spec.prefix.len());
    let ban = (!spec.banned.is_empty()).then(|| {
        let mut mask = vec![0f32; gen.vocab_size() as usize];
        for &b in &spec.banned {
            mask[b as usize] = f32::NEG_INFINITY;
        }
        Tensor::from_slice(&mask).to_device(device) // [V]
    });
    while left > 0 {
        let whole = left.min(spec.batch_size.max(1)) as i64;
        // This process's rows of the batch: lo..lo + b.
        let (lo, b, world) = match crate::dist::my_rows(whole as usize).filter(|_| shared) {
            Some((lo, hi, world)) => (lo as i64, (hi - lo) as i64, world),
            None => (0, whole, 1),
        };
        let cond = spec.cond.narrow((spec.count - left) as i64 + lo, b);
        let mut state = gen.initial_state_given(b, &cond);
        let mut tok = Tensor::full([b], spec.bos, (Kind::Int64, device));
        let mut logits = gen.step(&tok, &mut state);
        let mut lps: Vec<Tensor> = Vec::new();
        for &p in &spec.prefix {
            tok = Tensor::full([b], p, (Kind::Int64, device));
            if scored {
                lps.push(log_prob_of(&logits, &tok));
            }
            logits = gen.step(&tok, &mut state);
        }
        let mut cols: Vec<Tensor> = Vec::with_capacity(steps);
        let mut done = Tensor::zeros([b], (Kind::Bool, device));
        for i in 0..steps {
            let l = match &ban {
                Some(m) => &logits + m,
                None => logits.shallow_clone(),
            };
            tok = pick_rows(sampling, &l, (lo, b, whole), world);
            if scored {
                lps.push(log_prob_of(&logits, &tok));
            }
            cols.push(tok.shallow_clone());
            if let Some(eos) = spec.eos {
                done = done.logical_or(&tok.eq(eos));
                // Checking every few steps keeps the GPU from waiting on the host each token.
                if i % 4 == 3 && all_ended(&done, world) {
                    break;
                }
            }
            if i + 1 < steps {
                logits = gen.step(&tok, &mut state);
            }
        }
        let ids: Vec<i64> = if cols.is_empty() {
            vec![]
        } else {
            let mine = Tensor::stack(&cols, 1);
            let ids = match world {
                1 => mine,
                _ => crate::dist::gather_rows(&mine, whole),
            };
            Vec::try_from(ids.to_device(Device::Cpu).reshape([-1])).unwrap_or_default()
        };
        let lp: Vec<f32> = match lps.is_empty() {
            true => vec![],
            false => Vec::try_from(Tensor::stack(&lps, 1).to_device(Device::Cpu).reshape([-1]))
                .unwrap_or_default(),
        };
        out.extend(rows_of(
            &ids,
            (whole as usize, cols.len()),
            (&lp, lps.len()),
            spec,
        ));
        left -= whole as usize;
    }
    out
}

/// Next tokens for rows `lo..lo + b` of a batch of `whole` rows from their logits `l` [b, V],
/// drawn as for the whole batch when `world` processes share it. (Greedy picks draw nothing.)
fn pick_rows(
    sampling: &Sampling,
    l: &Tensor,
    (lo, b, whole): (i64, i64, i64),
    world: usize,
) -> Tensor {
    if world == 1 || sampling.greedy || sampling.temperature <= 0.0 {
        return sampling.pick(l);
    }
    let u = uniform_rows((whole, 1), (lo, b), (Kind::Float, l.device()));
    sampling.pick_n_given(l, 1, Some(&u)).squeeze_dim(1)
}

/// Whether every row of the batch has ended: `done` [rows] holds this process's rows, and with
/// `world` processes sharing the batch they all must agree.
fn all_ended(done: &Tensor, world: usize) -> bool {
    let here = bool::try_from(done.all()).unwrap_or(false);
    match world {
        1 => here,
        _ => crate::dist::sum_all([f64::from(u8::from(here))])[0] == world as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each log-probability `generate_scored` returns equals the one a teacher-forced pass over
    /// the finished sequence gives (prompt and `<eos>` included). (That it draws what
    /// `generate` draws is by construction, one code path, and the golden runs hold it; the
    /// global random stream is shared with tests running beside this one, so two calls here
    /// could not be compared.)
    #[test]
    fn scored_generation_matches_a_teacher_forced_pass() {
        for cfg in crate::models::tiny_configs() {
            tch::manual_seed(3);
            let m = crate::models::GeneratorModel::new(&cfg, 9, 12, Device::Cpu);
            let spec = GenerateSpec {
                count: 16,
                max_len: 8,
                batch_size: 16,
                bos: 1,
                eos: Some(2),
                banned: vec![0, 1],
                prefix: vec![5],
                cond: Default::default(),
            };
            let s = Sampling {
                temperature: 1.3,
                ..Default::default()
            };
            let scored = generate_scored(m.net.as_ref(), &spec, &s, Device::Cpu);
            let mut ended = 0;
            for (seq, lp) in &scored {
                assert_eq!(seq[0], 5, "the prompt comes first");
                let full: Vec<i64> = seq.iter().copied().chain([2]).take(lp.len()).collect();
                ended += usize::from(lp.len() > seq.len());
                assert!(lp.len() == seq.len() || lp.len() == seq.len() + 1);
                let input: Vec<i64> = [1].into_iter().chain(full.iter().copied()).collect();
                let x = Tensor::from_slice(&input[..full.len()]).view([1, -1]);
                let logp = m.net.forward(&x, false).log_softmax(-1, Kind::Float);
                for (j, &t) in full.iter().enumerate() {
                    let want = logp.double_value(&[0, j as i64, t]);
                    assert!(
                        (lp[j] as f64 - want).abs() < 1e-5,
                        "{j}: {} vs {want}",
                        lp[j]
                    );
                }
            }
            assert!(ended > 0, "none of 16 ended in 7 steps");
        }
    }

    #[test]
    fn greedy_and_top_k_1_agree() {
        let logits = Tensor::from_slice(&[0.1f32, 2.0, -1.0, 0.5, 3.0, 0.0]).view([2, 3]);
        let g = Sampling {
            greedy: true,
            ..Default::default()
        }
        .pick(&logits);
        let k = Sampling {
            top_k: 1,
            ..Default::default()
        }
        .pick(&logits);
        assert_eq!(Vec::<i64>::try_from(&g).unwrap(), vec![1, 1]);
        assert_eq!(Vec::<i64>::try_from(&k).unwrap(), vec![1, 1]);
    }

    #[test]
    fn top_p_keeps_the_nucleus_only() {
        tch::manual_seed(0);
        // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.7 keeps the first two only.
        let p = Tensor::from_slice(&[0.5f32, 0.3, 0.15, 0.05])
            .log()
            .view([1, 4])
            .repeat([4000, 1]);
        let s = Sampling {
            top_p: 0.7,
            ..Default::default()
        }
        .pick(&p);
        let counts = s.bincount::<Tensor>(None, 4);
        let c: Vec<i64> = Vec::try_from(&counts).unwrap();
        assert_eq!(c[2] + c[3], 0, "{c:?}");
        let frac = c[0] as f64 / 4000.0;
        assert!((frac - 0.625).abs() < 0.03, "{frac}"); // 0.5 / 0.8 after renormalising
    }

    #[test]
    fn inverse_cdf_draw_follows_the_distribution_and_skips_zeros() {
        tch::manual_seed(2);
        let p = Tensor::from_slice(&[0.2f32, 0.0, 0.5, 0.3, 0.0])
            .view([1, 5])
            .repeat([2000, 1]);
        let d = draw_n(&p, 10); // [2000, 10]
                                // Draws of one row are independent, not one draw repeated.
        let distinct = d.ne_tensor(&d.select(1, 0).unsqueeze(1)).any_dim(1, false);
        assert!(distinct.sum(Kind::Int64).int64_value(&[]) > 1900);
        let c: Vec<i64> = Vec::try_from(d.view([-1]).bincount::<Tensor>(None, 5)).unwrap();
        assert_eq!(c[1] + c[4], 0, "{c:?}");
        for (i, want) in [(0, 0.2), (2, 0.5), (3, 0.3)] {
            let got = c[i] as f64 / 20000.0;
            assert!((got - want).abs() < 0.015, "{i}: {got} vs {want}");
        }
    }

    /// Wide rows take the two-level path: block edges, the shorter last block, a
    /// token alone in its block and long runs of zeros must all come out at their rates.
    #[test]
    fn two_level_draw_follows_the_distribution_and_skips_zeros() {
        tch::manual_seed(4);
        let v: usize = 530; // blocks of 24: 22 whole ones and a last one of 2
        assert!(v as i64 >= TWO_LEVEL_MIN_V);
        let mass = [
            (0usize, 0.1f32),
            (23, 0.15),
            (24, 0.05),
            (300, 0.3),
            (528, 0.1),
            (529, 0.3),
        ];
        let mut row = vec![0f32; v];
        for (i, p) in mass {
            row[i] = p;
        }
        let rows = 20_000;
        let p = Tensor::from_slice(&row)
            .view([1, v as i64])
            .repeat([rows, 1]);
        let d = draw_n(&p, 10);
        assert_eq!(d.size(), vec![rows, 10]);
        let c: Vec<i64> = Vec::try_from(d.view([-1]).bincount::<Tensor>(None, v as i64)).unwrap();
        let draws = (rows * 10) as f64;
        for (i, want) in mass {
            let got = c[i] as f64 / draws;
            assert!(
                (got - want as f64).abs() < 0.006,
                "token {i}: {got} vs {want}"
            );
        }
        let stray: i64 = c.iter().sum::<i64>() - mass.iter().map(|&(i, _)| c[i]).sum::<i64>();
        assert_eq!(stray, 0, "draws of zero-probability tokens");
        // One possible token: every draw is it, wherever it sits.
        for only in [0usize, 250, 529] {
            let mut row = vec![0f32; v];
            row[only] = 1.0;
            let p = Tensor::from_slice(&row)
                .view([1, v as i64])
                .repeat([100, 1]);
            let d = draw_n(&p, 4);
            assert!(
                bool::try_from(d.eq(only as i64).all()).unwrap(),
                "only {only}"
            );
        }
    }

    #[test]
    fn temperature_sharpens() {
        tch::manual_seed(1);
        let p = Tensor::from_slice(&[0.6f32, 0.4])
            .log()
            .view([1, 2])
            .repeat([4000, 1]);
        let cold = Sampling {
            temperature: 0.5,
            ..Default::default()
        }
        .pick(&p);
        let frac0 = 1.0
            - cold
                .to_kind(Kind::Double)
                .mean(Kind::Double)
                .double_value(&[]);
        // At T = 0.5: 0.36 / (0.36 + 0.16) = 0.692.
        assert!((frac0 - 0.692).abs() < 0.03, "{frac0}");
    }
}
