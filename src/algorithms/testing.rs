//! Tiny networks and data for the algorithms' unit tests.
use super::batches::Shapes;
use crate::data::{Tokenizer, Vocab};
use crate::models::disc::{CnnDiscConfig, DiscriminatorConfig};
use crate::models::{GeneratorConfig, GeneratorModel, LstmConfig};
use tch::Device;

/// A CNN discriminator small enough for unit tests.
pub fn tiny_cnn() -> DiscriminatorConfig {
    DiscriminatorConfig::Cnn(CnnDiscConfig {
        embed_dim: 4,
        filter_sizes: vec![2, 3],
        num_filters: vec![3, 3],
        num_rep: 1,
        dropout: 0.0,
        highway: Default::default(),
    })
}

/// The small LSTM generator of [`tiny_setup`].
pub fn tiny_lstm() -> GeneratorConfig {
    GeneratorConfig::Lstm(LstmConfig {
        embed_dim: 4,
        hidden_dim: 8,
        num_layers: 1,
        dropout: 0.0,
    })
}

/// A six-word vocabulary, its shapes and a small LSTM generator.
pub fn tiny_setup() -> (Vocab, Shapes, GeneratorModel) {
    let vocab = Vocab::build(["a b c d e f"].iter().copied(), Tokenizer::Word, 0, 1);
    let shapes = Shapes::new(&vocab, 5, 3);
    let gen = GeneratorModel::new(&tiny_lstm(), vocab.len() as i64, 6, Device::Cpu);
    (vocab, shapes, gen)
}

/// An algorithm step's view of `gen` and the real rows `real` (unconditional, on the CPU),
/// at step 0 of `total`.
pub fn ctx<'a>(
    gen: &'a GeneratorModel,
    real: &'a [Vec<i64>],
    rng: &'a mut rand_chacha::ChaCha8Rng,
    total: usize,
) -> super::Ctx<'a> {
    super::Ctx {
        gen: gen.net.as_ref(),
        gen_vars: &gen.vs,
        real,
        conds: crate::data::Conds::None,
        device: Device::Cpu,
        step: 0,
        total,
        rng,
    }
}

/// What an algorithm is built from, around `gen` (of config `generator`) with the
/// discriminator `disc` (built at the shapes' vocabulary) and the settings `adv`, on the CPU.
pub fn parts<'a>(
    (gen, generator): (&'a GeneratorModel, &'a GeneratorConfig),
    disc: &'a DiscriminatorConfig,
    adv: &'a crate::algorithms::AdvConfig,
    shapes: Shapes,
) -> super::Parts<'a> {
    let model =
        crate::models::disc::DiscriminatorModel::new(disc, shapes.vocab_size, 8, Device::Cpu);
    super::Parts {
        adv,
        generator,
        discriminator: disc,
        gen_vars: &gen.vs,
        cond: crate::models::CondSpec::None,
        disc: super::disc_side::DiscSide::new(model, adv),
        g_opt: crate::optim::Adam::new(&gen.vs, &adv.g_adam()),
        shapes,
        device: Device::Cpu,
    }
}

/// The `[gan]` settings of a TOML text (`algorithm = "..."`, `steps = ...`, its keys).
pub fn gan(text: &str) -> crate::algorithms::GanConfig {
    crate::algorithms::GanConfig::from_table(toml::from_str(text).unwrap()).unwrap()
}

/// The algorithm `gan` sets up around `gen` (of [`tiny_lstm`]'s config, on `vocab`) with the
/// discriminator `disc`, for rows up to 5 tokens, unconditional, on the CPU.
pub fn built(
    gan: &crate::algorithms::GanConfig,
    disc: &DiscriminatorConfig,
    (vocab, gen): (&Vocab, &GeneratorModel),
) -> Box<dyn crate::algorithms::Algorithm> {
    let cond = crate::models::CondSpec::None;
    crate::algorithms::build(
        gan,
        &tiny_lstm(),
        disc,
        &gen.vs,
        vocab,
        (5, cond),
        Device::Cpu,
    )
    .expect("an algorithm")
}
