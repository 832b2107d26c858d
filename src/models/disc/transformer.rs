//! Transformer-encoder discriminator: learned positions, pre-norm bidirectional self-attention
//! blocks, mean pooling, a linear score.
use super::{Discriminator, Table};
use crate::models::TransformerConfig;
use tch::{nn, nn::Module, Kind, Tensor};

struct Block {
    ln_1: nn::LayerNorm,
    qkv: nn::Linear,
    proj: nn::Linear,
    ln_2: nn::LayerNorm,
    fc: nn::Linear,
    fc_out: nn::Linear,
}

pub struct TransformerDiscriminator {
    emb: Table,
    wpe: nn::Embedding,
    blocks: Vec<Block>,
    ln_f: nn::LayerNorm,
    out: nn::Linear,
    n_head: i64,
    dropout: f64,
}

impl TransformerDiscriminator {
    pub fn new(p: &nn::Path, c: &TransformerConfig, vocab: i64, max_len: i64) -> Self {
        let e = c.n_embd;
        let blocks = (0..c.n_layer)
            .map(|i| {
                let q = p / "h" / i;
                Block {
                    ln_1: nn::layer_norm(&q / "ln_1", vec![e], Default::default()),
                    qkv: nn::linear(&q / "qkv", e, 3 * e, Default::default()),
                    proj: nn::linear(&q / "proj", e, e, Default::default()),
                    ln_2: nn::layer_norm(&q / "ln_2", vec![e], Default::default()),
                    fc: nn::linear(&q / "fc", e, 4 * e, Default::default()),
                    fc_out: nn::linear(&q / "fc_out", 4 * e, e, Default::default()),
                }
            })
            .collect();
        TransformerDiscriminator {
            emb: Table::new(p / "embed", vocab, e),
            wpe: nn::embedding(p / "wpe", max_len.max(1), e, Default::default()),
            blocks,
            ln_f: nn::layer_norm(p / "ln_f", vec![e], Default::default()),
            out: nn::linear(p / "out", e, 1, Default::default()),
            n_head: c.n_head,
            dropout: c.dropout,
        }
    }
}

impl Discriminator for TransformerDiscriminator {
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.emb.lookup(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        self.emb.soft(probs)
    }

    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        let (b, t, c) = emb.size3().expect("[B, T, E]");
        let pos =
            Tensor::arange(t, (Kind::Int64, emb.device())).clamp_max(self.wpe.ws.size()[0] - 1);
        let mut x = emb + self.wpe.forward(&pos); // [B, T, C]
        let hs = c / self.n_head;
        for blk in &self.blocks {
            let qkv = blk.qkv.forward(&blk.ln_1.forward(&x)).split(c, 2);
            let heads = |z: &Tensor| z.view([b, t, self.n_head, hs]).transpose(1, 2); // [B, nh, T, hs]
            let p = if train { self.dropout } else { 0.0 };
            let y = Tensor::scaled_dot_product_attention(
                &heads(&qkv[0]),
                &heads(&qkv[1]),
                &heads(&qkv[2]),
                None::<Tensor>,
                p,
                false,
                None,
                false,
            );
            x = &x
                + blk
                    .proj
                    .forward(&y.transpose(1, 2).contiguous().view([b, t, c]));
            x = &x
                + blk
                    .fc_out
                    .forward(&blk.fc.forward(&blk.ln_2.forward(&x)).gelu("none"))
                    .dropout(self.dropout, train);
        }
        let pooled = self
            .ln_f
            .forward(&x)
            .mean_dim([1i64].as_slice(), false, Kind::Float); // [B, C]
        self.out.forward(&pooled) // [B, 1]
    }
}
