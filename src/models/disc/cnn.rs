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
        let b = emb.size()[0];
        let x = emb.unsqueeze(1); // [B, 1, T, E]
        let pools: Vec<Tensor> = self
            .convs
            .iter()
            .map(|(_, conv)| conv.forward(&x).relu().amax([2], false)) // [B, n, R]: max over time
            .collect();
        let h = Tensor::cat(&pools, 1)
            .permute([0, 2, 1])
            .reshape([b * self.num_rep, -1]); // [B*R, F]
        let t = self.gate.forward(&h).sigmoid();
        let h: Tensor = &t * self.highway.forward(&h).relu() + (1.0 - &t) * &h;
        self.out
            .forward(&h.dropout(self.dropout, train))
            .view([b, self.num_rep]) // [B, R]
    }
}
