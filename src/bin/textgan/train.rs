//! `textgan train` and `textgan oracle`: resolve the config, create or resume the run, train.
//!
//! SIGINT and SIGTERM end the run after the current step with a checkpoint (exit 0, resume
//! with `--resume`); a second signal ends the process at once.
use crate::{presets, progress::BarHooks};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use textgan::config::{Override, RunConfig};
use textgan::train::{Outcome, Trainer};

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Run directory to create (config, vocabulary, checkpoint, metrics.jsonl, samples/).
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in DIR from its checkpoint.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "config", "preset"])]
    resume: Option<PathBuf>,
    /// Start the generator from this run's checkpoint and skip MLE pretraining (same data and generator).
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    init_from: Option<PathBuf>,
    /// Start from a Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json):
    /// its sizes, weights and tokenizer; MLE fine-tuning (then the adversarial phase, if set)
    /// on the run's data.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["resume", "init_from"])]
    init_from_hf: Option<PathBuf>,
    /// TOML config file (see configs/); without it (and without --preset) the default job: an
    /// LSTM on sentences of the built-in grammar.
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Bundled preset to start from (`textgan presets` lists them).
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Override a config value, e.g. --set train.lr=0.001 --set generator.kind=transformer.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Stop after N optimizer steps in all, MLE and adversarial together (a smoke run, or
    /// more steps on --resume).
    #[arg(long, value_name = "N")]
    max_steps: Option<usize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, value_name = "DEVICE")]
    device: Option<String>,
    /// Train on your own text: one sentence a line (sets data.source = "text", data.train).
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    data: Option<PathBuf>,
    /// Test sentences for --data (default: a held-out fraction, data.test_fraction).
    #[arg(long, value_name = "FILE", requires = "data")]
    test_data: Option<PathBuf>,
    /// Train in N processes on this machine, data-parallel over torch's c10d/Gloo (each
    /// takes its share of every batch; MLE steps are split, the adversarial ones repeated).
    /// Across machines, start `textgan train` under torchrun or the cluster's launcher instead.
    #[arg(long, value_name = "N", default_value_t = 1)]
    nproc_per_node: usize,
    /// The collectives' engine in a multi-process job: gloo (CPU tensors; a GPU run's
    /// buckets go through host memory), nccl (CUDA GPUs, one a process: LOCAL_RANK's) or auto
    /// (nccl for a CUDA run when this build has it, else gloo).
    #[arg(long, value_name = "BACKEND", default_value = "auto", value_parser = ["gloo", "nccl", "auto"])]
    backend: String,
    /// Start --nproc-per-node processes even when there are more of them than CPU cores (or
    /// GPUs under NCCL).
    #[arg(long)]
    oversubscribe: bool,
}

/// `--set` values, then `--max-steps` and `--device` as typed overrides.
fn overrides(a: &TrainArgs) -> Result<Vec<Override>> {
    let mut o = a
        .set
        .iter()
        .map(|s| Override::parse(s))
        .collect::<textgan::Result<Vec<_>>>()?;
    if let Some(n) = a.max_steps {
        o.push(Override::new("train.max_steps", n as i64));
    }
    if let Some(d) = &a.device {
        o.push(Override::new("train.device", d.as_str()));
    }
    if let Some(f) = &a.data {
        o.push(Override::new("data.source", "text"));
        o.push(Override::new("data.train", f.display().to_string()));
    }
    if let Some(f) = &a.test_data {
        o.push(Override::new("data.test", f.display().to_string()));
    }
    Ok(o)
}

