//! `textgan train` and `textgan oracle`: resolve the config, create or resume the run, train.
use crate::{presets, progress::BarHooks};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use textgan::config::RunConfig;
use textgan::train::Session;

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
    /// TOML config file (see configs/); defaults to the coco-lstm preset's values.
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Bundled preset to start from (`textgan presets` lists them).
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Override a config value, e.g. --set train.lr=0.001 --set generator.kind=transformer.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Stop after N optimizer steps in all (a smoke run, or more steps on --resume).
    #[arg(long, value_name = "N")]
    max_steps: Option<usize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, value_name = "DEVICE")]
    device: Option<String>,
}

/// `--set` values with `--max-steps` and `--device` folded in.
fn overrides(a: &TrainArgs) -> Vec<String> {
    let mut o = a.set.clone();
    if let Some(n) = a.max_steps {
        o.push(format!("train.max_steps={n}"));
    }
    if let Some(d) = &a.device {
        o.push(format!("train.device=\"{d}\""));
    }
    o
}

fn resolve_config(a: &TrainArgs) -> Result<RunConfig> {
    let overrides = overrides(a);
    let cfg = match (&a.config, &a.preset) {
        (Some(path), _) => RunConfig::load(Some(path), &overrides)?,
        (None, Some(name)) => {
            let mut table: toml::Table =
                toml::from_str(presets::get(name)?).context("bundled preset")?;
            for o in &overrides {
                textgan::config::apply_override(&mut table, o)?;
            }
            RunConfig::from_toml_str(&toml::to_string(&table)?)?
        }
        (None, None) => RunConfig::load(None, &overrides)?,
    };
    Ok(cfg)
}

pub fn run(a: TrainArgs) -> Result<()> {
    let mut session = match (&a.resume, &a.out) {
        (Some(dir), _) => Session::resume(dir, &overrides(&a))?,
        (None, Some(dir)) => {
            Session::create_from(dir, resolve_config(&a)?, a.init_from.as_deref())?
        }
        (None, None) => bail!("give --out DIR for a new run or --resume DIR"),
    };
    let mut hooks = BarHooks::new();
    let result = session.run(&mut hooks);
    hooks.finish();
    let metrics = result?;
    eprintln!("run directory: {}", session.dir.display());
    if let Some(v) = metrics["test_nll"].as_f64() {
        eprintln!("final test NLL: {v:.4} nats/token");
    }
    if let Some(v) = metrics["nll_oracle"].as_f64() {
        eprintln!(
            "final NLL-oracle: {v:.4} over {} generated sequences (SeqGAN paper MLE: 9.038)",
            session.cfg.train.oracle_eval_samples
        );
    }
    Ok(())
}

/// `textgan oracle`: `train` with the oracle-mle preset unless a config is given.
pub fn run_oracle(mut a: TrainArgs) -> Result<()> {
    if a.resume.is_none() && a.config.is_none() && a.preset.is_none() {
        a.preset = Some("oracle-mle".into());
    }
    run(a)
}

pub type OracleArgs = TrainArgs;
