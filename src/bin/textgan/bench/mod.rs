//! `textgan bench`: median time of the hot paths on synthetic data, as JSON lines.
//!
//! Sizes follow docs/PERFORMANCE.md: `oracle` (LSTM 32/32, vocab 5000, batch 64, length 20),
//! `lstm512` (LSTM 512/512, batch 256, length 40) and `transformer` (4 layers, 4 heads, width 256,
//! batch 64, length 20).
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::time::Instant;
use tch::Device;
use textgan::data::Vocab;
use textgan::models::{generate, GenerateSpec, GeneratorModel, Sampling};
use textgan::models::{GeneratorConfig, LstmConfig, RmcConfig, TransformerConfig};

mod algos;
mod gpt2;
mod mle;
use mle::mle_secs;
mod reference;
mod seq2seq;
use reference::{peak_rss_mb, reset_peak_rss, Reference};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum Step {
    /// One MLE training step (forward, backward, clip, Adam).
    Mle,
    /// Sampling 10,000 sequences.
    Sample,
    /// SeqGAN generator step with 16 rollouts per prefix (CNN discriminator of SeqGAN).
    Seqgan,
    /// RelGAN-style Gumbel-softmax step: one G and five D updates (RSGAN, 64-representation CNN).
    Relgan,
    /// ScratchGAN-style step: one G and one D update with per-token rewards (LSTM discriminator).
    Scratchgan,
    /// A forward pass without gradients (the gpt2 sizes).
    Forward,
    /// CoT: one G update (exact KL to the mediator) and one mediator update (MLE on 2B rows).
    Cot,
    /// JSDGAN: one JSD-weighted likelihood update on a real batch.
    Jsdgan,
    /// DGSAN: one update on a real batch and a batch of G_old's samples.
    Dgsan,
    /// DPGAN: one G update (argmax texts of a real batch, rewarded by the LM discriminator)
    /// and one LM update on real and fresh texts.
    Dpgan,
    /// RankGAN: a G step with 16 rollouts per prefix rewarded by rank scores, 5 ranker updates.
    Rankgan,
    /// TextGAN: one G update (MMD² of CNN features, Gumbel-softmax rows) and one D update.
    Textgan,
    /// LeakGAN (oracle size): a G step with 4 rollouts per prefix and the leaked features,
    /// then 5 D updates.
    Leakgan,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum Size {
    Oracle,
    Lstm512,
    Transformer,
    /// The Multi30k encoder-decoder (d 256, 3 + 3 layers, batch 128, length 16); its
    /// `sample` step is translating 1,000 sources with beam 5.
    Seq2seq,
    /// GPT-2 small's shape with random weights (12 layers, 768 wide, 50,257 tokens), batch 4,
    /// 64 tokens: `forward` and `sample` (generation with the key/value cache).
    Gpt2,
    /// A tiny GPT-2 (2 layers, 64 wide, 300 tokens), batch 64, 32 tokens.
    Gpt2tiny,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to time (repeatable; default: all).
    #[arg(long = "step", value_enum)]
    steps: Vec<Step>,
    /// Model sizes (repeatable; default: all).
    #[arg(long = "size", value_enum)]
    sizes: Vec<Size>,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 30)]
    reps: usize,
    /// Untimed repetitions first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Discriminator updates per generator update in the RelGAN step (RelGAN trains 5;
    /// TextGAN-PyTorch's timing in docs/PERFORMANCE.md is of 1).
    #[arg(long, default_value_t = 5)]
    relgan_d_steps: usize,
    /// Also run the plain-PyTorch reference (benches/reference/torch_reference.py) on the same
    /// step, size, device and thread count right after each of ours, and print the ratio.
    #[arg(long)]
    reference: bool,
    /// The Python with torch for --reference (default: .venv/bin/python of the checkout).
    #[arg(long, value_name = "PATH")]
    python: Option<std::path::PathBuf>,
    /// The CNN discriminators' highway layer: `gated` as in the papers' code, `tied` as in
    /// TextGAN-PyTorch (for a like-for-like comparison with its timings).
    #[arg(long, value_enum, default_value = "gated")]
    highway: HighwayArg,
    /// Time the MLE step replayed as one CUDA graph (CUDA devices, LSTM sizes).
    #[arg(long)]
    cuda_graph: bool,
    /// The gpt2 sizes' MLE step with LoRA adapters of this rank (0: full fine-tuning).
    #[arg(long, default_value_t = 0)]
    lora_rank: i64,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum HighwayArg {
    Gated,
    Tied,
}

impl HighwayArg {
    /// The config's name for it.
    fn name(self) -> &'static str {
        match self {
            HighwayArg::Gated => "gated",
            HighwayArg::Tied => "tied",
        }
    }
}

