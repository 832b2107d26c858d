//! Networks: the generators behind one [`Generator`] trait, the fixed SeqGAN oracle, and sampling.
//!
//! A network knows nothing of how it is trained; algorithms hold a `&dyn Generator` and a
//! `VarStore`. Teacher forcing (`forward`) and step-by-step decoding (`step`) both start from
//! embeddings, so a Gumbel-softmax algorithm can feed soft one-hot vectors through
//! [`Generator::embed_soft`] and reach any generator the same way.
mod beam;
pub mod bert;
pub(crate) mod conditioned;
pub mod disc;
pub mod gpt2;
mod leakgan;
mod lstm;
mod lstm_seq2seq;
mod oracle;
mod prefix;
mod rmc;
mod sampling;
mod seq2seq;
mod state;
mod transformer;
pub mod vars;

pub use beam::{beam_search, Beam};
pub use conditioned::{CondSpec, LabelDiscriminator, LabelGenerator, PerClassGenerator};
pub use gpt2::Gpt2Config;
pub use leakgan::{LeakPass, LeakganConfig, LeakganGenerator};
pub use lstm::{LstmConfig, LstmGenerator};
pub use lstm_seq2seq::{LstmSeq2seq, LstmSeq2seqConfig};
pub use oracle::{npy_f32, Oracle};
pub use prefix::PrefixGenerator;
pub use rmc::{RmcConfig, RmcGenerator};
pub use sampling::{
    generate, generate_scored, generate_shared, uniform_rows, GenerateSpec, Sampling,
};
pub use seq2seq::{Positions, Seq2seqConfig, Seq2seqGenerator};
pub use state::State;
pub use transformer::{Lora, TransformerConfig, TransformerGenerator};

pub use crate::data::Condition;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

/// The generator network; `kind` picks the architecture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum GeneratorConfig {
    Lstm(LstmConfig),
    Transformer(TransformerConfig),
    /// RelGAN's relational-memory generator.
    Rmc(RmcConfig),
    /// A Transformer encoder-decoder, for a parallel corpus (translation, dialogue).
    Seq2seq(Seq2seqConfig),
    /// An LSTM encoder-decoder with attention, for a parallel corpus.
    #[serde(rename = "lstm-seq2seq")]
    LstmSeq2seq(LstmSeq2seqConfig),
    /// GPT-2's block exactly (tanh GELU, its epsilon, learned positions, tied embeddings), in
    /// Hugging Face's layout: loads and writes GPT-2 model folders.
    Gpt2(Gpt2Config),
    /// LeakGAN's Manager and Worker, with a frozen copy of the CNN discriminator's layers.
    Leakgan(LeakganConfig),
}

impl GeneratorConfig {
    /// Whether the network is an encoder-decoder (it needs a source per sentence).
    pub fn is_encoder_decoder(&self) -> bool {
        matches!(
            self,
            GeneratorConfig::Seq2seq(_) | GeneratorConfig::LstmSeq2seq(_)
        )
    }
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig::Lstm(LstmConfig::default())
    }
}

impl GeneratorConfig {
    /// The chosen network's range checks.
    pub fn validate(&self) -> crate::Result<()> {
        match self {
            GeneratorConfig::Lstm(c) => c.validate(),
            GeneratorConfig::Transformer(c) => c.validate("generator"),
            GeneratorConfig::Rmc(c) => c.validate(),
            GeneratorConfig::Seq2seq(c) => c.validate(),
            GeneratorConfig::LstmSeq2seq(c) => c.validate(),
            GeneratorConfig::Gpt2(c) => c.validate(),
            GeneratorConfig::Leakgan(c) => c.validate(),
        }
    }
}

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

    // The conditional entry points, which training, evaluation and sampling call. An
    // unconditional network inherits them and ignores the condition; a conditional one
    // overrides them and keeps what its steps need (a label's embedding, an encoder's
    // memory, the state after a source prefix) in the decoding [`State`].

    /// Whether the network reads a [`Condition`] (a run checks it against its data).
    fn reads_condition(&self) -> bool {
        false
    }

    /// Teacher forcing under `cond`: [B, T, E] -> [B, T, V].
    fn forward_embedded_given(&self, emb: &Tensor, _cond: &Condition, train: bool) -> Tensor {
        self.forward_embedded(emb, train)
    }

    /// A fresh decoding state for `batch` sequences under `cond`.
    fn initial_state_given(&self, batch: i64, _cond: &Condition) -> State {
        self.initial_state(batch)
    }

    /// LeakGAN's teacher-forced pass (logits, leaked features, goals), for the networks that
    /// have one ([`LeakganGenerator::pass`]).
    fn leak_pass(&self, _input: &Tensor, _text: &Tensor, _detach_goals: bool) -> Option<LeakPass> {
        None
    }

    /// Teacher forcing of ids under `cond`: [B, T] -> [B, T, V].
    fn forward_given(&self, input: &Tensor, cond: &Condition, train: bool) -> Tensor {
        self.forward_embedded_given(&self.embed(input), cond, train)
    }
}

