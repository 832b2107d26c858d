//! CNN discriminator of SeqGAN (Yu et al. 2017; after Kim 2014): filters of several widths over
//! the embedded sequence, max-over-time pooling, a highway layer, dropout, a linear score.
//! With `num_rep > 1`, RelGAN's multiple embedded representations (Nie et al. 2019): the
//! embedding is split into `num_rep` slices, each convolved and scored on its own.
use super::{Discriminator, Table};
use crate::config::CnnDiscConfig;
use tch::{nn, nn::Module, Tensor};

pub struct CnnDiscriminator {
    emb: Table,
    convs: Vec<(i64, nn::Conv2D)>,
    highway: nn::Linear,
    gate: nn::Linear,
    out: nn::Linear,
    num_rep: i64,
    dropout: f64,
}

impl CnnDiscriminator {
    pub fn new(p: &nn::Path, c: &CnnDiscConfig, vocab: i64) -> Self {
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
            gate: nn::linear(p / "gate", feat, feat, Default::default()),
            out: nn::linear(p / "out", feat, 1, Default::default()),
            num_rep: c.num_rep,
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
        let (b, t, e) = emb.size3().expect("[B, T, E]");
        let (r, s) = (self.num_rep, e / self.num_rep);
        // The convolutions as one matrix product per width over unfolded windows: the same
        // numbers as conv2d with a (f, s) kernel and stride s, and faster on the CPU (the
        // kernel spans whole rows, so there is nothing for a direct convolution to reuse).
        let x = emb.view([b, t, r, s]).permute([0, 2, 1, 3]); // [B, R, T, s]
        let pools: Vec<Tensor> = self
            .convs
            .iter()
            .map(|(f, conv)| {
                let n = conv.ws.size()[0];
                let win = x.unfold(2, *f, 1).transpose(3, 4); // [B, R, T-f+1, f, s]
                let win = win.reshape([b, r, t - f + 1, f * s]);
                let mut y = win.matmul(&conv.ws.view([n, f * s]).tr()); // [B, R, T-f+1, n]
                if let Some(bias) = &conv.bs {
                    y += bias;
                }
                y.relu().amax([2], false) // [B, R, n]: max over time
            })
            .collect();
        let h = Tensor::cat(&pools, 2).reshape([b * r, -1]); // [B*R, F]
        let t = self.gate.forward(&h).sigmoid();
        let h: Tensor = &t * self.highway.forward(&h).relu() + (1.0 - &t) * &h;
        self.out
            .forward(&h.dropout(self.dropout, train))
            .view([b, r]) // [B, R]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The unfolded matrix products equal the convolutions they replace.
    #[test]
    fn matches_conv2d() {
        tch::manual_seed(1);
        for num_rep in [1, 4] {
            let vs = nn::VarStore::new(Device::Cpu);
            let c = CnnDiscConfig {
                embed_dim: 8,
                filter_sizes: vec![1, 3],
                num_filters: vec![5, 6],
                num_rep,
                dropout: 0.0,
            };
            let d = CnnDiscriminator::new(&vs.root(), &c, 10);
            let emb = Tensor::randn([3, 7, 8], (Kind::Float, Device::Cpu));
            let x = emb.unsqueeze(1);
            let pools: Vec<Tensor> = d
                .convs
                .iter()
                .map(|(_, conv)| conv.forward(&x).relu().amax([2], false))
                .collect();
            let h = Tensor::cat(&pools, 1)
                .permute([0, 2, 1])
                .reshape([3 * num_rep, -1]);
            let g = d.gate.forward(&h).sigmoid();
            let h: Tensor = &g * d.highway.forward(&h).relu() + (1.0 - &g) * &h;
            let want = d.out.forward(&h).view([3, num_rep]);
            let got = d.forward_embedded(&emb, false);
            assert!((got - want).abs().max().double_value(&[]) < 1e-5);
        }
    }
}
