//! `textgan train-discriminator`: a discriminator trained afresh to tell a run's training text
//! from the run's own samples, saved with the generator as a new run, so that reranking and
//! the other uses of a discriminator at decoding time work on any run (an MLE run included).
//!
//! The discriminator is the run's `[discriminator]` network, unconditional, trained with
//! binary cross-entropy on batches of half real rows, half samples (tokens, `<eos>`, padding,
//! as the adversarial phase feeds it); a tenth of each side (at least one row) is held out to measure its
//! accuracy.
use crate::algorithms::batches::{real_rows, Shapes};
use crate::error::{Error, Result};
use crate::models::disc::DiscriminatorModel;
use crate::run::RunContext;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::path::Path;
use tch::nn::OptimizerConfig;
use tch::{Kind, Tensor};

/// How the discriminator is trained.
#[derive(Debug, Clone, Serialize)]
pub struct DiscTraining {
    /// Real rows and as many samples.
    pub samples: usize,
    pub epochs: usize,
    /// Sampling temperature of the generated side.
    pub temperature: f64,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: i64,
}

/// What training gave: the held-out accuracy and the last epoch's training loss.
#[derive(Debug, Clone, Serialize)]
pub struct DiscReport {
    /// Real sentences used (as many samples): `samples`, or all the training text if less.
    pub sentences: usize,
    pub held_out_accuracy: f64,
    pub train_loss: f64,
    pub held_out: usize,
}

/// The rows and their targets (1 real, 0 generated), shuffled, split into training and
/// held-out parts.
type Split = ((Vec<Vec<i64>>, Vec<f32>), (Vec<Vec<i64>>, Vec<f32>));

fn split(ctx: &RunContext, s: &DiscTraining, rng: &mut rand::rngs::StdRng) -> Split {
    let mut real = ctx.corpus.train.clone();
    real.shuffle(rng);
    real.truncate(s.samples);
    let fake = ctx.sample(real.len(), s.temperature, s.seed);
    let cut = (real.len() / 10).max(1);
    let mut part = |a: &[Vec<i64>], b: &[Vec<i64>]| {
        let mut rows: Vec<(Vec<i64>, f32)> = a
            .iter()
            .map(|r| (r.clone(), 1.0))
            .chain(b.iter().map(|r| (r.clone(), 0.0)))
            .collect();
        rows.shuffle(rng);
        rows.into_iter().unzip()
    };
    let held = part(&real[..cut], &fake[..cut]);
    (part(&real[cut..], &fake[cut..]), held)
}

/// Rows as the discriminator's [B, d_len] input.
fn input(rows: &[Vec<i64>], shapes: &Shapes, dev: tch::Device) -> Tensor {
    let picks: Vec<usize> = (0..rows.len()).collect();
    real_rows(rows, &picks, shapes, dev)
}

/// The mean logit of each row (a per-token discriminator's outputs averaged), [B].
fn logits(d: &DiscriminatorModel, x: &Tensor, train: bool) -> Tensor {
    d.net
        .score(x, train)
        .mean_dim([1i64].as_slice(), false, Kind::Float)
}

/// Trains a discriminator on `ctx`'s training text against its generator's samples;
/// `progress(epoch, loss)` after each epoch.
pub fn train_discriminator(
    ctx: &RunContext,
    s: &DiscTraining,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<(DiscriminatorModel, DiscReport)> {
    if ctx.corpus.sources.is_some() {
        return Err(Error::Config(
            "train-discriminator: runs on pairs (translation, dialogue) are not supported yet"
                .into(),
        ));
    }
    if ctx.corpus.train.len() < 2 || s.samples < 2 {
        return Err(Error::Data(
            "train-discriminator needs at least 2 training sentences (one to hold out)".into(),
        ));
    }
    let gen = &ctx.gen;
    let dev = gen.model.device();
    tch::manual_seed(s.seed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(s.seed as u64);
    let ((rows, ys), (held, held_ys)) = split(ctx, s, &mut rng);
    let (vocab, len) = (gen.vocab.len() as i64, gen.max_len.max(1) as i64 + 32);
    let d = DiscriminatorModel::new(&ctx.gen.config.discriminator, vocab, len, dev);
    let shapes = Shapes::new(&gen.vocab, gen.max_len, d.net.min_len());
    let mut opt = tch::nn::Adam::default()
        .build(&d.vs, s.lr)
        .map_err(|e| Error::Config(format!("the discriminator's optimizer: {e}")))?;
    let mut loss_sum = 0.0;
    for epoch in 0..s.epochs {
        let (mut sum, mut count) = (0.0, 0);
        for (x, y) in rows.chunks(s.batch_size).zip(ys.chunks(s.batch_size)) {
            let target = Tensor::from_slice(y).to_device(dev);
            let loss = logits(&d, &input(x, &shapes, dev), true)
                .binary_cross_entropy_with_logits::<Tensor>(
                    &target,
                    None,
                    None,
                    tch::Reduction::Mean,
                );
            opt.backward_step(&loss);
            sum += loss.double_value(&[]);
            count += 1;
        }
        loss_sum = sum / count.max(1) as f64;
        progress(epoch + 1, loss_sum);
    }
    let accuracy = {
        let _guard = tch::no_grad_guard();
        let p = logits(&d, &input(&held, &shapes, dev), false).gt(0.0);
        let y = Tensor::from_slice(&held_ys).to_device(dev).gt(0.5);
        p.eq_tensor(&y)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[])
    };
    let report = DiscReport {
        sentences: ys.len() / 2 + held.len() / 2,
        held_out_accuracy: accuracy,
        train_loss: loss_sum,
        held_out: held.len(),
    };
    Ok((d, report))
}

/// Writes a new run at `out`: the source run's generator weights with the discriminator's
/// (`disc.`) added, its config.toml, vocab.json and run.json, and `discriminator.json` with
/// the settings and the report. The run decodes (sample, serve, eval, compare); it holds no
/// optimizer state, so training does not resume from it.
pub fn save_with_discriminator(
    source: &Path,
    out: &Path,
    d: &DiscriminatorModel,
    info: &serde_json::Value,
) -> Result<()> {
    let path = crate::checkpoint::locate(source);
    let ck = crate::checkpoint::load(&path)?;
    let mut tensors: Vec<(String, Tensor)> = ck
        .tensors
        .into_iter()
        .filter(|(k, _)| k.starts_with("model."))
        .collect();
    tensors.extend(
        d.vs.variables()
            .into_iter()
            .map(|(k, v)| (format!("disc.{k}"), v)),
    );
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let file = out.join(crate::checkpoint::FILE);
    crate::checkpoint::save(&file, &ck.config, &ck.vocab, &ck.progress, &tensors)?;
    // The files that describe the run travel with it (its metrics and samples stay behind).
    for f in ["config.toml", "vocab.json", "run.json"] {
        let from = source.join(f);
        if source.is_dir() && from.is_file() {
            let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
            crate::fsutil::write_atomic(&out.join(f), &bytes)?;
        }
    }
    let json = serde_json::to_string_pretty(info).expect("plain JSON") + "\n";
    crate::fsutil::write_atomic(&out.join("discriminator.json"), json.as_bytes())
}