/// Teacher forcing by stepping through the sequence, for cells without a fused sequence op:
/// [B, T, E] -> [B, T, V].
pub(crate) fn forward_stepwise(gen: &dyn Generator, emb: &Tensor) -> Tensor {
    let (b, t, _) = emb.size3().expect("[B, T, E]");
    let mut state = gen.initial_state(b);
    let steps: Vec<Tensor> = (0..t)
        .map(|i| gen.step_embedded(&emb.select(1, i), &mut state))
        .collect();
    Tensor::stack(&steps, 1) // [B, T, V]
}

/// With LoRA on, only the adapters (and a label embedding, which has no pretrained value)
/// train: every other variable stops asking for gradients, so no optimizer holds moments for
/// it and backward passes compute no weight gradients for it.
fn freeze_all_but_adapters(vs: &nn::VarStore) {
    freeze_where(vs, |name| {
        !name.contains("lora_") && !name.starts_with("label.")
    });
}

/// Stops the variables whose names `frozen` accepts from asking for gradients.
fn freeze_where(vs: &nn::VarStore, frozen: impl Fn(&str) -> bool) {
    for (name, t) in vs.variables() {
        if frozen(&name) {
            let _ = t.set_requires_grad(false);
        }
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
        Self::conditional(cfg, vocab_size, max_len, CondSpec::None, device)
    }

    /// The network `cfg` names, reading the condition as `cond` says.
    pub fn conditional(
        cfg: &GeneratorConfig,
        vocab_size: i64,
        max_len: i64,
        cond: CondSpec,
        device: Device,
    ) -> Self {
        let vs = nn::VarStore::new(device);
        let build = |p: &nn::Path| -> Box<dyn Generator> {
            match cfg {
                GeneratorConfig::Lstm(c) => Box::new(LstmGenerator::new(p, c, vocab_size)),
                GeneratorConfig::Transformer(c) => {
                    // Read as a prefix, the source takes positions too.
                    let src = match cond {
                        CondSpec::Source { max_len, .. } => max_len,
                        _ => 0,
                    };
                    Box::new(TransformerGenerator::new(p, c, vocab_size, max_len + src))
                }
                GeneratorConfig::Rmc(c) => Box::new(RmcGenerator::new(p, c, vocab_size)),
                GeneratorConfig::Leakgan(c) => {
                    Box::new(LeakganGenerator::new(p, c, vocab_size, max_len))
                }
                // Its position table is the model's own (n_positions), whatever the data's length.
                GeneratorConfig::Gpt2(c) => Box::new(c.build(p, vocab_size)),
                GeneratorConfig::Seq2seq(c) => {
                    let src = match cond {
                        CondSpec::Source { vocab, max_len } => (vocab, max_len),
                        _ => panic!("an encoder-decoder is built for a parallel corpus (checked with the config)"),
                    };
                    Box::new(Seq2seqGenerator::new(p, c, src, vocab_size, max_len))
                }
                GeneratorConfig::LstmSeq2seq(c) => {
                    let CondSpec::Source { vocab, .. } = cond else {
                        panic!("an encoder-decoder is built for a parallel corpus (checked with the config)")
                    };
                    Box::new(LstmSeq2seq::new(p, c, vocab, vocab_size))
                }
            }
        };
        let root = vs.root();
        let seq2seq = cfg.is_encoder_decoder();
        let net: Box<dyn Generator> = match cond {
            CondSpec::Source { vocab, .. } if !seq2seq => {
                Box::new(PrefixGenerator::new(&root, build(&root), vocab))
            }
            CondSpec::None | CondSpec::Source { .. } => build(&root),
            CondSpec::Labels {
                classes,
                per_class: false,
            } => Box::new(LabelGenerator::new(
                &(&root / "label"),
                build(&root),
                classes,
            )),
            CondSpec::Labels {
                classes,
                per_class: true,
            } => Box::new(PerClassGenerator::new(&root, classes, build)),
        };
        if let GeneratorConfig::Gpt2(c) = cfg {
            if c.lora().is_some() {
                freeze_all_but_adapters(&vs);
            }
        }
        if let GeneratorConfig::Leakgan(_) = cfg {
            // LeakGAN's copy of D's layers changes only by being copied into.
            freeze_where(&vs, |name| name.starts_with("leak."));
        }
        GeneratorModel { vs, net }
    }

    /// A second network of `cfg` holding `src`'s current weights, built with the shapes `src`'s
    /// was built with (`(vocab_size, max_len)`), so every variable copies (a Transformer's
    /// position table included).
    pub fn copy_of(
        cfg: &GeneratorConfig,
        (vocab_size, max_len): (i64, i64),
        cond: CondSpec,
        src: &nn::VarStore,
    ) -> Self {
        let mut m = Self::conditional(cfg, vocab_size, max_len, cond, src.device());
        m.vs.copy(src)
            .expect("the copy is built with the generator's shapes");
        m
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    pub fn num_parameters(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(Tensor::numel)
            .sum::<usize>() as i64
    }

    /// "N parameters", and how many of them train when LoRA (or LeakGAN's copy of D) froze
    /// the rest.
    pub fn parameter_summary(&self) -> String {
        let (all, trained) = (self.num_parameters(), self.num_trained());
        let leak = self.vs.variables().keys().any(|n| n.starts_with("leak."));
        match (all == trained, leak) {
            (true, _) => format!("{all} parameters"),
            (false, false) => {
                format!("{all} parameters, {trained} of them trained (LoRA adapters)")
            }
            (false, true) => format!(
                "{all} parameters, {trained} of them trained (the rest: LeakGAN's frozen copy of D)"
            ),
        }
    }

    /// The parameters that train (all of them, unless LoRA froze the rest).
    pub fn num_trained(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .filter(|t| t.requires_grad())
            .map(Tensor::numel)
            .sum::<usize>() as i64
    }
}

/// Mean cross-entropy per target token of a teacher-forcing batch (padding ignored): a scalar.
/// `lin` on a few rows `x` [N, in] with many outputs (a generator's vocabulary layer, one
/// token at a time). On the CPU this runs as (W x^T)^T: MKL copies ("packs") its second operand
/// before the product, and packing the few rows of x instead of the whole [V, in] matrix makes
/// the product of RelGAN's batch of 64 with a 5,000-word layer about 1.5x faster on 2 cores.
pub fn linear_few_rows(lin: &nn::Linear, x: &Tensor) -> Tensor {
    let (rows, outs) = (x.size()[0], lin.ws.size()[0]);
    if x.device() != Device::Cpu || x.dim() != 2 || rows * 8 > outs {
        return nn::Module::forward(lin, x);
    }
    let y = match &lin.bs {
        Some(b) => b.unsqueeze(1).addmm(&lin.ws, &x.tr()),
        None => lin.ws.matmul(&x.tr()),
    }; // [V, N]
    y.tr().contiguous()
}

pub fn lm_loss(gen: &dyn Generator, batch: &crate::data::Batch, train: bool) -> Tensor {
    let logits = gen.forward_given(&batch.input, &batch.cond, train); // [B, T, V]
    token_cross_entropy(&logits, &batch.target, tch::Reduction::Mean)
}

/// Cross-entropy of logits [B, T, V] against targets [B, T], positions holding
/// [`IGNORE_INDEX`](crate::data::IGNORE_INDEX) left out: the mean or the sum over the rest.
pub fn token_cross_entropy(logits: &Tensor, target: &Tensor, reduction: tch::Reduction) -> Tensor {
    let v = *logits.size().last().expect("[.., V]");
    logits.view([-1, v]).cross_entropy_loss::<Tensor>(
        &target.view([-1]),
        None,
        reduction,
        crate::data::IGNORE_INDEX,
        0.0,
    )
}

/// Checks that stepping `m` through `input` [B, T] under `cond` gives teacher forcing's
/// logits, and that the condition `other` changes them (`what` names the case).
/// The embedding width of a network's inputs, found by embedding one token.
pub(crate) fn embed_dim(embed: impl Fn(&Tensor) -> Tensor, device: Device) -> i64 {
    let _g = tch::no_grad_guard();
    let e = embed(&Tensor::zeros([1, 1], (tch::Kind::Int64, device)));
    *e.size().last().expect("[1, 1, E]")
}

#[cfg(test)]
pub(crate) fn assert_steps_match(
    m: &GeneratorModel,
    input: &Tensor,
    (cond, other): (&Condition, &Condition),
    what: &str,
) {
    let (b, t) = input.size2().expect("[B, T]");
    let full = m.net.forward_given(input, cond, false);
    let mut state = m.net.initial_state_given(b, cond);
    for i in 0..t {
        let step = m.net.step(&input.select(1, i), &mut state);
        let diff = (&step - full.select(1, i)).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "{what} position {i}: {diff}");
    }
    let moved = (m.net.forward_given(input, other, false) - &full)
        .abs()
        .max();
    assert!(
        moved.double_value(&[]) > 1e-4,
        "{what}: the condition is ignored"
    );
}

