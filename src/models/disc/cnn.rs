//! CNN discriminator of SeqGAN (Yu et al. 2017; after Kim 2014): filters of several widths over
//! the embedded sequence, max-over-time pooling, a highway layer, dropout, a linear score.
//! With `num_rep > 1`, RelGAN's multiple embedded representations (Nie et al. 2019): the
//! embedding is split into `num_rep` slices, each convolved and scored on its own.
use super::{fused, score_in_chunks, Discriminator, Table};
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Device, Kind, Tensor};

/// The CNN discriminator's settings (`[discriminator] kind = "cnn"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CnnDiscConfig {
    pub embed_dim: i64,
    pub filter_sizes: Vec<i64>,
    pub num_filters: Vec<i64>,
    /// RelGAN's multiple embedded representations (1 = SeqGAN's single one).
    pub num_rep: i64,
    pub dropout: f64,
    /// `gated`: the papers' highway layer, separate transform and gate matrices; `tied`:
    /// TextGAN-PyTorch's, one matrix as both (half the highway's work).
    pub highway: Highway,
}

/// The highway layer after the CNN's pooling.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Highway {
    /// t = sigmoid(W_t h), out = t * relu(W_h h) + (1 - t) * h (SeqGAN's and RelGAN's code).
    #[default]
    Gated,
    /// z = W h, out = sigmoid(z) * relu(z) + (1 - sigmoid(z)) * h (TextGAN-PyTorch).
    Tied,
}

impl Default for CnnDiscConfig {
    /// SeqGAN's discriminator: widths 1-10, 15, 20 with 100-200 filters, embedding 64.
    fn default() -> Self {
        CnnDiscConfig {
            embed_dim: 64,
            filter_sizes: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20],
            num_filters: vec![100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160],
            num_rep: 1,
            dropout: 0.25,
            highway: Highway::Gated,
        }
    }
}

impl CnnDiscConfig {
    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let c = self;
        ensure(
            !c.filter_sizes.is_empty() && c.filter_sizes.len() == c.num_filters.len(),
            || {
                "discriminator.filter_sizes and num_filters must be non-empty and of equal length"
                    .into()
            },
        )?;
        ensure(
            c.filter_sizes.iter().chain(&c.num_filters).all(|&x| x >= 1),
            || "discriminator filter sizes and counts must be positive".into(),
        )?;
        ensure(c.num_rep >= 1 && c.embed_dim % c.num_rep == 0, || {
            format!(
                "discriminator.embed_dim ({}) must be a positive multiple of num_rep ({})",
                c.embed_dim, c.num_rep
            )
        })
    }
}

/// Representations at most this wide go through the one-pass CPU kernel of [`fused`]: their
/// windows make matrix products too thin to pay (RelGAN's are one number wide).
const FUSED_MAX_SLICE: i64 = 4;

pub struct CnnDiscriminator {
    pub(super) emb: Table,
    pub(super) convs: Vec<(i64, nn::Conv2D)>,
    highway: nn::Linear,
    /// The gate's own matrix (`Highway::Gated`); absent, the highway matrix gates too.
    gate: Option<nn::Linear>,
    out: nn::Linear,
    pub(super) num_rep: i64,
    /// Logits per representation: 1 (real or not), or one per class of a classifier.
    outputs: i64,
    dropout: f64,
}

impl CnnDiscriminator {
    pub fn new(p: &nn::Path, c: &CnnDiscConfig, vocab: i64) -> Self {
        Self::with_outputs(p, c, vocab, 1)
    }

    /// A CNN with `outputs` logits per representation: SentiGAN's (k+1)-way discriminator, a
    /// label classifier. Scores are [B, num_rep * outputs].
    pub fn with_outputs(p: &nn::Path, c: &CnnDiscConfig, vocab: i64, outputs: i64) -> Self {
        let slice = c.embed_dim / c.num_rep;
        let convs = c
            .filter_sizes
            .iter()
            .zip(&c.num_filters)
            .enumerate()
            .map(|(i, (&f, &n))| {
                let cfg = nn::ConvConfigND {
                    stride: [1, slice],
                    ..Default::default()
                };
                (f, nn::conv(p / format!("conv{i}"), 1, n, [f, slice], cfg))
            })
            .collect();
        let feat: i64 = c.num_filters.iter().sum();
        CnnDiscriminator {
            emb: Table::new(p / "embed", vocab, c.embed_dim),
            convs,
            highway: nn::linear(p / "highway", feat, feat, Default::default()),
            gate: (c.highway == Highway::Gated)
                .then(|| nn::linear(p / "gate", feat, feat, Default::default())),
            out: nn::linear(p / "out", feat, outputs, Default::default()),
            num_rep: c.num_rep,
            outputs,
            dropout: c.dropout,
        }
    }
}

