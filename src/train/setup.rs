//! What a run checks and settles before its directory is touched: threads, device, data, and
//! data paths made absolute.
use crate::config::RunConfig;
use crate::device;
use crate::error::{Error, Result};
use crate::run::{load_data, RunData};
use std::path::Path;
use tch::Device;

/// This process's rank on its machine, in a job.
fn local_rank() -> Option<usize> {
    crate::dist::with_group(|g| g.local_rank)
}

/// Threads, the run's device (refusing settings that need CUDA elsewhere) and its data.
pub(super) fn prepare(cfg: &RunConfig) -> Result<(Device, RunData)> {
    if cfg.train.threads > 0 {
        tch::set_num_threads(cfg.train.threads);
    }
    let device = match (device::resolve(&cfg.train.device)?, local_rank()) {
        // One GPU a process, as torchrun lays a job out: `cuda` and `auto` mean LOCAL_RANK's.
        (Device::Cuda(0), Some(r)) if !cfg.train.device.contains(':') => {
            device::resolve(&format!("cuda:{r}"))?
        }
        (d, _) => d,
    };
    if cfg.train.cuda_graph && !device.is_cuda() {
        return Err(Error::Device(format!(
            "train.cuda_graph needs a CUDA device; this run is on {}",
            device::describe(device)
        )));
    }
    let data = load_data(cfg, device)?;
    if let Some(spec) = cfg.gan.algorithm.and_then(crate::algorithms::spec) {
        if spec.needs_labels() && !data.corpus.is_labelled() {
            return Err(Error::Config(format!(
                "gan.algorithm = \"{}\" generates under class labels: it needs labelled data (data.source = \"mr\", data.classes or data.labelled)",
                spec.name()
            )));
        }
    }
    if cfg.gan.is_set() {
        let (init, g, d) = (&cfg.gan.adv.d_init, &cfg.generator, &cfg.discriminator);
        crate::models::disc::trunk::check_d_init(init, g, d, data.corpus.vocab.len())?;
    }
    if let crate::models::GeneratorConfig::Gpt2(g) = &cfg.generator {
        let src = match cfg.data.is_parallel() {
            true => cfg.data.max_source_len,
            false => 0,
        };
        let need = (data.corpus.max_len + src) as i64;
        if need > g.n_positions {
            return Err(Error::Config(format!(
                "generator.n_positions = {} is shorter than the texts: {need} positions are needed (raise it, or lower data.max_len)",
                g.n_positions
            )));
        }
    }
    Ok((device, data))
}

/// A tokenizer file that has gone since the run started (a GPT-2 folder moved or deleted) is
/// read from the copy the run directory `dir` keeps.
pub(super) fn own_tokenizer(cfg: &mut RunConfig, dir: &Path) {
    let own = dir.join("tokenizer.json");
    if cfg
        .data
        .tokenizer_file
        .as_ref()
        .is_some_and(|f| !f.exists())
        && own.exists()
    {
        cfg.data.tokenizer_file = Some(own);
    }
}

/// Resolves relative data paths (and a GPT-2 folder to start the discriminator from) against
/// the working directory, so a resumed run finds them.
pub(super) fn absolutize(cfg: &mut RunConfig) -> Result<()> {
    let init = &cfg.gan.adv.d_init;
    if let Some(dir) = crate::models::disc::trunk::d_init_folder(init).filter(|d| d.is_relative()) {
        let full = std::fs::canonicalize(dir)
            .map_err(|e| Error::Config(format!("gan.d_init = \"{init}\": {e}")))?;
        cfg.gan.adv.d_init = full.display().to_string();
    }
    let classes = cfg.data.classes.values_mut();
    for p in [&mut cfg.data.train, &mut cfg.data.test]
        .into_iter()
        .flatten()
        .chain(classes)
    {
        if p.is_relative() {
            *p = std::fs::canonicalize(&*p).map_err(|e| Error::io(p.clone(), e))?;
        }
    }
    Ok(())
}

/// Loads a Hugging Face GPT-2 folder's weights into `gen`, refusing a model whose vocabulary
/// is not the run's (`vocab` tokens).
pub(super) fn load_hf(
    hf: &Path,
    gen: &mut crate::models::GeneratorModel,
    vocab: usize,
) -> Result<()> {
    let (_, n) = crate::models::gpt2::read_hf_config(hf)?;
    if n != vocab as i64 {
        return Err(Error::Config(format!(
            "{}: the model has {n} tokens, its tokenizer {vocab}",
            hf.display()
        )));
    }
    crate::models::gpt2::load_weights(hf, gen)
}

/// LeakGAN's generator reads token ids into its leaked features and takes no condition:
/// labelled or parallel data is refused before anything is built.
pub(crate) fn check_unconditional(cfg: &RunConfig, vocab: &crate::data::Vocab) -> Result<()> {
    let leak = matches!(cfg.generator, crate::models::GeneratorConfig::Leakgan(_));
    let plain = matches!(cfg.cond_spec(vocab), crate::models::CondSpec::None);
    crate::error::ensure(!leak || plain, || {
        "generator.kind = \"leakgan\" generates without a condition: this data has labels or sources".into()
    })
}
