//! What a served run loads beside its generator: the discriminator as a network, and the
//! lengths scoring needs.
use crate::checkpoint::{Checkpoint, LoadedGenerator};
use crate::error::Result;
use crate::models::disc::DiscriminatorModel;
use std::path::Path;
use tch::Device;

/// The lengths and ids scoring needs.
pub(super) struct Shapes {
    /// Length of the discriminator's input (the run's length, at least its widest filter).
    pub d_len: i64,
    pub bos: i64,
    /// Filler after `<eos>`.
    pub pad: i64,
}

/// The discriminator a checkpoint holds (its `disc.` tensors), as the network the run trained:
/// conditional on the run's labels or sources, or blind to them (CatGAN's) where the checkpoint
/// holds no condition's weights; none where it is not a real-or-generated classifier.
pub(super) fn load_discriminator(
    gen: &LoadedGenerator,
    ck: &Checkpoint,
    path: &Path,
    device: Device,
) -> Result<Option<DiscriminatorModel>> {
    if !ck.tensors.keys().any(|k| k.starts_with("disc.")) {
        return Ok(None);
    }
    let cfg = &gen.config;
    let (vocab, len) = (gen.vocab.len() as i64, gen.max_len.max(1) as i64 + 32);
    let cond = cfg.cond_spec(&gen.vocab);
    let conditional = DiscriminatorModel::conditional(&cfg.discriminator, vocab, len, cond, device);
    let mut model = if fits(&conditional, ck) {
        conditional
    } else {
        DiscriminatorModel::new(&cfg.discriminator, vocab, len, device)
    };
    // SentiGAN's (k + 1)-way classifier and RankGAN's ranker give no probability that a text
    // is real: their runs are served by the generator alone.
    if !fits(&model, ck) {
        return Ok(None);
    }
    crate::models::vars::restore_vars(&mut model.vs, &ck.tensors, "disc.", path)?;
    Ok(Some(model))
}

/// Whether a checkpoint holds every weight of `model` (its `disc.` tensors), shaped as `model`'s.
fn fits(model: &DiscriminatorModel, ck: &Checkpoint) -> bool {
    model.vs.variables().iter().all(|(k, v)| {
        ck.tensors
            .get(&format!("disc.{k}"))
            .is_some_and(|t| t.size() == v.size())
    })
}
