//! LeakGAN's leaked features of growing prefixes from the CNN discriminator, without
//! re-running it per prefix: a window's pre-activation is a sum of per-token terms
//! `E[x_j] W[j - s]`, so a prefix's windows are partial sums of terms computed once.
use super::cnn::offset_kernel;
use super::{fused, CnnDiscriminator};
use tch::{Kind, Tensor};

impl CnnDiscriminator {
    /// Evaluation-mode features [B, K, F] (the highway's output) of the prefixes of `ids`
    /// [B, L] with `lens` [K] tokens each, the rest of each row read as zero embeddings: what
    /// [`Discriminator::features_scored`] gives those rows, for all K prefixes at the cost of
    /// about one pass. A window's pre-activation is a sum of per-token terms `E[x_j] W[j - s]`;
    /// the terms are computed once, summed cumulatively along the window, and each prefix takes
    /// the partial sum its length leaves inside the window. One representation only.
    pub fn prefix_features(&self, ids: &Tensor, lens: &Tensor) -> Tensor {
        let _guard = tch::no_grad_guard();
        assert_eq!(self.num_rep, 1, "prefix features read one representation");
        let emb = self.emb.lookup(ids); // [B, L, E]
        let (b, l, e) = emb.size3().expect("[B, L, E]");
        let k = lens.size()[0];
        let pools: Vec<Tensor> = self
            .convs
            .iter()
            .map(|(f, conv)| {
                let (f, n) = (*f, conv.ws.size()[0]);
                let w = l - f + 1;
                // terms[b, j, o, :] = E[x_j] . W[:, o, :] for every token and window offset.
                let terms = emb.matmul(&offset_kernel(conv, f, e)).view([b, l, f, n]);
                // diag[b, s, o, :] = terms[b, s + o, o, :]: window s's o-th term.
                let diag: Vec<Tensor> =
                    (0..f).map(|o| terms.narrow(1, o, w).select(2, o)).collect();
                let cum = Tensor::stack(&diag, 2).cumsum(2, Kind::Float); // [B, W, f, n]
                let zero = Tensor::zeros([b, w, 1, n], (Kind::Float, emb.device()));
                // [B, W, f + 1, n]: entry m is the sum of the window's first m terms.
                let cum = Tensor::cat(&[zero, cum], 2);
                // Terms inside prefix k of window s: clamp(k - s, 0, f).
                let s = Tensor::arange(w, (Kind::Int64, emb.device()));
                let m = (lens.unsqueeze(0) - s.unsqueeze(1)).clamp(0, f); // [W, K]
                let idx = m.view([1, w, k, 1]).expand([b, w, k, n], false);
                let mut y = cum.gather(2, &idx, false).amax([1], false); // [B, K, n]
                if let Some(bias) = &conv.bs {
                    y += bias;
                }
                y.relu()
            })
            .collect();
        let h = Tensor::cat(&pools, 2).reshape([b * k, -1]);
        let (z, t) = self.highway_parts(&h);
        fused::highway_dropout(&z, &t, &h, 0.0, false).view([b, k, -1])
    }

    /// The state of [`CnnDiscriminator::prefix_push`] for `b` empty prefixes: per filter
    /// width f, the maximum over the windows already complete [B, n] (none yet: -1e30) and the
    /// partial sums of the open windows [B, f, n] (slot m - 1: the window holding m tokens).
    pub fn prefix_start(&self, b: i64) -> Vec<Tensor> {
        let device = self.emb.ws.device();
        self.convs
            .iter()
            .flat_map(|(f, conv)| {
                let n = conv.ws.size()[0];
                [
                    Tensor::full([b, n], -1e30, (Kind::Float, device)),
                    Tensor::zeros([b, *f, n], (Kind::Float, device)),
                ]
            })
            .collect()
    }