/// A small LSTM and a small Transformer, for unit tests.
#[cfg(test)]
pub(crate) fn tiny_configs() -> [GeneratorConfig; 2] {
    let lstm = GeneratorConfig::Lstm(LstmConfig {
        embed_dim: 8,
        hidden_dim: 16,
        num_layers: 2,
        dropout: 0.0,
    });
    let gpt = GeneratorConfig::Transformer(TransformerConfig {
        n_layer: 2,
        n_head: 2,
        n_embd: 16,
        dropout: 0.0,
    });
    [lstm, gpt]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// The transposed product gives the layer's values and gradients.
    #[test]
    fn few_rows_match_the_layer() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let lin = nn::linear(vs.root() / "out", 6, 50, Default::default());
        let x = Tensor::randn([3, 6], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let got = linear_few_rows(&lin, &x);
        let want = nn::Module::forward(&lin, &x);
        assert!(got.is_contiguous());
        assert!((&got - &want).abs().max().double_value(&[]) < 1e-5);
        let up = Tensor::randn([3, 50], (Kind::Float, Device::Cpu));
        let wrt = [&x, &lin.ws, lin.bs.as_ref().unwrap()];
        let a = Tensor::run_backward(&[(got * &up).sum(Kind::Float)], &wrt, false, false);
        let b = Tensor::run_backward(&[(want * &up).sum(Kind::Float)], &wrt, false, false);
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs().max().double_value(&[]) < 1e-5);
            assert!(a.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        }
    }

    fn both(vocab: i64, max_len: i64) -> Vec<GeneratorModel> {
        tch::manual_seed(0);
        tiny_configs()
            .iter()
            .map(|c| GeneratorModel::new(c, vocab, max_len, Device::Cpu))
            .collect()
    }

    #[test]
    fn shapes_and_step_by_step_decoding_match_teacher_forcing() {
        for m in both(11, 12) {
            let input = Tensor::from_slice(&[1i64, 4, 5, 6, 7, 1, 8, 9, 10, 4]).view([2, 5]);
            let full = m.net.forward(&input, false);
            assert_eq!(full.size(), vec![2, 5, 11]);
            let mut state = m.net.initial_state(2);
            for t in 0..5 {
                let step = m.net.step(&input.select(1, t), &mut state);
                assert_eq!(step.size(), vec![2, 11]);
                let diff = (&step - full.select(1, t)).abs().max().double_value(&[]);
                assert!(
                    diff < 1e-4,
                    "position {t}: cached decoding differs by {diff}"
                );
            }
            assert_eq!(state.pos, 5);
        }
    }

    #[test]
    fn soft_one_hot_embeds_like_ids_and_carries_gradients() {
        for m in both(7, 4) {
            let ids = Tensor::from_slice(&[2i64, 5, 6]).view([1, 3]);
            let onehot = ids.one_hot(7).to_kind(Kind::Float).set_requires_grad(true);
            let soft = m.net.embed_soft(&onehot);
            let hard = m.net.embed(&ids);
            assert!((&soft - &hard).abs().max().double_value(&[]) < 1e-6);
            m.net
                .forward_embedded(&soft, true)
                .sum(Kind::Float)
                .backward();
            let g = onehot.grad();
            assert!(g.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        }
    }

    #[test]
    fn state_repeat_and_select_follow_the_batch_dimension() {
        for m in both(7, 4) {
            let mut s = m.net.initial_state(2);
            let _ = m.net.step(&Tensor::from_slice(&[1i64, 3]), &mut s);
            let r = s.repeat_interleave(3);
            let picked = r.select(&Tensor::from_slice(&[3i64]));
            let orig = s.select(&Tensor::from_slice(&[1i64]));
            for ((a, _), (b, _)) in picked.tensors.iter().zip(&orig.tensors) {
                assert!(a.equal(b));
            }
        }
    }
}