/// The config of a new run: a file, a preset or the defaults (with a GPT-2 folder's sizes and
/// tokenizer when it starts from one), then the overrides.
fn resolve_config(a: &TrainArgs) -> Result<RunConfig> {
    let mut base = match (&a.config, &a.preset) {
        (Some(path), _) => RunConfig::read_table(path)?,
        (None, Some(name)) => RunConfig::parse_table(presets::get(name)?, name)?,
        (None, None) => RunConfig::default().to_table(),
    };
    if let Some(dir) = &a.init_from_hf {
        from_hf(&mut base, dir)?;
    }
    let cfg = RunConfig::resolve(base, &overrides(a)?)?;
    let lora =
        matches!(&cfg.generator, textgan::models::GeneratorConfig::Gpt2(g) if g.lora_rank > 0);
    if lora && a.init_from_hf.is_none() && a.init_from.is_none() {
        eprintln!("warning: generator.lora_rank on a model that starts at random: only the adapters train, the random weights stay (start from a model with --init-from-hf or --init-from)");
    }
    Ok(cfg)
}

/// A run that starts from a GPT-2 folder takes its sizes and its tokenizer; `--set` still
/// changes what a fine-tune may change (`generator.dropout`, `generator.lora_rank`).
fn from_hf(base: &mut toml::Table, dir: &std::path::Path) -> Result<()> {
    if !dir.join("config.json").is_file() {
        bail!(
            "--init-from-hf {}: no config.json there (a Hugging Face model folder holds config.json, model.safetensors and tokenizer.json)",
            dir.display()
        );
    }
    let (g, _) = textgan::models::gpt2::read_hf_config(dir)?;
    let tok = dir.join("tokenizer.json");
    if !tok.exists() {
        bail!(
            "--init-from-hf {}: no tokenizer.json (the model reads text with its own tokenizer)",
            dir.display()
        );
    }
    let dir = std::fs::canonicalize(dir)?;
    let generator = RunConfig {
        generator: textgan::models::GeneratorConfig::Gpt2(g),
        ..RunConfig::default()
    }
    .to_table()
    .remove("generator")
    .expect("a config has a generator");
    base.insert("generator".into(), generator);
    let file = dir.join("tokenizer.json").display().to_string();
    for (key, value) in [
        ("data.tokenizer", "pretrained".to_string()),
        ("data.tokenizer_file", file),
        ("train.init_from_hf", dir.display().to_string()),
    ] {
        Override::new(key, value).apply(base)?;
    }
    Ok(())
}

/// SIGINT and SIGTERM set the returned flag; when it is already set, they exit at once.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the conditional exit sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&flag))?;
        signal_hook::flag::register(sig, Arc::clone(&flag))?;
    }
    Ok(flag)
}

pub fn run(a: TrainArgs) -> Result<()> {
    if a.nproc_per_node == 0 {
        bail!("--nproc-per-node must be at least 1");
    }
    // Chosen (and an engine this build or machine lacks refused) before any worker starts.
    let in_job = a.nproc_per_node > 1 || std::env::var_os("WORLD_SIZE").is_some();
    let backend = match in_job {
        true => {
            let cuda = a.backend == "auto" && cuda_run(&a)?;
            textgan::dist::Backend::choose(&a.backend, cuda)?
        }
        false => textgan::dist::Backend::Gloo, // one process: no collectives
    };
    if a.nproc_per_node > 1 && std::env::var_os("WORLD_SIZE").is_none() {
        let nccl = backend == textgan::dist::Backend::Nccl;
        crate::launch::check_bound(a.nproc_per_node, nccl, a.oversubscribe)?;
        textgan::dist::check_available(backend, a.nproc_per_node).map_err(anyhow::Error::msg)?;
        return crate::launch::launch(a.nproc_per_node);
    }
    let job = crate::launch::join(backend)?;
    let rank = job.map_or(0, |(r, _)| r);
    // Rank 0 writes the run; the others keep a scratch copy of their own.
    let scratch = (rank > 0)
        .then(|| crate::launch::scratch(rank, a.resume.as_deref()))
        .transpose()?;
    let _cleanup = scratch.clone().map(crate::launch::Scratch);
    let mut trainer = match (&a.resume, &a.out, &scratch) {
        (Some(_), _, Some(copy)) => Trainer::resume(copy, &overrides(&a)?)?,
        (Some(dir), _, None) => Trainer::resume(dir, &overrides(&a)?)?,
        (None, Some(dir), _) => {
            let cfg = resolve_config(&a)?;
            // Agreed before the run directory is made, so a refused job leaves nothing.
            if job.is_some() {
                agree_on(&cfg)?;
            }
            let dir = scratch.as_deref().unwrap_or(dir);
            Trainer::create_from(dir, cfg, a.init_from.as_deref())?
        }
        (None, None, _) => bail!("give --out DIR for a new run or --resume DIR"),
    };
    if job.is_some() {
        if a.resume.is_some() {
            agree_on(trainer.config())?;
        }
        take_rank0_weights(&trainer)?;
    }
    let stop = stop_on_signals()?;
    let mut hooks = crate::launch::RankHooks {
        inner: BarHooks::new(Some(Arc::clone(&stop))),
        show: rank == 0,
    };
    let result = trainer.run(&mut hooks);
    hooks.inner.finish();
    if scratch.is_some() {
        result?;
        return Ok(());
    }
    report(&trainer, result?);
    let _ = stop.load(Ordering::Relaxed);
    Ok(())
}

