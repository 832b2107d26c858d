//! LSTM encoder-decoder with attention (`[generator] kind = "lstm-seq2seq"`), the recurrent
//! translation model of the adversarial NMT papers (RNNSearch-style):
//!
//! - encoder: a bidirectional LSTM over the source embeddings; its outputs, projected to the
//!   decoder's width, are the memory; its last states start the decoder (`tanh` of a
//!   projection of both directions' last hidden states);
//! - decoder: an LSTM cell fed the previous token's embedding and the previous attentional
//!   output (input feeding), Luong's "general" attention over the memory (padding masked),
//!   `tanh(W [h; context])` as the attentional output, then the vocabulary layer.
//!
//! Input feeding makes teacher forcing a loop over the target positions; decoding keeps
//! (h, c, attentional output) per row, and the memory and its mask as fixed state.
use super::{Condition, Generator, State};
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, nn::RNN, Kind, Tensor};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LstmSeq2seqConfig {
    pub embed_dim: i64,
    pub hidden_dim: i64,
    pub dropout: f64,
}

impl Default for LstmSeq2seqConfig {
    /// bentrevett's attention model's sizes: embedding 256, hidden 512, dropout 0.5.
    fn default() -> Self {
        LstmSeq2seqConfig {
            embed_dim: 256,
            hidden_dim: 512,
            dropout: 0.5,
        }
    }
}

impl LstmSeq2seqConfig {
    pub fn validate(&self) -> Result<()> {
        ensure(
            (1..=65_536).contains(&self.embed_dim) && (1..=65_536).contains(&self.hidden_dim),
            || "generator.embed_dim and hidden_dim must be in 1..=65536".into(),
        )?;
        ensure((0.0..1.0).contains(&self.dropout), || {
            format!("generator.dropout must be in [0, 1), got {}", self.dropout)
        })
    }
}

pub struct LstmSeq2seq {
    /// The source's own table, or None for the target's (a shared vocabulary).
    src_embed: Option<nn::Embedding>,
    tgt_embed: nn::Embedding,
    encoder: nn::LSTM,
    enc_proj: nn::Linear,
    init_h: nn::Linear,
    cell: nn::LSTM,
    attn: nn::Linear,
    combine: nn::Linear,
    out: nn::Linear,
    cfg: LstmSeq2seqConfig,
    vocab_size: i64,
}

impl LstmSeq2seq {
    /// `src_vocab`: the source's own vocabulary (None: the target's, sharing its embedding).
    pub fn new(p: &nn::Path, cfg: &LstmSeq2seqConfig, src_vocab: Option<i64>, vocab: i64) -> Self {
        let (e, h) = (cfg.embed_dim, cfg.hidden_dim);
        let bi = nn::RNNConfig {
            bidirectional: true,
            batch_first: true,
            ..Default::default()
        };
        let tgt_embed = nn::embedding(p / "tgt_embed", vocab, e, Default::default());
        LstmSeq2seq {
            src_embed: src_vocab.map(|v| nn::embedding(p / "src_embed", v, e, Default::default())),
            tgt_embed,
            encoder: nn::lstm(p / "encoder", e, h, bi),
            enc_proj: nn::linear(p / "enc_proj", 2 * h, h, Default::default()),
            init_h: nn::linear(p / "init_h", 2 * h, h, Default::default()),
            cell: nn::lstm(p / "decoder", e + h, h, Default::default()),
            attn: nn::linear(p / "attn", h, h, Default::default()),
            combine: nn::linear(p / "combine", 2 * h, h, Default::default()),
            out: nn::linear(p / "out", h, vocab, Default::default()),
            cfg: cfg.clone(),
            vocab_size: vocab,
        }
    }

    /// The decoding state after encoding `cond`'s sources: h, c, the attentional output (all
    /// [B, H]), then the memory [B, S, H] and its mask [B, S] (fixed).
    fn encode(&self, cond: &Condition, train: bool) -> State {
        let Condition::Source { ids, pad } = cond else {
            panic!("an encoder-decoder generates under a source sentence (Condition::Source)")
        };
        let table = self.src_embed.as_ref().unwrap_or(&self.tgt_embed);
        let x = table.forward(ids).dropout(self.cfg.dropout, train);
        let (out, state) = self.encoder.seq(&x); // [B, S, 2H]; h: [2, B, H]
        let memory = self.enc_proj.forward(&out); // [B, S, H]
        let h_last = state.h(); // [2, B, H]: forward, backward
        let both = Tensor::cat(&[h_last.get(0), h_last.get(1)], 1); // [B, 2H]
        let h0 = self.init_h.forward(&both).tanh();
        let zeros = h0.zeros_like();
        let mut s = State::new(vec![
            (h0, 0),
            (zeros.shallow_clone(), 0),
            (zeros, 0),
            (memory, 0),
            (ids.ne(*pad), 0),
        ]);
        s.fixed = 2;
        s
    }

    /// One decoder step from the embedded input `x` [B, E]: logits [B, V]; advances `state`.
    fn step_with(&self, x: &Tensor, state: &mut State, train: bool) -> Tensor {
        let t = &state.tensors;
        let input = Tensor::cat(&[x.shallow_clone(), t[2].0.shallow_clone()], 1); // input feeding
        let hc = nn::LSTMState((t[0].0.unsqueeze(0), t[1].0.unsqueeze(0)));
        let hc = self.cell.step(&input, &hc);
        let h = hc.h().squeeze_dim(0); // [B, H]
        let (memory, mask) = (&t[3].0, &t[4].0);
        let scores = memory
            .matmul(&self.attn.forward(&h).unsqueeze(2))
            .squeeze_dim(2); // [B, S]
        let weights = scores
            .masked_fill(&mask.logical_not(), f64::NEG_INFINITY)
            .softmax(-1, Kind::Float);
        let context = weights.unsqueeze(1).matmul(memory).squeeze_dim(1); // [B, H]
        let att = self
            .combine
            .forward(&Tensor::cat(&[&h, &context], 1))
            .tanh();
        let logits = self.out.forward(&att.dropout(self.cfg.dropout, train));
        let c = hc.c().squeeze_dim(0);
        state.tensors[0].0 = h;
        state.tensors[1].0 = c;
        state.tensors[2].0 = att;
        state.pos += 1;
        logits
    }
}

impl Generator for LstmSeq2seq {
    fn vocab_size(&self) -> i64 {
        self.vocab_size
    }
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.tgt_embed.forward(tokens)
    }
    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        probs.matmul(&self.tgt_embed.ws)
    }
    fn forward_embedded(&self, _emb: &Tensor, _train: bool) -> Tensor {
        panic!("an encoder-decoder generates under a source sentence (forward_embedded_given)")
    }
    fn initial_state(&self, _batch: i64) -> State {
        panic!("an encoder-decoder generates under a source sentence (initial_state_given)")
    }
    fn step_embedded(&self, x: &Tensor, state: &mut State) -> Tensor {
        self.step_with(x, state, false)
    }
    fn reads_condition(&self) -> bool {
        true
    }
    fn forward_embedded_given(&self, emb: &Tensor, cond: &Condition, train: bool) -> Tensor {
        let mut state = self.encode(cond, train);
        let emb = emb.dropout(self.cfg.dropout, train);
        let steps: Vec<Tensor> = (0..emb.size()[1])
            .map(|i| self.step_with(&emb.select(1, i), &mut state, train))
            .collect();
        Tensor::stack(&steps, 1)
    }
    fn initial_state_given(&self, _batch: i64, cond: &Condition) -> State {
        self.encode(cond, false)
    }
}