impl Discriminator for CnnDiscriminator {
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.emb.lookup(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        self.emb.soft(probs)
    }

    fn min_len(&self) -> i64 {
        self.convs.iter().map(|(f, _)| *f).max().unwrap_or(1)
    }

    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        let b = emb.size()[0];
        self.head(&self.pooled(emb), train)
            .view([b, self.num_rep * self.outputs])
    }

    /// The highway layer's output [B, R * F], before dropout, and the scores [B, R * outputs]
    /// the linear layer gives it (after dropout when `train`).
    fn features_scored(&self, emb: &Tensor, train: bool) -> Option<(Tensor, Tensor)> {
        let b = emb.size()[0];
        let h = self.pooled(emb);
        let (z, t) = self.highway_parts(&h);
        let feat = fused::highway_dropout(&z, &t, &h, 0.0, false); // [B*R, F]
        let scores = self.out.forward(&feat.dropout(self.dropout, train));
        Some((
            feat.view([b, -1]),
            scores.view([b, self.num_rep * self.outputs]),
        ))
    }

    /// With one representation, the filters' work on the prefixes the completions share is
    /// done once per base sequence, and the rest through lookup tables instead of matrix
    /// products: a filter's pre-activation is a sum over its window of per-token terms
    /// E[token] . W[offset], so with the discriminator fixed for the whole call each term is
    /// computed once per vocabulary entry and a window becomes an `embedding_bag` sum (about
    /// ten times faster than the unfolded product for SeqGAN's filters on a CPU). A window
    /// that lies inside the shared prefix is the base sequence's own window, so its maximum
    /// comes from a running maximum over the base; only the windows reaching past the prefix
    /// are computed per completion. Same numbers as [`Discriminator::score`] up to rounding.
    fn score_completions(&self, base: &Tensor, rows: &Tensor, n: i64) -> Tensor {
        if self.num_rep != 1 {
            return score_in_chunks(self, rows);
        }
        let _guard = tch::no_grad_guard();
        let (b, t) = base.size2().expect("[B, T]");
        let block = b * n;
        let blocks = rows.size()[0] / block;
        let tables = self.window_tables();
        // Running max over the base's windows: entry s is the max of windows 0..=s.
        let base_run: Vec<Tensor> = self
            .convs
            .iter()
            .zip(&tables)
            .map(|((f, conv), table)| {
                let y = windows(table, *f, conv.bs.as_ref(), base, 0).relu();
                y.cummax(1).0 // [B, T-f+1, n]
            })
            .collect();
        let scores: Vec<Tensor> = (0..blocks)
            .map(|k| {
                let prefix = k + 1;
                let chunk = rows.narrow(0, k * block, block);
                let pools: Vec<Tensor> = self
                    .convs
                    .iter()
                    .zip(&tables)
                    .zip(&base_run)
                    .map(|(((f, conv), table), run)| {
                        let all = t - f + 1;
                        // The first window that reaches past the prefix.
                        let s0 = (prefix - f + 1).clamp(0, all);
                        let inside = (s0 > 0)
                            .then(|| run.select(1, s0 - 1).repeat_interleave_self_int(n, 0, None));
                        let past = (s0 < all).then(|| {
                            windows(table, *f, conv.bs.as_ref(), &chunk, s0)
                                .relu()
                                .amax([1], false)
                        });
                        match (inside, past) {
                            (Some(a), Some(p)) => a.maximum(&p),
                            (Some(a), None) => a,
                            (None, Some(p)) => p,
                            (None, None) => unreachable!("a sequence has at least one window"),
                        } // [B*n, n_filters]
                    })
                    .collect();
                self.head(&Tensor::cat(&pools, 1), false)
            })
            .collect();
        Tensor::cat(&scores, 0)
    }
}

