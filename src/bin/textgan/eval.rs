//! `textgan eval`: the metrics of a sample file, or of samples drawn from a run's checkpoint.
use anyhow::{bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use textgan::data::{read_lines_with_blanks, Vocab};
use textgan::eval::bleu::Tokenize;
use textgan::eval::{report, Report};
pub use textgan::run::RunContext;
use textgan::run::{default_metrics, model_metrics, ModelInputs};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Generated sentences, one a line (default with --run: sample them from the checkpoint).
    #[arg(long, value_name = "FILE")]
    samples: Option<PathBuf>,
    /// Reference sentences for BLEU (default with --run: the run's test data).
    #[arg(long, value_name = "FILE")]
    references: Option<PathBuf>,
    /// Training sentences, for the fraction of copied samples (default with --run: its training data).
    #[arg(long, value_name = "FILE")]
    train: Option<PathBuf>,
    /// Comma-separated metrics (default: every one the inputs allow). See --list-metrics.
    #[arg(long, value_name = "LIST")]
    metrics: Option<String>,
    /// List the metric names and exit.
    #[arg(long)]
    list_metrics: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Run directory whose checkpoint is evaluated (model-based metrics, default samples and references).
    #[arg(long, value_name = "DIR")]
    run: Option<PathBuf>,
    /// Samples to draw from --run when --samples is not given.
    #[arg(short = 'n', long = "num", default_value_t = 10_000)]
    n: usize,
    /// Sampling temperature for --run.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    temperature: f64,
    /// Write the drawn samples to FILE.
    #[arg(long, value_name = "FILE")]
    save_samples: Option<PathBuf>,
    /// An MLE run trained on real data, for lm-score and reverse-lm.
    #[arg(long, value_name = "DIR")]
    lm_run: Option<PathBuf>,
    /// Epochs of training of the reverse language model on the samples.
    #[arg(long, default_value_t = 5)]
    reverse_epochs: usize,
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// A run trained on pairs: beam width for translating the test sources (default 1: greedy).
    #[arg(long)]
    beam: Option<i64>,
    #[command(flatten)]
    judge: crate::judge::JudgeArgs,
    /// The encoding of --samples, --references and --train.
    #[arg(long, value_name = "ENC", default_value = "utf-8", value_parser = ["utf-8", "latin-1", "windows-1252"])]
    encoding: String,
    /// How the text metrics cut sentences: whitespace, char, or (default) the run's tokenizer
    /// with --run and whitespace without.
    #[arg(long, value_name = "HOW", value_parser = ["whitespace", "char", "run"], default_value = "run")]
    tokenize: String,
}

/// Lines of a file for evaluation: blank lines are kept (an empty sample scores 0), but a file
/// with no non-blank line is an error.
pub fn eval_lines(path: &Path) -> Result<Vec<String>> {
    Ok(read_lines_with_blanks(path)?)
}

