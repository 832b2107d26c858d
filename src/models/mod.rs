//! Networks: the generators behind one [`Generator`] trait, the fixed SeqGAN oracle, and sampling.
//!
//! A network knows nothing of how it is trained; algorithms hold a `&dyn Generator` and a
//! `VarStore`. Teacher forcing (`forward`) and step-by-step decoding (`step`) both start from
//! embeddings, so a Gumbel-softmax algorithm can feed soft one-hot vectors through
//! [`Generator::embed_soft`] and reach any generator the same way.
mod lstm;
mod oracle;
mod sampling;
mod state;
mod transformer;

pub use lstm::LstmGenerator;
pub use oracle::{npy_f32, Oracle};
pub use sampling::{generate, GenerateSpec, Sampling};
pub use state::State;
pub use transformer::TransformerGenerator;

use crate::config::GeneratorConfig;
use tch::{nn, Device, Tensor};

/// An autoregressive language model over a fixed vocabulary.
pub trait Generator: Send {
    fn vocab_size(&self) -> i64;

    /// Longest sequence the model accepts (the Transformer's position table), if bounded.
    fn max_len(&self) -> Option<i64> {
        None
    }

    /// Token embeddings: [B, T] ids -> [B, T, E].
    fn embed(&self, tokens: &Tensor) -> Tensor;

    /// Embeddings of soft one-hot rows through the same table: [B, T, V] -> [B, T, E].
    fn embed_soft(&self, probs: &Tensor) -> Tensor;

    /// Whole-sequence logits from embeddings: [B, T, E] -> [B, T, V] (teacher forcing).
    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor;

    /// A fresh decoding state for `batch` sequences.
    fn initial_state(&self, batch: i64) -> State;

    /// One decoding step from an embedded input: [B, E] -> logits [B, V]; advances `state`.
    fn step_embedded(&self, x: &Tensor, state: &mut State) -> Tensor;

    /// Whole-sequence logits from ids: [B, T] -> [B, T, V].
    fn forward(&self, input: &Tensor, train: bool) -> Tensor {
        self.forward_embedded(&self.embed(input), train)
    }

    /// One decoding step from token ids: [B] -> logits [B, V].
    fn step(&self, tokens: &Tensor, state: &mut State) -> Tensor {
        let x = self.embed(&tokens.unsqueeze(1)).squeeze_dim(1); // [B, E]
        self.step_embedded(&x, state)
    }
}

/// A generator together with the variables it owns.
pub struct GeneratorModel {
    pub vs: nn::VarStore,
    pub net: Box<dyn Generator>,
}

impl GeneratorModel {
    /// Builds a freshly initialised generator; `max_len` bounds the Transformer's positions.
    pub fn new(cfg: &GeneratorConfig, vocab_size: i64, max_len: i64, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let net: Box<dyn Generator> = match cfg {
            GeneratorConfig::Lstm(c) => Box::new(LstmGenerator::new(&vs.root(), c, vocab_size)),
            GeneratorConfig::Transformer(c) => Box::new(TransformerGenerator::new(&vs.root(), c, vocab_size, max_len)),
        };
        GeneratorModel { vs, net }
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    pub fn num_parameters(&self) -> i64 {
        self.vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>() as i64
    }
}

/// Mean cross-entropy per target token of a teacher-forcing batch (padding ignored): a scalar.
pub fn lm_loss(gen: &dyn Generator, batch: &crate::data::Batch, train: bool) -> Tensor {
    let logits = gen.forward(&batch.input, train); // [B, T, V]
    logits.view([-1, gen.vocab_size()]).cross_entropy_loss::<Tensor>(
        &batch.target.view([-1]),
        None,
        tch::Reduction::Mean,
        crate::data::IGNORE_INDEX,
        0.0,
    )
}