impl CnnDiscriminator {
    /// Max-over-time pooled filter outputs [B*R, F] of embeddings [B, T, E], after the ReLU.
    fn pooled(&self, emb: &Tensor) -> Tensor {
        let (b, t, e) = emb.size3().expect("[B, T, E]");
        let (r, s) = (self.num_rep, e / self.num_rep);
        let x = emb.view([b, t, r, s]).permute([0, 2, 1, 3]); // [B, R, T, s]

        // Narrow representations on the CPU: the one-pass op of [`fused`] (RelGAN's 1 G + 1 D
        // step from 3.8 s to 2.2 s on 2 cores).
        if s <= FUSED_MAX_SLICE && emb.device() == Device::Cpu && emb.kind() == Kind::Float {
            let rows = x.reshape([b * r, t, s]);
            let filters: Vec<fused::Filters> = self
                .convs
                .iter()
                .map(|(f, conv)| fused::Filters {
                    f: *f,
                    ws: &conv.ws,
                    bias: conv.bs.as_ref(),
                })
                .collect();
            return fused::max_over_time(&rows, &filters).relu(); // [B*R, F]
        }
        // Elsewhere, the convolutions as one matrix product per width over unfolded windows:
        // the same numbers as conv2d with a (f, s) kernel and stride s, and faster on the CPU
        // (the kernel spans whole rows, so there is nothing for a direct convolution to reuse).
        let pools: Vec<Tensor> = self
            .convs
            .iter()
            .map(|(f, conv)| {
                let n = conv.ws.size()[0];
                let kernel = conv.ws.view([n, f * s]).tr();
                // Max over time, then ReLU (the same as the other way round, since ReLU is
                // monotone), so the ReLU touches [B, R, n], not [B, R, W, n]. With many narrow
                // representations (RelGAN) the [B, R, W, n] activations dwarf the work on them:
                // a few sequences at a time keep them in cache, forward and backward (15% off
                // RelGAN's discriminator update on 2 cores).
                let per = if r > 1 { 4 } else { b };
                let parts: Vec<Tensor> = x
                    .split(per, 0)
                    .iter()
                    .map(|c| windows_of(c, *f).matmul(&kernel).max_dim(2, false).0)
                    .collect();
                let mut y = Tensor::cat(&parts, 0); // [B, R, n]
                if let Some(bias) = &conv.bs {
                    y += bias;
                }
                y.relu()
            })
            .collect();
        Tensor::cat(&pools, 2).reshape([b * r, -1]) // [B*R, F]
    }

    /// Pooled features [N, F] -> logits [N, 1]: highway layer, dropout, linear score.
    fn head(&self, h: &Tensor, train: bool) -> Tensor {
        let (z, t) = self.highway_parts(h);
        self.out
            .forward(&fused::highway_dropout(&z, &t, h, self.dropout, train))
    }

    /// The highway layer's transform `z` and gate `t` of pooled features `h`.
    pub(super) fn highway_parts(&self, h: &Tensor) -> (Tensor, Tensor) {
        let z = self.highway.forward(h);
        let t = match &self.gate {
            Some(gate) => gate.forward(h).sigmoid(),
            None => z.sigmoid(),
        };
        (z, t)
    }

    /// Per width f, a table [f * V, n]: row k * V + v is token v's term at window offset k,
    /// E[v] . W_f[:, k, :] (one representation).
    fn window_tables(&self) -> Vec<Tensor> {
        let (v, e) = self.emb.ws.size2().expect("[V, E]");
        self.convs
            .iter()
            .map(|(f, conv)| {
                let n = conv.ws.size()[0];
                self.emb
                    .ws
                    .matmul(&offset_kernel(conv, *f, e)) // [V, f*n]
                    .view([v, *f, n])
                    .transpose(0, 1)
                    .reshape([f * v, n])
            })
            .collect()
    }
}

/// An f-wide filter bank (one representation, embeddings `e` wide) as a matrix [E, f * n]:
/// column o * n + j holds filter j's weights at window offset o, so a token's embedding times
/// it gives the token's term at every offset at once.
pub(super) fn offset_kernel(conv: &nn::Conv2D, f: i64, e: i64) -> Tensor {
    let n = conv.ws.size()[0];
    conv.ws
        .view([n, f, e])
        .permute([2, 1, 0])
        .reshape([e, f * n])
}

/// The windows of width f of x [B, R, T, s], flattened: [B, R, T-f+1, f * s].
fn windows_of(x: &Tensor, f: i64) -> Tensor {
    let (b, r, t, s) = x.size4().expect("[B, R, T, s]");
    x.unfold(2, f, 1) // [B, R, T-f+1, s, f]
        .transpose(3, 4)
        .reshape([b, r, t - f + 1, f * s])
}

