//! `textgan sample`: sentences from a run's checkpoint, one a line.
use anyhow::{bail, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use textgan::models::{generate, Condition, GenerateSpec, Sampling};
use textgan::run::{SourceStats, Translator};

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
    /// Discriminator reranking (adversarial runs): draw K times as many sentences and keep
    /// the ones the run's discriminator finds most likely real, best first.
    #[arg(long, value_name = "K", default_value_t = 1)]
    rerank: usize,
}

/// `--rerank K`: the sentences through the serving engine, which holds the discriminator.
fn reranked(a: &SampleArgs, device: tch::Device) -> Result<()> {
    let engine = textgan::serve::Engine::load(&a.run, device)?;
    let draw = textgan::serve::Draw {
        n: a.n,
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        greedy: a.greedy,
        seed: Some(a.seed),
        prompt: a.prompt.clone().unwrap_or_default(),
        label: a.label.clone(),
        source: a.source.clone(),
        max_tokens: a.max_len,
        ..Default::default()
    };
    let texts = engine.rerank(draw, a.rerank)?;
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

/// The encoded `--source` of a run trained on pairs, which needs one (and only it takes one).
fn source_ids<'a>(
    a: &SampleArgs,
    loaded: &'a textgan::checkpoint::LoadedGenerator,
) -> Result<Option<(Translator<'a>, Vec<i64>)>> {
    let parallel = loaded.config.data.is_parallel();
    match (&a.source, parallel) {
        (None, false) => Ok(None),
        (Some(_), false) => bail!("--source: this run was not trained on a parallel corpus; it generates without a source"),
        (None, true) => bail!("this run generates from a source sentence: give --source TEXT (or use `textgan translate`)"),
        (Some(s), true) => {
            let tr = Translator::new(loaded)?;
            let mut stats = SourceStats::default();
            let ids = tr.encode(s, &mut stats)?;
            if ids.is_empty() {
                bail!("--source is empty");
            }
            if stats.truncated > 0 {
                eprintln!("warning: the source was cut to the run's maximum source length ({} tokens)", ids.len());
            }
            Ok(Some((tr, ids)))
        }
    }
}

/// The labels of sentences `done .. done + count` of a request: `label` for all, or (a
/// labelled run without `--label`) cycling through the run's `classes`; none for an
/// unlabelled run.
fn labels_of(label: Option<i64>, classes: usize, done: usize, count: usize) -> Vec<i64> {
    match label {
        Some(l) => vec![l; count],
        None if classes > 0 => (done..done + count).map(|i| (i % classes) as i64).collect(),
        None => vec![],
    }
}

/// Output lines: `label<TAB>text` when the labels are to be shown (and there are some).
fn lines(vocab: &textgan::data::Vocab, seqs: &[Vec<i64>], shown: Option<&[i64]>) -> String {
    match shown.filter(|l| !l.is_empty()) {
        Some(labels) => seqs
            .iter()
            .zip(labels)
            .map(|(s, &l)| format!("{}\t{}\n", vocab.labels[l as usize], vocab.decode(s)))
            .collect(),
        None => seqs.iter().map(|s| vocab.decode(s) + "\n").collect(),
    }
}

/// Sentences generated and written at a time: the output streams, so `-n` is bounded by the
/// disk, not by memory. A multiple of any `--batch-size` that divides it keeps the draws the
/// same as one call would make.
const CHUNK_BATCHES: usize = 64;

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
    Sampling {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        greedy: a.greedy,
    }
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
    if !(1..=1000).contains(&a.rerank) || a.n.saturating_mul(a.rerank) > 1_000_000 {
        bail!("--rerank must be in 1..=1000, and -n times it at most 1,000,000");
    }
    Ok(())
}

pub fn run(a: SampleArgs) -> Result<()> {
    check(&a)?;
    let device = textgan::device::resolve(&a.device)?;
    if a.rerank > 1 {
        return reranked(&a, device);
    }
    let loaded = textgan::checkpoint::LoadedGenerator::load(&a.run, device)?;
    let vocab = &loaded.vocab;
    let label = a.label.as_deref().map(|l| vocab.label_id(l)).transpose()?;
    let source = source_ids(&a, &loaded)?;
    let prefix = match &a.prompt {
        Some(p) => vocab.encode(p)?,
        None => vec![],
    };
    warn_unknown(vocab, &prefix);
    let limit = loaded.max_len;
    let max_len = a.max_len.unwrap_or(limit);
    if max_len == 0 || max_len > textgan::data::MAX_SEQ_LEN {
        bail!("--max-len must be in 1..={}", textgan::data::MAX_SEQ_LEN);
    }
    if let Some(bound) = loaded.model.net.max_len() {
        if max_len as i64 > bound {
            bail!("--max-len {max_len} exceeds the model's {bound} positions");
        }
    }
    if prefix.len() >= max_len {
        bail!(
            "the prompt has {} tokens, the maximum length is {max_len}",
            prefix.len()
        );
    }
    tch::manual_seed(a.seed);
    let spec = GenerateSpec {
        count: a.n,
        max_len,
        batch_size: a.batch_size,
        bos: vocab.bos,
        eos: vocab.eos,
        banned: vocab.never_generated(),
        prefix,
        cond: Default::default(),
    };
    let sampling = sampling_of(&a);
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        let chunk = spec.batch_size.saturating_mul(CHUNK_BATCHES);
        let mut part = spec;
        let mut left = a.n;
        let classes = vocab.labels.len();
        while left > 0 {
            part.count = left.min(chunk);
            let labels = labels_of(label, classes, a.n - left, part.count);
            part.cond = match (&source, labels.is_empty()) {
                (Some((tr, ids)), _) => tr.condition_for(ids, part.count),
                (None, true) => Condition::None,
                (None, false) => {
                    Condition::Label(tch::Tensor::from_slice(&labels).to_device(device))
                }
            };
            let seqs = generate(loaded.model.net.as_ref(), &part, &sampling, device);
            let text = lines(vocab, &seqs, label.is_none().then_some(&labels[..]));
            out.write_all(text.as_bytes())?;
            left -= part.count;
        }
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