/// [`eval_lines`] of a file in `encoding` (`--encoding`): utf-8, latin-1 or windows-1252.
fn eval_lines_in(path: &Path, encoding: &str) -> Result<Vec<String>> {
    if encoding == "utf-8" {
        return read_lines_with_blanks(path).map_err(|e| match e {
            textgan::Error::NotUtf8 { path, line } => anyhow::anyhow!(
                "{}: line {line} is not valid UTF-8 (for Latin-1 or Windows-1252 text, give --encoding latin-1 or windows-1252)",
                path.display()
            ),
            e => e.into(),
        });
    }
    // Latin-1 is read as its superset Windows-1252 (as browsers do): every byte decodes.
    let bytes = std::fs::read(path).map_err(|e| textgan::Error::io(path, e))?;
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
    let lines: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    if lines.iter().all(String::is_empty) {
        return Err(textgan::Error::EmptyCorpus {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(lines)
}

/// Encodes sample lines in a run's vocabulary, refusing tokens it does not know.
fn encode_strict(vocab: &Vocab, lines: &[String], path: &Path) -> Result<Vec<Vec<i64>>> {
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let mut ids = Vec::new();
        for tok in textgan::data::tokenize(l, vocab.tokenizer) {
            match vocab.id(tok) {
                Some(id) => ids.push(id),
                None => bail!(
                    "{}: token `{tok}` on line {} is not in the run's vocabulary: the samples come from another vocabulary",
                    path.display(),
                    i + 1
                ),
            }
        }
        out.push(ids);
    }
    Ok(out)
}

/// Samples as text, and as ids in the run's vocabulary when there is a run.
type Samples = (Vec<String>, Option<Vec<Vec<i64>>>);

/// The samples: read from `--samples`, or drawn from the run.
fn samples_of(
    a: &EvalArgs,
    lines: Option<Vec<String>>,
    ctx: Option<&RunContext>,
) -> Result<Samples> {
    Ok(match (lines, ctx) {
        (Some(lines), Some(c)) => {
            let ids = encode_strict(&c.gen.vocab, &lines, a.samples.as_deref().unwrap())?;
            (lines, Some(ids))
        }
        (Some(lines), None) => (lines, None),
        (None, Some(c)) => {
            let ids = c.sample(a.n, a.temperature, a.seed);
            (c.decode_all(&ids), Some(ids))
        }
        (None, None) => bail!("give --samples FILE (with --references FILE for BLEU) or --run DIR"),
    })
}

/// The real-data LM of `--lm-run`, when a metric asks for one; metrics that need `--run`
/// are refused without it.
fn lm_run<'a>(
    a: &'a EvalArgs,
    metrics: &[String],
    has_run: bool,
    device: tch::Device,
) -> Result<Option<(RunContext, &'a Path)>> {
    if !has_run {
        if let Some(m) = metrics.iter().find(|m| m.starts_with("nll-")) {
            bail!("{m} needs --run DIR");
        }
    }
    let wanted = metrics.iter().any(|m| m == "lm-score" || m == "reverse-lm");
    Ok(match (&a.lm_run, wanted) {
        (Some(dir), true) => {
            let lm = RunContext::load(dir, device)?;
            if lm.corpus.is_labelled() || lm.corpus.sources.is_some() {
                bail!("--lm-run needs a language model of plain text; {} was trained on labelled text or pairs", dir.display());
            }
            Some((lm, dir.as_path()))
        }
        (None, true) => {
            bail!("lm-score and reverse-lm need --lm-run DIR (an MLE run on real data)")
        }
        _ => None,
    })
}

/// The lines of `--samples`, `--references` and `--train`, where given, in `--encoding`.
type Files = (
    Option<Vec<String>>,
    Option<Vec<String>>,
    Option<Vec<String>>,
);
fn read_files(a: &EvalArgs) -> Result<Files> {
    let read = |p: &Option<PathBuf>| -> Result<Option<Vec<String>>> {
        p.as_deref()
            .map(|p| eval_lines_in(p, &a.encoding))
            .transpose()
    };
    Ok((read(&a.samples)?, read(&a.references)?, read(&a.train)?))
}

/// `--beam` only where the evaluation translates: a run on pairs without `--samples`.
fn check_beam(a: &EvalArgs, ctx: Option<&RunContext>, given_samples: bool) -> Result<()> {
    let translates = ctx.is_some_and(|c| c.corpus.sources.is_some() && !given_samples);
    if a.beam.is_some() && !translates {
        bail!("--beam applies to a run trained on pairs (it translates the run's test sources); this evaluation samples: use --temperature");
    }
    Ok(())
}

/// The arguments' ranges.
fn check(a: &EvalArgs) -> Result<()> {
    if a.run.is_none() && a.samples.is_none() {
        bail!("give --samples FILE (with --references FILE for BLEU) or --run DIR");
    }
    textgan::models::Sampling {
        temperature: a.temperature,
        ..Default::default()
    }
    .validate()?;
    if a.n == 0 {
        bail!("-n must be at least 1");
    }
    Ok(())
}

fn list_metrics() -> Result<()> {
    for m in textgan::eval::Metric::ALL {
        println!("{:12} {}", m.name(), m.about());
    }
    Ok(())
}

pub fn run(a: EvalArgs) -> Result<()> {
    if a.list_metrics {
        return list_metrics();
    }
    let requested = a
        .metrics
        .as_deref()
        .map(report::parse_metrics)
        .transpose()?;
    check(&a)?;
    let device = textgan::device::resolve(&a.device)?;
    // Read the files first: a bad file fails before any model work.
    let (sample_lines, ref_lines, train_lines) = read_files(&a)?;
    let ctx = a
        .run
        .as_deref()
        .map(|d| RunContext::load(d, device))
        .transpose()?;

    check_beam(&a, ctx.as_ref(), sample_lines.is_some())?;
    if let Some(c) = ctx.as_ref().filter(|c| {
        c.corpus.is_labelled() || (c.corpus.sources.is_some() && sample_lines.is_none())
    }) {
        return match c.corpus.is_labelled() {
            true => eval_labelled(&a, c, sample_lines, requested, device),
            false => eval_translation(&a, c),
        };
    }
    let (samples, sample_ids) = samples_of(&a, sample_lines, ctx.as_ref())?;
    save_lines(a.save_samples.as_deref(), &samples)?;
    let oracle_run = ctx.as_ref().is_some_and(RunContext::is_oracle);
    let run_refs = ctx
        .as_ref()
        .filter(|_| !oracle_run)
        .map(RunContext::test_lines);
    let run_train = ctx
        .as_ref()
        .filter(|_| !oracle_run)
        .map(RunContext::train_lines);
    let references = ref_lines.or(run_refs).filter(|r| !r.is_empty());
    let train = train_lines.or(run_train);

    let metrics: Vec<String> = match requested {
        Some(m) => m,
        None => default_metrics(
            references.is_some(),
            train.is_some(),
            ctx.is_some(),
            oracle_run,
            ctx.as_ref().is_some_and(|c| c.grammar.is_some()),
            a.lm_run.is_some(),
        ),
    };
    let mut rep = Report::default();
    let mode = match (a.tokenize.as_str(), &ctx) {
        ("char", _) => Tokenize::Chars,
        ("run", Some(c)) => Tokenize::of(c.gen.vocab.tokenizer),
        _ => Tokenize::Whitespace,
    };
    report::text_metrics(
        &mut rep,
        &metrics,
        &samples,
        references.as_deref(),
        train.as_deref(),
        mode,
    )?;
    let lm_ctx = lm_run(&a, &metrics, ctx.is_some(), device)?;
    let inputs = ModelInputs {
        run: ctx.as_ref(),
        samples: &samples,
        sample_ids: sample_ids.as_deref(),
        lm: lm_ctx.as_ref().map(|(c, d)| (c, *d)),
        reverse_epochs: a.reverse_epochs,
        device,
    };
    model_metrics(&mut rep, &metrics, &inputs)?;
    let texts = (samples.as_slice(), references.as_deref(), train.as_deref());
    crate::judge::judge(&a.judge, &mut rep, &metrics, texts, device)?;
    print_report(&a, &rep, samples.len(), references.as_ref().map(Vec::len));
    Ok(())
}

/// A labelled run: every figure per class (BLEU against the class's own test sentences, label
/// accuracy by a classifier trained on the real data), then the run-wide ones.
fn eval_labelled(
    a: &EvalArgs,
    c: &RunContext,
    lines: Option<Vec<String>>,
    requested: Option<Vec<String>>,
    device: tch::Device,
) -> Result<()> {
    let k = c.gen.vocab.labels.len();
    let s = match lines {
        Some(lines) => c.read_labelled(&lines)?,
        None => c.sample_classes(a.n.div_ceil(k), a.temperature, a.seed),
    };
    if let Some(path) = &a.save_samples {
        let v = &c.gen.vocab;
        let text: String = (s.text.iter().zip(&s.labels))
            .map(|(t, &l)| format!("{}\t{t}\n", v.labels[l as usize]))
            .collect();
        textgan::fsutil::write_atomic(path, text.as_bytes())?;
    }
    let mode = match a.tokenize.as_str() {
        "char" => Tokenize::Chars,
        "whitespace" => Tokenize::Whitespace,
        _ => Tokenize::of(c.gen.vocab.tokenizer),
    };
    let mut rep = Report::default();
    textgan::run::class_metrics(&mut rep, c, &s, mode, device)?;
    let rest: Vec<String> = ["distinct", "length", "copied", "nll-test", "nll-train"]
        .into_iter()
        .map(String::from)
        .filter(|m| requested.as_ref().is_none_or(|r| r.contains(m)))
        .collect();
    let train = c.train_lines();
    report::text_metrics(&mut rep, &rest, &s.text, None, Some(&train), mode)?;
    let inputs = ModelInputs {
        run: Some(c),
        samples: &s.text,
        sample_ids: Some(&s.ids),
        lm: None,
        reverse_epochs: a.reverse_epochs,
        device,
    };
    model_metrics(&mut rep, &rest, &inputs)?;
    print_report(a, &rep, s.text.len(), Some(c.corpus.test.len()));
    Ok(())
}

/// A run trained on pairs: its translations of the first `-n` test sources (greedy, or beam
/// search with `--beam`), scored by sacreBLEU and chrF against their references, with the
/// test NLL.
fn eval_translation(a: &EvalArgs, c: &RunContext) -> Result<()> {
    let beam = a.beam.unwrap_or(1);
    if !(1..=256).contains(&beam) {
        bail!("--beam must be in 1..=256, got {beam}");
    }
    let src = &c.corpus.sources.as_ref().expect("a run on pairs").test;
    let n = a.n.min(src.len());
    let tr = textgan::run::Translator::new(&c.gen)?;
    let how = textgan::run::Decode::search(beam, 1.0);
    let hyps = tr.translate(&src[..n], &how, 0, 64);
    if let Some(path) = &a.save_samples {
        let text: String = hyps.iter().map(|s| format!("{s}\n")).collect();
        textgan::fsutil::write_atomic(path, text.as_bytes())?;
    }
    let mut rep = Report::default();
    let refs = c.corpus.test_text[..n].to_vec();
    let metrics: Vec<String> = ["sacrebleu", "chrf", "length"].map(String::from).to_vec();
    let mode = Tokenize::of(c.gen.vocab.tokenizer);
    report::text_metrics(&mut rep, &metrics, &hyps, Some(&refs), None, mode)?;
    let inputs = ModelInputs {
        run: Some(c),
        samples: &hyps,
        sample_ids: None,
        lm: None,
        reverse_epochs: a.reverse_epochs,
        device: c.gen.model.device(),
    };
    model_metrics(&mut rep, &["nll-test".to_string()], &inputs)?;
    print_report(a, &rep, n, Some(n));
    Ok(())
}

/// Writes `lines` to `path`, one a line, when a path is given (`--save-samples`).
fn save_lines(path: Option<&Path>, lines: &[String]) -> Result<()> {
    if let Some(path) = path {
        let text: String = lines.iter().map(|s| format!("{s}\n")).collect();
        textgan::fsutil::write_atomic(path, text.as_bytes())?;
    }
    Ok(())
}

/// The report as a table, or one JSON object with `--json`.
fn print_report(a: &EvalArgs, rep: &Report, samples: usize, references: Option<usize>) {
    if a.json {
        let mut j = rep.to_json();
        j["samples"] = serde_json::json!(samples);
        j["references"] = serde_json::json!(references);
        println!("{j}");
    } else {
        print!("{}", rep.table());
    }
}