struct Setup {
    gen: GeneratorConfig,
    vocab: i64,
    batch: i64,
    len: i64,
}

fn setup(size: Size) -> Setup {
    match size {
        Size::Oracle => Setup {
            gen: GeneratorConfig::Lstm(LstmConfig::seqgan()),
            vocab: 5000,
            batch: 64,
            len: 20,
        },
        Size::Lstm512 => Setup {
            gen: GeneratorConfig::Lstm(LstmConfig {
                embed_dim: 512,
                hidden_dim: 512,
                num_layers: 1,
                dropout: 0.0,
            }),
            vocab: 5000,
            batch: 256,
            len: 40,
        },
        Size::Transformer => Setup {
            gen: GeneratorConfig::Transformer(TransformerConfig {
                n_layer: 4,
                n_head: 4,
                n_embd: 256,
                dropout: 0.0,
            }),
            vocab: 5000,
            batch: 64,
            len: 20,
        },
        Size::Seq2seq => Setup {
            gen: GeneratorConfig::Seq2seq(Default::default()),
            vocab: 6271,
            batch: 128,
            len: 16,
        },
        Size::Gpt2 | Size::Gpt2tiny => gpt2::setup(size == Size::Gpt2),
    }
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Median seconds of `reps` runs of `f` after `warmup` untimed ones.
fn time(device: Device, warmup: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    sync(device);
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            sync(device);
            t0.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let device = textgan::device::resolve(&a.device)?;
    if a.cuda_graph && !device.is_cuda() {
        bail!("--cuda-graph needs a CUDA device (--device cuda)");
    }
    let reference = if a.reference {
        Some(Reference::find(a.python.clone())?)
    } else {
        None
    };
    let steps = if a.steps.is_empty() {
        vec![Step::Mle, Step::Sample]
    } else {
        a.steps.clone()
    };
    let sizes = if a.sizes.is_empty() {
        vec![Size::Oracle, Size::Lstm512, Size::Transformer]
    } else {
        a.sizes.clone()
    };
    if a.lora_rank > 0 && a.reference {
        bail!(
            "--lora-rank has no reference: transformers alone has no LoRA (peft is not installed)"
        );
    }
    for &size in &sizes {
        let mut s = setup(size);
        if let GeneratorConfig::Gpt2(c) = &mut s.gen {
            c.lora_rank = a.lora_rank;
        }
        tch::manual_seed(0);
        let model = match size {
            Size::Seq2seq => seq2seq::model(&s, device),
            _ => GeneratorModel::new(&s.gen, s.vocab, s.len + 1, device),
        };
        let vocab = Vocab::numeric(s.vocab as usize);
        for &step in &steps {
            reset_peak_rss();
            textgan::cuda_graph::reset_peak_memory(device);
            let (secs, per_rep_tokens, reps) =
                time_step(&a, &s, (step, size), (&model, &vocab), device)?;
            let line = our_line(
                &a,
                (step, size),
                (secs, per_rep_tokens, reps),
                &model,
                device,
            );
            println!("{line}");
            if let Some(r) = &reference {
                let theirs = r.run(&a, device, (&name(&step), &name(&size)), reps)?;
                let their_ms = theirs["median_ms"].as_f64().unwrap_or(f64::NAN);
                println!("{theirs}");
                let ratio = json!({
                    "step": name(&step),
                    "size": name(&size),
                    "textgan_ms": secs * 1e3,
                    "pytorch_ms": their_ms,
                    "speedup": their_ms / (secs * 1e3),
                });
                println!("{ratio}");
            }
        }
    }
    Ok(())
}

/// The JSON line of one of our timings.
fn our_line(
    a: &BenchArgs,
    (step, size): (Step, Size),
    (secs, per_rep_tokens, reps): (f64, i64, usize),
    model: &GeneratorModel,
    device: Device,
) -> serde_json::Value {
    let mut line = json!({
        "impl": "textgan",
        "step": name(&step),
        "size": name(&size),
        "device": textgan::device::describe(device),
        "threads": tch::get_num_threads(),
        "median_ms": secs * 1e3,
        "tokens_per_s": per_rep_tokens as f64 / secs,
        "reps": reps,
        "peak_rss_mb": peak_rss_mb(),
    });
    if let Some(b) = textgan::cuda_graph::peak_memory(device) {
        line["peak_gpu_mb"] = json!(b as f64 / 1048576.0);
    }
    if a.cuda_graph && step == Step::Mle {
        line["cuda_graph"] = json!(true);
    }
    if !matches!(step, Step::Mle | Step::Sample | Step::Forward) {
        line["highway"] = json!(name(&a.highway));
    }
    if step == Step::Relgan {
        line["d_steps"] = json!(a.relgan_d_steps);
    }
    if a.lora_rank > 0 && matches!(size, Size::Gpt2 | Size::Gpt2tiny) {
        line["lora_rank"] = json!(a.lora_rank);
        line["trained_parameters"] = json!(model.num_trained());
    }
    line
}

/// Median seconds of an adversarial step (RelGAN's relational memory at the oracle size).
fn adversarial_secs(
    a: &BenchArgs,
    s: &Setup,
    step: Step,
    size: Size,
    model: &GeneratorModel,
    vocab: &Vocab,
    device: Device,
) -> Result<(f64, i64, usize)> {
    let reps = a.reps.clamp(1, 10);
    // RelGAN's own generator at the oracle size: the relational memory.
    let rmc = (step == Step::Relgan && size == Size::Oracle).then(|| {
        tch::manual_seed(0);
        let c = GeneratorConfig::Rmc(RmcConfig::default());
        let m = GeneratorModel::new(&c, s.vocab, s.len + 1, device);
        (c, m)
    });
    // LeakGAN's own generator, its copy of D the bench's CNN (SeqGAN's, the highway asked).
    let leak = (step == Step::Leakgan).then(|| {
        tch::manual_seed(0);
        let mut g = textgan::models::LeakganConfig::default();
        g.features.highway = match a.highway {
            HighwayArg::Gated => textgan::models::disc::Highway::Gated,
            HighwayArg::Tied => textgan::models::disc::Highway::Tied,
        };
        let c = GeneratorConfig::Leakgan(g);
        let m = GeneratorModel::new(&c, s.vocab, s.len, device);
        (c, m)
    });
    let gen = rmc
        .as_ref()
        .or(leak.as_ref())
        .map(|(c, m)| (c, m))
        .unwrap_or((&s.gen, model));
    let secs = algos::adversarial_step(step, s, gen, vocab, device, reps, a)?;
    Ok((secs, s.batch * s.len, reps))
}

/// Median seconds of sampling `count` sequences of `s.len` tokens, all to their length.
fn sample_secs(
    a: &BenchArgs,
    s: &Setup,
    (model, count): (&GeneratorModel, usize),
    device: Device,
) -> (f64, i64, usize) {
    let spec = GenerateSpec {
        count,
        max_len: s.len as usize,
        batch_size: count,
        bos: 0,
        eos: None,
        banned: vec![],
        prefix: vec![],
        cond: Default::default(),
    };
    let reps = a.reps.clamp(1, 5);
    let secs = time(device, 1, reps, || {
        let _ = generate(model.net.as_ref(), &spec, &Sampling::default(), device);
    });
    (secs, count as i64 * s.len, reps)
}

/// Times one step at one size: (median seconds, tokens a repetition, repetitions).
fn time_step(
    a: &BenchArgs,
    s: &Setup,
    (step, size): (Step, Size),
    (model, vocab): (&GeneratorModel, &Vocab),
    device: Device,
) -> Result<(f64, i64, usize)> {
    Ok(match (step, size) {
        (Step::Mle, Size::Seq2seq) => seq2seq::mle_secs(a, s, model, vocab, device),
        (Step::Sample, Size::Seq2seq) => seq2seq::translate_secs(a, s, model, device),
        (_, Size::Seq2seq) => bail!("--size seq2seq times the mle and sample steps only"),
        (Step::Forward, Size::Gpt2 | Size::Gpt2tiny) => gpt2::forward_secs(a, s, model, device),
        (Step::Sample, Size::Gpt2 | Size::Gpt2tiny) => {
            sample_secs(a, s, (model, s.batch as usize), device)
        }
        (Step::Mle, Size::Gpt2 | Size::Gpt2tiny) => mle_secs(a, s, size, model, vocab, device)?,
        (_, Size::Gpt2 | Size::Gpt2tiny) => {
            bail!("--size gpt2 and gpt2tiny time the forward, sample and mle steps only")
        }
        (Step::Forward, _) => bail!("--step forward is timed for the gpt2 sizes only"),
        (Step::Mle, _) => mle_secs(a, s, size, model, vocab, device)?,
        (Step::Seqgan | Step::Relgan | Step::Scratchgan, _)
        | (Step::Cot | Step::Jsdgan | Step::Dgsan | Step::Dpgan, _)
        | (Step::Rankgan | Step::Textgan, _)
        | (Step::Leakgan, Size::Oracle) => {
            adversarial_secs(a, s, step, size, model, vocab, device)?
        }
        (Step::Leakgan, _) => bail!("--step leakgan is timed at --size oracle only"),
        (Step::Sample, _) => sample_secs(a, s, (model, 10_000), device),
    })
}

/// A value-enum's name as the command line and the JSON lines spell it: `Seqgan` -> `seqgan`.
fn name(v: &dyn std::fmt::Debug) -> String {
    format!("{v:?}").to_lowercase()
}
