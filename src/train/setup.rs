//! A run's state as it opens: new (everything checked before its directory is touched:
//! threads, device, data, data paths made absolute) or reopened where its checkpoint left it.
use super::plan::Plan;
use super::rundir::RunDir;
use super::state::RunState;
use crate::checkpoint::{self, Checkpoint, Progress};
use crate::config::{Override, RunConfig};
use crate::device;
use crate::error::{Error, Result};
use crate::models::GeneratorModel;
use crate::optim::{Adam, Schedule};
use crate::run::{load_data, RunData};
use std::path::Path;
use tch::Device;

/// A new run in `dir`, its generator fresh or from the weights of the run `init_from`.
pub(super) fn open_new(
    dir: &Path,
    mut cfg: RunConfig,
    init_from: Option<&Path>,
) -> Result<(RunState, RunDir)> {
    RunDir::check_new(dir)?;
    if init_from.is_some() {
        // MLE is skipped: the run's own steps are all adversarial.
        cfg.train.epochs = 0;
    }
    cfg.validate()?;
    absolutize(&mut cfg)?;
    let (device, data) = prepare(&cfg)?;
    let corpus = &data.corpus;
    tch::manual_seed(cfg.train.seed as i64);
    check_unconditional(&cfg, &corpus.vocab)?;
    let progress = Progress {
        max_len: corpus.max_len,
        ..Default::default()
    };
    let mut s = assemble(cfg, data, device, progress);
    if let Some(hf) = &s.cfg.train.init_from_hf {
        load_hf(hf, &mut s.gen, s.data.corpus.vocab.len())?;
    }
    if let Some(src) = init_from {
        let path = checkpoint::locate(src);
        let ck = checkpoint::load(&path)?;
        if ck.vocab != s.data.corpus.vocab || ck.config.generator != s.cfg.generator {
            return Err(Error::checkpoint(
                &path,
                "a generator to start from needs a run with the same data and generator settings",
            ));
        }
        checkpoint::restore_vars(&mut s.gen.vs, &ck.tensors, "model.", &path)?;
    }
    let run = RunDir::create(dir, &s.cfg, &s.data.corpus.vocab)?;
    s.progress.run_id = Some(run.id.clone());
    Ok((s, run))
}

/// The run in `dir` where its checkpoint left it, with training settings changed by
/// `overrides` (the data and the networks must stay), and the checkpoint.
pub(super) fn reopen(dir: &Path, overrides: &[Override]) -> Result<(RunState, RunDir, Checkpoint)> {
    let path = dir.join(checkpoint::FILE);
    let ck = checkpoint::load(&path)?;
    let mut cfg = RunConfig::resolve(ck.config.to_table(), overrides)?;
    if cfg.data != ck.config.data
        || cfg.generator != ck.config.generator
        || cfg.discriminator != ck.config.discriminator
        || cfg.gan.algorithm != ck.config.gan.algorithm
    {
        return Err(Error::Config(
            "a resumed run keeps its [data], [generator], [discriminator] and gan.algorithm; only training settings may change"
                .into(),
        ));
    }
    own_tokenizer(&mut cfg, dir);
    let (device, data) = prepare(&cfg)?;
    if data.corpus.vocab != ck.vocab {
        return Err(Error::Data(
            "the training data changed since the run started (its vocabulary differs)".into(),
        ));
    }
    let mut s = assemble(cfg, data, device, ck.progress.clone());
    ck.restore_mle(&path, (&mut s.gen, &mut s.opt, &mut s.schedule))?;
    let run = RunDir::reopen(dir, &mut s.progress)?;
    Ok((s, run, ck))
}

/// The state around a fresh generator of `cfg` and its MLE optimizer.
fn assemble(cfg: RunConfig, data: RunData, device: Device, progress: Progress) -> RunState {
    let vocab = &data.corpus.vocab;
    let (n, len) = (vocab.len() as i64, progress.max_len as i64);
    let gen = GeneratorModel::conditional(&cfg.generator, n, len, cfg.cond_spec(vocab), device);
    let mut opt = Adam::new(&gen.vs, &cfg.train.adam()).named("generator (MLE)");
    opt.spike_factor = cfg.train.guard_spike;
    let plan = Plan::new(&cfg, data.corpus.train.len());
    let schedule = Schedule::new(&cfg.train.schedule(), plan.mle);
    RunState {
        device: gen.device(),
        cfg,
        data,
        gen,
        opt,
        schedule,
        progress,
        plan,
        last: None,
    }
}

/// This process's rank on its machine, in a job.
fn local_rank() -> Option<usize> {
    crate::dist::with_group(|g| g.local_rank)
}

/// Threads, the run's device (refusing settings that need CUDA elsewhere) and its data.
fn prepare(cfg: &RunConfig) -> Result<(Device, RunData)> {
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
fn own_tokenizer(cfg: &mut RunConfig, dir: &Path) {
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
fn absolutize(cfg: &mut RunConfig) -> Result<()> {
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
fn load_hf(hf: &Path, gen: &mut crate::models::GeneratorModel, vocab: usize) -> Result<()> {
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
