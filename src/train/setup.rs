//! What a run checks and settles before its directory is touched: threads, device, data, and
//! data paths made absolute.
use crate::config::RunConfig;
use crate::device;
use crate::error::{Error, Result};
use crate::run::{load_data, RunData};
use tch::Device;

/// Threads, the run's device (refusing settings that need CUDA elsewhere) and its data.
pub(super) fn prepare(cfg: &RunConfig) -> Result<(Device, RunData)> {
    if cfg.train.threads > 0 {
        tch::set_num_threads(cfg.train.threads);
    }
    let device = device::resolve(&cfg.train.device)?;
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
        crate::models::disc::trunk::check_d_init(init, g, d)?;
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

/// Resolves relative data paths against the working directory, so a resumed run finds them.
pub(super) fn absolutize(cfg: &mut RunConfig) -> Result<()> {
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
