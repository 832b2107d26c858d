//! A decoder-only generator reading its source as a prefix: the route a pretrained language
//! model takes to translation or dialogue (the source, then the target, one sequence).
//!
//! Sources are embedded by a table of their own (the target's when the vocabulary is shared)
//! and left-padded to the batch's longest, so every row's target starts at the same position;
//! teacher forcing runs the network over `[source; target]` and keeps the target's logits,
//! decoding steps the network through the source before the first target token. Any
//! generator (LSTM, Transformer, relational memory) can be wrapped.
use super::{Condition, Generator, State};
use tch::{nn, nn::Module, Kind, Tensor};

pub struct PrefixGenerator {
    inner: Box<dyn Generator>,
    /// The source's own table, or None to embed sources with the target's.
    src_embed: Option<nn::Embedding>,
}

impl PrefixGenerator {
    pub fn new(p: &nn::Path, inner: Box<dyn Generator>, src_vocab: Option<i64>) -> Self {
        let src_embed = src_vocab.map(|v| {
            let dim = super::embed_dim(|t| inner.embed(t), p.device());
            let init = nn::EmbeddingConfig {
                ws_init: nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.1,
                },
                ..Default::default()
            };
            nn::embedding(p / "src_embed", v, dim, init)
        });
        PrefixGenerator { inner, src_embed }
    }

    /// The sources of `cond`, left-padded (padding first) and embedded: [B, S, E].
    fn prefix(&self, cond: &Condition) -> Tensor {
        let Condition::Source { ids, pad } = cond else {
            panic!("a prefix generator generates under a source sentence (Condition::Source)")
        };
        let (_, s) = ids.size2().expect("[B, S]");
        // Rotate each row right by its padding count: real tokens end at the last position.
        let pads = ids
            .eq(*pad)
            .sum_dim_intlist([1i64].as_slice(), true, Kind::Int64); // [B, 1]
        let pos = Tensor::arange(s, (Kind::Int64, ids.device())).unsqueeze(0); // [1, S]
        let from = (pos - &pads).remainder(s);
        let left = ids.gather(1, &from, false);
        match &self.src_embed {
            Some(e) => e.forward(&left),
            None => self.inner.embed(&left),
        }
    }
}

impl Generator for PrefixGenerator {
    fn vocab_size(&self) -> i64 {
        self.inner.vocab_size()
    }
    fn max_len(&self) -> Option<i64> {
        self.inner.max_len()
    }
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.inner.embed(tokens)
    }
    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        self.inner.embed_soft(probs)
    }
    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        self.inner.forward_embedded(emb, train)
    }
    fn initial_state(&self, batch: i64) -> State {
        self.inner.initial_state(batch)
    }
    fn step_embedded(&self, x: &Tensor, state: &mut State) -> Tensor {
        self.inner.step_embedded(x, state)
    }
    fn reads_condition(&self) -> bool {
        true
    }
    fn forward_embedded_given(&self, emb: &Tensor, cond: &Condition, train: bool) -> Tensor {
        let pre = self.prefix(cond);
        let s = pre.size()[1];
        let t = emb.size()[1];
        let out = self
            .inner
            .forward_embedded(&Tensor::cat(&[pre, emb.shallow_clone()], 1), train);
        out.narrow(1, s, t).contiguous()
    }
    fn initial_state_given(&self, batch: i64, cond: &Condition) -> State {
        let mut state = self.inner.initial_state(batch);
        let pre = self.prefix(cond);
        for i in 0..pre.size()[1] {
            let _ = self.inner.step_embedded(&pre.select(1, i), &mut state);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{CondSpec, GeneratorModel};
    use tch::Device;

    /// Stepping through the source then the target gives teacher forcing's logits, for rows
    /// with sources of different lengths (left padding), and the source changes them.
    #[test]
    fn decoding_after_the_prefix_matches_teacher_forcing() {
        tch::manual_seed(5);
        let input = Tensor::from_slice(&[1i64, 4, 5, 6, 1, 8, 9, 4]).view([2, 4]);
        let src = Tensor::from_slice(&[3i64, 5, 7, 3, 0, 0]).view([2, 3]);
        let cond = Condition::Source { ids: src, pad: 0 };
        let other = Condition::Source {
            ids: Tensor::from_slice(&[4i64, 4, 4, 8, 8, 8]).view([2, 3]),
            pad: 0,
        };
        for cfg in crate::models::tiny_configs() {
            let spec = CondSpec::Source {
                vocab: Some(9),
                max_len: 3,
            };
            let m = GeneratorModel::conditional(&cfg, 11, 8, spec, Device::Cpu);
            crate::models::assert_steps_match(&m, &input, (&cond, &other), &format!("{cfg:?}"));
        }
    }
}