/// What a run's end means for the user, on standard error.
fn report(trainer: &Trainer, outcome: Outcome) {
    let dir = trainer.path();
    match outcome {
        Outcome::Stopped { steps } => eprintln!(
            "stopped after {steps} steps; continue with: textgan train --resume {}",
            dir.display()
        ),
        // --max-steps caps the run as a whole; it does not lengthen a finished one.
        Outcome::AlreadyComplete => eprintln!("(to train on, raise the run's own length: --set gan.steps=N or --set train.epochs=N, with --max-steps above the steps taken)"),
        Outcome::Finished(last) => {
            eprintln!("run directory: {}", dir.display());
            let Some(m) = last else { return };
            if let Some(v) = m.test_nll {
                eprintln!("final test NLL: {v:.4} nats/token");
            }
            if let Some(v) = m.nll_oracle {
                eprintln!(
                    "final NLL-oracle: {v:.4} over {} generated sequences (SeqGAN paper MLE: 9.038)",
                    trainer.config().train.oracle_eval_samples
                );
            }
        }
    }
}

/// A rank's config in a job: one the job can run, the same build and config on every rank.
/// Whether the run trains on CUDA (its `train.device`, with `--device` and `--set` applied,
/// is `cuda`, `cuda:N`, or `auto` on a machine with a GPU): `--backend auto` then picks NCCL.
fn cuda_run(a: &TrainArgs) -> Result<bool> {
    let cfg = match &a.resume {
        Some(dir) => {
            let saved = RunConfig::read_table(&dir.join("config.toml"))?;
            RunConfig::resolve(saved, &overrides(a)?)?
        }
        None => resolve_config(a)?,
    };
    let device = cfg.train.device;
    Ok(match textgan::device::parse_device(&device)? {
        textgan::device::DeviceRequest::Cpu => false,
        textgan::device::DeviceRequest::Cuda(_) => true,
        textgan::device::DeviceRequest::Auto => tch::Cuda::is_available(),
    })
}

fn agree_on(cfg: &RunConfig) -> Result<()> {
    if cfg.train.cuda_graph {
        bail!("train.cuda_graph replays one process's whole step and cannot take part in a multi-process job; set train.cuda_graph = false");
    }
    crate::launch::agree(&cfg.to_toml())
}

/// Rank 0's generator weights on every rank (the ranks seed alike, so this only guards
/// against a drift).
fn take_rank0_weights(trainer: &Trainer) -> Result<()> {
    Ok(textgan::dist::broadcast_named(
        trainer.generator().vs.variables().into_iter().collect(),
    )?)
}

/// `textgan oracle`: `train` with the oracle-mle preset unless a config is given.
pub fn run_oracle(mut a: TrainArgs) -> Result<()> {
    if a.resume.is_none() && a.config.is_none() && a.preset.is_none() {
        a.preset = Some("oracle-mle".into());
    }
    run(a)
}

pub type OracleArgs = TrainArgs;
