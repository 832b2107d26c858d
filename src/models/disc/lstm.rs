//! LSTM discriminator (seed 000's; ScratchGAN's with one logit per time step).
use super::{Discriminator, Table};
use crate::config::LstmDiscConfig;
use tch::{nn, nn::Module, nn::RNN, Tensor};

pub struct LstmDiscriminator {
    emb: Table,
    lstm: nn::LSTM,
    out: nn::Linear,
    dropout: f64,
}

impl LstmDiscriminator {
    pub fn new(p: &nn::Path, c: &LstmDiscConfig, vocab: i64) -> Self {
        LstmDiscriminator {
            emb: Table::new(p / "embed", vocab, c.embed_dim),
            lstm: nn::lstm(p / "lstm", c.embed_dim, c.hidden_dim, Default::default()),
            out: nn::linear(p / "out", c.hidden_dim, 1, Default::default()),
            dropout: c.dropout,
        }
    }

    fn hidden(&self, emb: &Tensor, train: bool) -> Tensor {
        let (out, _) = self.lstm.seq(emb); // [B, T, H]
        out.dropout(self.dropout, train)
    }
}

impl Discriminator for LstmDiscriminator {
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.emb.lookup(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        self.emb.soft(probs)
    }

    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        let h = self.hidden(emb, train);
        let t = h.size()[1];
        self.out.forward(&h.select(1, t - 1)) // [B, 1]: the last step has read the whole sequence
    }

    fn per_token(&self, emb: &Tensor, train: bool) -> Option<Tensor> {
        Some(self.out.forward(&self.hidden(emb, train)).squeeze_dim(2)) // [B, T]
    }
}
