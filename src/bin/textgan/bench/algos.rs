//! The adversarial steps of `textgan bench`: each algorithm built as a run builds it, at a
//! size's shapes, on random real rows, and its whole step timed.
use super::{name, time, BenchArgs, Setup, Step};
use anyhow::Result;
use tch::{Device, Kind, Tensor};
use textgan::config::{Override, RunConfig};
use textgan::data::Vocab;
use textgan::models::{GeneratorConfig, GeneratorModel};

/// The config overrides of `step`'s algorithm at the benchmark's sizes.
fn step_overrides(step: &Step, s: &Setup, a: &BenchArgs) -> Vec<Override> {
    let mut sets = vec![
        Override::new("gan.batch_size", s.batch),
        Override::new("gan.steps", 1000),
    ];
    let highway = Override::new("discriminator.highway", a.highway.name());
    match step {
        Step::Seqgan => sets.extend([
            Override::new("gan.algorithm", "seqgan"),
            Override::new("gan.rollouts", 16),
            Override::new("gan.d_steps", 0),
            Override::new("discriminator.kind", "cnn"),
            highway,
        ]),
        Step::Relgan => sets.extend([
            Override::new("gan.algorithm", "gumbel"),
            Override::new("gan.loss", "rsgan"),
            Override::new("gan.d_steps", a.relgan_d_steps as i64),
            // As the relgan presets (the reference does not clip).
            Override::new("gan.d_grad_clip", 5.0),
            Override::new("discriminator.kind", "cnn"),
            Override::new("discriminator.embed_dim", 64),
            Override::new("discriminator.filter_sizes", vec![2, 3, 4, 5]),
            Override::new("discriminator.num_filters", vec![300; 4]),
            Override::new("discriminator.num_rep", 64),
            Override::new("discriminator.dropout", 0.25),
            highway,
        ]),
        Step::Rankgan => sets.extend([
            Override::new("gan.algorithm", "rankgan"),
            Override::new("gan.rollouts", 16),
            Override::new("gan.d_steps", 5),
            Override::new("discriminator.kind", "cnn"),
            highway,
        ]),
        Step::Textgan => sets.extend([
            Override::new("gan.algorithm", "textgan"),
            Override::new("gan.d_steps", 1),
            Override::new("discriminator.kind", "cnn"),
            Override::new("discriminator.embed_dim", 32),
            Override::new("discriminator.filter_sizes", vec![2, 3]),
            Override::new("discriminator.num_filters", vec![100, 200]),
            highway,
        ]),
        Step::Leakgan => sets.extend([
            Override::new("gan.algorithm", "leakgan"),
            Override::new("gan.rollouts", 4),
            Override::new("gan.d_steps", 5),
            Override::new("discriminator.kind", "cnn"),
            highway,
        ]),
        Step::Cot | Step::Dpgan => sets.extend([
            Override::new("gan.algorithm", name(&step)),
            Override::new("gan.d_steps", 1),
        ]),
        Step::Jsdgan | Step::Dgsan => sets.extend([
            Override::new("gan.algorithm", name(&step)),
            Override::new("gan.d_steps", 0),
        ]),
        _ => sets.extend([
            Override::new("gan.algorithm", "scratchgan"),
            Override::new("gan.d_steps", 1),
            Override::new("discriminator.kind", "lstm"),
        ]),
    }
    sets
}

/// Median seconds of `reps` adversarial steps of `step`'s algorithm at size `s`, after at most
/// one untimed step.
pub(super) fn adversarial_step(
    step: Step,
    s: &Setup,
    (gcfg, model): (&GeneratorConfig, &GeneratorModel),
    vocab: &Vocab,
    device: Device,
    reps: usize,
    a: &BenchArgs,
) -> Result<f64> {
    let base = RunConfig {
        generator: gcfg.clone(),
        ..Default::default()
    }
    .to_table();
    let sets = step_overrides(&step, s, a);
    let cfg = RunConfig::resolve(base, &sets)?;
    let real: Vec<Vec<i64>> = (0..1000)
        .map(|_| {
            Vec::try_from(Tensor::randint(
                s.vocab,
                [s.len],
                (Kind::Int64, Device::Cpu),
            ))
            .expect("ids")
        })
        .collect();
    let mut algo = textgan::algorithms::build(
        &cfg.gan,
        &cfg.generator,
        &cfg.discriminator,
        &model.vs,
        vocab,
        (s.len as usize, Default::default()),
        device,
    )
    .expect("an algorithm is set");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let secs = time(device, a.warmup.min(1), reps, || {
        let mut ctx = textgan::algorithms::Ctx {
            gen: model.net.as_ref(),
            gen_vars: &model.vs,
            real: &real,
            conds: Default::default(),
            device,
            step: 10,
            total: 1000,
            rng: &mut rng,
        };
        let _ = algo.step(&mut ctx);
    });
    Ok(secs)
}
