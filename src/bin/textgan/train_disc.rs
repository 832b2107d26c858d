//! `textgan train-discriminator`: a discriminator trained afresh on a run's training text
//! against its generator's samples, saved with the generator as a new run directory, so that
//! `sample --rerank`, `serve` and `compare --rerank` can use it on any run.
use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use textgan::train::discriminator::{save_with_discriminator, train_discriminator, DiscTraining};

#[derive(Args, Debug)]
pub struct TrainDiscArgs {
    /// The run whose generator the discriminator learns to tell apart from real text.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// New run directory: the generator with the trained discriminator, for decoding (sample
    /// --rerank/--energy, serve, eval, compare); it holds no optimizer state to resume from.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Real training sentences, and as many samples, to train on (a tenth of each held out).
    #[arg(long, default_value_t = 10_000)]
    samples: usize,
    /// Passes over them.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Sampling temperature of the generated side.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

pub fn run(a: TrainDiscArgs) -> Result<()> {
    if a.samples < 2 || a.epochs == 0 || a.batch_size == 0 {
        bail!("--samples must be at least 2, --epochs and --batch-size at least 1");
    }
    if !(a.lr.is_finite() && a.lr > 0.0) {
        bail!("--lr must be a positive number");
    }
    textgan::models::Sampling {
        temperature: a.temperature,
        ..Default::default()
    }
    .validate()
    .map_err(|e| anyhow::anyhow!("--temperature: {e}"))?;
    crate::sweep::check_out(&a.out)?;
    let device = textgan::device::resolve(&a.device)?;
    let ctx = textgan::run::RunContext::load(&a.run, device)?;
    let settings = DiscTraining {
        samples: a.samples,
        epochs: a.epochs,
        temperature: a.temperature,
        batch_size: a.batch_size,
        lr: a.lr,
        seed: a.seed,
    };
    let mut progress =
        |epoch: usize, loss: f64| eprintln!("epoch {epoch}/{}: loss {loss:.4}", a.epochs);
    let (d, report) = train_discriminator(&ctx, &settings, &mut progress)?;
    let info = json!({
        "source_run": std::fs::canonicalize(&a.run).unwrap_or(a.run.clone()).display().to_string(),
        "discriminator": ctx.gen.config.discriminator,
        "settings": settings,
        "report": report,
    });
    save_with_discriminator(&a.run, &a.out, &d, &info)?;
    eprintln!(
        "held-out accuracy {:.3} on {} sentences; wrote {} (sample --rerank K, serve, compare --rerank)",
        report.held_out_accuracy,
        report.held_out,
        a.out.display()
    );
    Ok(())
}