/// Pre-activations [N, W, n] of the f-wide filters whose `tables` are given, at the windows
/// of `ids` [N, T] starting at `s0` and after.
fn windows(table: &Tensor, f: i64, bias: Option<&Tensor>, ids: &Tensor, s0: i64) -> Tensor {
    let (rows, t) = ids.size2().expect("[N, T]");
    let v = table.size()[0] / f;
    let w = t - f + 1 - s0;
    let offsets_in_table = Tensor::arange_start_step(0, f * v, v, (Kind::Int64, ids.device()));
    let idx = (ids.unfold(1, f, 1).narrow(1, s0, w) + offsets_in_table).reshape([-1]);
    let bags = Tensor::arange_start_step(0, rows * w * f, f, (Kind::Int64, ids.device()));
    let (y, _, _, _) =
        Tensor::embedding_bag(table, &idx, &bags, false, 0, false, None::<Tensor>, false);
    let y = y.view([rows, w, -1]);
    match bias {
        Some(b) => y + b,
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unfolded matrix products equal the convolutions they replace.
    #[test]
    fn matches_conv2d() {
        tch::manual_seed(1);
        // One representation (matrix products), two-wide and one-wide ones (the fused kernel).
        for num_rep in [1, 4, 8] {
            let vs = nn::VarStore::new(Device::Cpu);
            let c = CnnDiscConfig {
                embed_dim: 8,
                filter_sizes: vec![1, 3],
                num_filters: vec![5, 6],
                num_rep,
                dropout: 0.0,
                highway: Default::default(),
            };
            let d = CnnDiscriminator::new(&vs.root(), &c, 10);
            let emb = Tensor::randn([3, 7, 8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
            let x = emb.unsqueeze(1);
            let pools: Vec<Tensor> = d
                .convs
                .iter()
                .map(|(_, conv)| conv.forward(&x).relu().amax([2], false))
                .collect();
            let h = Tensor::cat(&pools, 1)
                .permute([0, 2, 1])
                .reshape([3 * num_rep, -1]);
            let g = d.gate.as_ref().unwrap().forward(&h).sigmoid();
            let h: Tensor = &g * d.highway.forward(&h).relu() + (1.0 - &g) * &h;
            let want = d.out.forward(&h).view([3, num_rep]);
            // (`head` must stay this computation.)
            let got = d.forward_embedded(&emb, false);
            assert!((&got - &want).abs().max().double_value(&[]) < 1e-5);
            // The features are the highway's output, and they score as the whole pass does.
            let (feat, scored) = d.features_scored(&emb, false).unwrap();
            assert!((&feat - h.view([3, -1])).abs().max().double_value(&[]) < 1e-5);
            assert!((&scored - &want).abs().max().double_value(&[]) < 1e-5);
            // And the same gradients, for the input and for the filters (the narrow windows
            // recomputed at their maxima included).
            let mut wrt = vec![emb.shallow_clone()];
            wrt.extend(d.convs.iter().map(|(_, c)| c.ws.shallow_clone()));
            let g_got = Tensor::run_backward(&[got.sum(Kind::Float)], &wrt, false, false);
            let g_want = Tensor::run_backward(&[want.sum(Kind::Float)], &wrt, false, false);
            for (a, b) in g_got.iter().zip(&g_want) {
                assert!(
                    (a - b).abs().max().double_value(&[]) < 1e-5,
                    "num_rep {num_rep}"
                );
                assert!(a.abs().sum(Kind::Float).double_value(&[]) > 0.0);
            }
        }
    }

    /// Scoring completions through the shared prefixes and the lookup tables gives the scores
    /// of scoring every row on its own, for every prefix length, filters wider than the
    /// prefix and as wide as the sequence included.
    #[test]
    fn completions_score_as_full_rows() {
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let c = CnnDiscConfig {
            embed_dim: 6,
            filter_sizes: vec![1, 2, 4, 7],
            num_filters: vec![3, 5, 4, 2],
            num_rep: 1,
            dropout: 0.5,
            highway: Default::default(),
        };
        let d = CnnDiscriminator::new(&vs.root(), &c, 13);
        let (b, t, n) = (3i64, 7i64, 4i64);
        let base = Tensor::randint(13, [b, t], (Kind::Int64, Device::Cpu));
        // Block k: n completions per base row of its first k + 1 tokens, the rest random.
        let blocks: Vec<Tensor> = (1..t)
            .map(|p| {
                let rows = Tensor::randint(13, [b * n, t], (Kind::Int64, Device::Cpu));
                let keep = base.narrow(1, 0, p).repeat_interleave_self_int(n, 0, None);
                rows.narrow(1, 0, p).copy_(&keep);
                rows
            })
            .collect();
        let rows = Tensor::cat(&blocks, 0);
        let got = d.score_completions(&base, &rows, n);
        let want = d.score(&rows, false);
        assert_eq!(got.size(), vec![(t - 1) * b * n, 1]);
        let diff = (got - &want).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{diff}");
        assert!(
            want.std(true).double_value(&[]) > 1e-3,
            "the rows score apart"
        );
    }
}