    /// Appends token `tokens` [B] to prefixes of `k` tokens: the new token's term joins every
    /// open window, a window that reaches its width closes into the running maximum.
    pub fn prefix_push(&self, state: &[Tensor], tokens: &Tensor, k: i64) -> Vec<Tensor> {
        let _guard = tch::no_grad_guard();
        let x = self.emb.lookup(tokens); // [B, E]
        let (b, e) = x.size2().expect("[B, E]");
        let mut out = Vec::with_capacity(state.len());
        for ((f, conv), st) in self.convs.iter().zip(state.chunks(2)) {
            let (f, n) = (*f, conv.ws.size()[0]);
            let terms = x.matmul(&offset_kernel(conv, f, e)).view([b, f, n]); // offset o's term
            let open = Tensor::cat(
                &[
                    terms.narrow(1, 0, 1),
                    st[1].narrow(1, 0, f - 1) + terms.narrow(1, 1, f - 1),
                ],
                1,
            );
            // The window holding f tokens is complete when it started at k + 1 - f >= 0.
            let closed = match k + 1 >= f {
                true => st[0].maximum(&open.select(1, f - 1)),
                false => st[0].shallow_clone(),
            };
            out.extend([closed, open]);
        }
        out
    }

    /// Features [B, F] of prefixes of `k` tokens in rows `l` long, from their push state: the
    /// maximum over the complete windows, the open ones that fit in the row, and, while a
    /// window lies wholly past the prefix, that window's zero.
    pub fn prefix_read(&self, state: &[Tensor], k: i64, l: i64) -> Tensor {
        let _guard = tch::no_grad_guard();
        let pools: Vec<Tensor> = self
            .convs
            .iter()
            .zip(state.chunks(2))
            .map(|((f, conv), st)| {
                let f = *f;
                let mut best = st[0].shallow_clone();
                // Open window with m tokens starts at k - m: it exists when 0 <= k - m <= l - f.
                for m in 1..f {
                    if k - m >= 0 && k - m <= l - f {
                        best = best.maximum(&st[1].select(1, m - 1));
                    }
                }
                if k <= l - f {
                    best = best.clamp_min(0.0);
                }
                match &conv.bs {
                    Some(bias) => (best + bias).relu(),
                    None => best.relu(),
                }
            })
            .collect();
        let h = Tensor::cat(&pools, 1);
        let (z, t) = self.highway_parts(&h);
        fused::highway_dropout(&z, &t, &h, 0.0, false)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CnnDiscConfig, Discriminator};
    use super::*;
    use tch::{nn, Device};

    /// A CNN over rows of 7 with filters 1 to 7 wide (dropout on: features never use it).
    fn seven_wide() -> (nn::VarStore, CnnDiscriminator) {
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
        (vs, d)
    }

    /// Prefix features equal the features of the rows with everything past the prefix
    /// zeroed, for every length (0, inside, and past the widest filter's reach).
    #[test]
    fn prefix_features_are_the_masked_rows_features() {
        tch::manual_seed(4);
        let (_vs, d) = seven_wide();
        let ids = Tensor::randint(13, [3, 7], (Kind::Int64, Device::Cpu));
        let lens = Tensor::from_slice(&[0i64, 1, 3, 6, 7]);
        let got = d.prefix_features(&ids, &lens);
        assert_eq!(got.size(), vec![3, 5, 14]);
        for (i, len) in [0i64, 1, 3, 6, 7].into_iter().enumerate() {
            let keep = Tensor::arange(7, (Kind::Int64, Device::Cpu))
                .lt(len)
                .to_kind(Kind::Float);
            let emb = d.embed(&ids) * keep.view([1, 7, 1]);
            let (want, _) = d.features_scored(&emb, false).unwrap();
            let diff = (got.select(1, i as i64) - want)
                .abs()
                .max()
                .double_value(&[]);
            assert!(diff < 1e-5, "prefix {len}: {diff}");
        }
    }

    /// Growing prefixes token by token gives the prefix features of the whole rows.
    #[test]
    fn pushed_prefixes_read_as_prefix_features() {
        tch::manual_seed(5);
        let (_vs, d) = seven_wide();
        let ids = Tensor::randint(13, [3, 7], (Kind::Int64, Device::Cpu));
        let want = d.prefix_features(&ids, &Tensor::arange(8, (Kind::Int64, Device::Cpu)));
        let mut st = d.prefix_start(3);
        for k in 0..=7 {
            if k > 0 {
                st = d.prefix_push(&st, &ids.select(1, k - 1), k - 1);
            }
            let got = d.prefix_read(&st, k, 7);
            let diff = (got - want.select(1, k)).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "prefix {k}: {diff}");
        }
    }
}
