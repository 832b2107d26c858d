//! `textgan sample`: sentences from a run's checkpoint, one a line.
use anyhow::{bail, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use textgan::infer::{Draw, Engine, Guide, RowCond};
use textgan::models::Sampling;

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// Run directory (or checkpoint file) to sample from.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Number of sentences.
    #[arg(short = 'n', long = "num", default_value_t = 10)]
    n: usize,
    /// Write to FILE instead of standard output (atomically).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Softmax temperature (lower: safer, less diverse).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    temperature: f64,
    /// Sample among the k most likely tokens only (0: all).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    top_k: i64,
    /// Nucleus sampling: the smallest set of tokens with probability >= p (1: all).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    top_p: f64,
    /// Always take the most likely token.
    #[arg(long)]
    greedy: bool,
    /// Random seed (same seed, same sentences on the same device).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i64,
    /// Text every sentence starts with.
    #[arg(long)]
    prompt: Option<String>,
    /// Class label to generate under (a labelled run; without it, a labelled run's
    /// sentences cycle through its labels and are written `label<TAB>text`).
    #[arg(long, value_name = "NAME")]
    label: Option<String>,
    /// Source sentence to generate from (a run trained on a parallel corpus: a translation
    /// or a dialogue context); every sentence is drawn under it.
    #[arg(long, value_name = "TEXT")]
    source: Option<String>,
    /// Longest sentence in tokens (default: the run's maximum length).
    #[arg(long)]
    max_len: Option<usize>,
    /// Sentences per batch on the device.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Discriminator reranking (a run with a discriminator: adversarial, or from `textgan
    /// train-discriminator`): draw K times as many sentences and keep the ones the run's
    /// discriminator finds most likely real, best first.
    #[arg(long, value_name = "K", default_value_t = 1)]
    rerank: usize,
    /// Residual-energy sampling (Deng et al. 2020) with the run's discriminator: each sentence
    /// drawn from K of the generator's in proportion to exp(strength * logit D).
    #[arg(long, value_name = "K", conflicts_with = "rerank")]
    energy: Option<usize>,
    /// The energy's strength (0: plain sampling; 1: the density ratio of an optimal
    /// discriminator).
    #[arg(
        long,
        default_value_t = 1.0,
        requires = "energy",
        allow_negative_numbers = true
    )]
    strength: f64,
}

/// The request of the flags.
fn draw_of(a: &SampleArgs) -> Draw {
    Draw {
        n: a.n,
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        greedy: a.greedy,
        seed: Some(a.seed),
        prompt: a.prompt.clone().unwrap_or_default(),
        label: a.label.clone(),
        source: a.source.clone(),
        max_len: a.max_len,
        ..Default::default()
    }
}

/// `--rerank K`: the sentences the run's discriminator finds most likely real, best first;
/// `--energy K`: residual-energy sampling.
fn guided(a: &SampleArgs, engine: &Engine) -> Result<()> {
    let guide = match a.energy {
        Some(k) => Guide::Energy {
            k,
            strength: a.strength,
        },
        None => Guide::Rerank { k: a.rerank },
    };
    let draw = Draw {
        guide: Some(guide),
        ..draw_of(a)
    };
    let texts = draw.guided(engine).expect("the draw has a guide")?;
    let text: String = texts
        .iter()
        .map(|t| match (&t.label, &a.label) {
            (Some(l), None) => format!("{l}\t{}\n", t.text),
            _ => format!("{}\n", t.text),
        })
        .collect();
    match &a.output {
        Some(path) => textgan::fsutil::write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(())
}

/// A run trained on pairs needs `--source`, and only it takes one (said in the flags' words).
fn check_source(a: &SampleArgs, engine: &Engine) -> Result<()> {
    match (&a.source, engine.gen.config.data.is_parallel()) {
        (Some(_), false) => bail!("--source: this run was not trained on a parallel corpus; it generates without a source"),
        (None, true) => bail!("this run generates from a source sentence: give --source TEXT (or use `textgan translate`)"),
        (Some(s), true) if s.trim().is_empty() => bail!("--source is empty"),
        _ => Ok(()),
    }
}

/// Output lines: `label<TAB>text` when the labels are to be shown.
fn lines(
    vocab: &textgan::data::Vocab,
    seqs: &[Vec<i64>],
    conds: &[RowCond],
    shown: bool,
) -> String {
    seqs.iter()
        .zip(conds)
        .map(|(s, c)| match (c, shown) {
            (RowCond::Label(l), true) => {
                format!("{}\t{}\n", vocab.labels[*l as usize], vocab.decode(s))
            }
            _ => vocab.decode(s) + "\n",
        })
        .collect()
}

/// Says how many of the prompt's tokens the run's vocabulary reads as `<unk>`.
fn warn_unknown(vocab: &textgan::data::Vocab, prefix: &[i64]) {
    let unknown = prefix.iter().filter(|&&t| Some(t) == vocab.unk).count();
    if unknown > 0 {
        eprintln!(
            "warning: {unknown} of the prompt's {} tokens are not in the run's vocabulary and read as <unk>",
            prefix.len()
        );
    }
}

/// The sampling options of the flags.
fn sampling_of(a: &SampleArgs) -> Sampling {
    draw_of(a).sampling()
}

/// The arguments' ranges.
fn check(a: &SampleArgs) -> Result<()> {
    if a.n == 0 {
        bail!("-n must be at least 1");
    }
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    sampling_of(a).validate()?;
    let pool = a.energy.unwrap_or(a.rerank);
    if !(1..=1000).contains(&pool) || a.n.saturating_mul(pool) > 1_000_000 {
        bail!("--rerank and --energy must be in 1..=1000, and -n times them at most 1,000,000");
    }
    if !(a.strength.is_finite() && a.strength >= 0.0) {
        bail!(
            "--strength must be a finite number at least 0, got {}",
            a.strength
        );
    }
    Ok(())
}

pub fn run(a: SampleArgs) -> Result<()> {
    check(&a)?;
    let device = textgan::device::resolve(&a.device)?;
    let engine = Engine::load(&a.run, device)?;
    check_source(&a, &engine)?;
    if a.rerank > 1 || a.energy.is_some() {
        return guided(&a, &engine);
    }
    let p = engine.prepare(draw_of(&a))?;
    let vocab = &engine.gen.vocab;
    if p.source_cut > 0 {
        eprintln!("warning: the source was cut to the run's maximum source length");
    }
    warn_unknown(vocab, &p.prefix);
    let shown = a.label.is_none();
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        engine.sample_stream(&p, a.batch_size, |seqs, conds| {
            out.write_all(lines(vocab, seqs, conds, shown).as_bytes())
        })?;
        out.flush()
    };
    match &a.output {
        Some(path) => textgan::fsutil::write_atomic_with(path, write)?,
        None => match write(&mut std::io::BufWriter::new(std::io::stdout().lock())) {
            // A reader that has had enough (`| head`) is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r?,
        },
    }
    Ok(())
}
