//! `textgan eval`: the metrics of a sample file, or of samples drawn from a run's checkpoint.
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};
use textgan::checkpoint::LoadedGenerator;
use textgan::config::DataSource;
use textgan::data::{read_lines_with_blanks, Corpus, Vocab};
use textgan::eval::{self, lm, report, Report};
use textgan::models::{generate, GenerateSpec, Oracle, Sampling};

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
    #[arg(long, default_value_t = 1.0)]
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
    #[arg(long, default_value_t = 0)]
    seed: i64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Lines of a file for evaluation: blank lines are kept (an empty sample scores 0), but a file
/// with no non-blank line is an error.
pub fn eval_lines(path: &Path) -> Result<Vec<String>> {
    Ok(read_lines_with_blanks(path)?)
}

/// Everything a run contributes: its generator, its data (for references and NLLs), its oracle.
pub struct RunContext {
    pub gen: LoadedGenerator,
    pub corpus: Corpus,
    pub oracle: Option<Oracle>,
}

impl RunContext {
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let gen = LoadedGenerator::load(dir, device)?;
        let (corpus, oracle) =
            textgan::train::load_data(&gen.config, device).context("reloading the run's data")?;
        if corpus.vocab != gen.vocab {
            bail!("the run's training data changed since it was trained (its vocabulary differs)");
        }
        Ok(RunContext {
            gen,
            corpus,
            oracle,
        })
    }

    pub fn is_oracle(&self) -> bool {
        self.gen.config.data.source == DataSource::Oracle
    }

    /// `n` samples at `temperature`, as id sequences.
    pub fn sample(&self, n: usize, temperature: f64, seed: i64) -> Vec<Vec<i64>> {
        tch::manual_seed(seed);
        let v = &self.gen.vocab;
        let spec = GenerateSpec {
            count: n,
            max_len: self.gen.max_len,
            batch_size: 1000,
            bos: v.bos,
            eos: v.eos,
            banned: v.never_generated(),
            prefix: vec![],
        };
        let sampling = Sampling {
            temperature,
            ..Default::default()
        };
        generate(
            self.gen.model.net.as_ref(),
            &spec,
            &sampling,
            self.gen.model.device(),
        )
    }

    /// The run's test sentences as written (decoded ids where there is no text: the oracle).
    pub fn test_lines(&self) -> Vec<String> {
        match self.corpus.test_text.is_empty() {
            true => self.decode_all(&self.corpus.test),
            false => self.corpus.test_text.clone(),
        }
    }

    /// The run's training sentences as written.
    pub fn train_lines(&self) -> Vec<String> {
        match self.corpus.train_text.is_empty() {
            true => self.decode_all(&self.corpus.train),
            false => self.corpus.train_text.clone(),
        }
    }

    pub fn decode_all(&self, seqs: &[Vec<i64>]) -> Vec<String> {
        seqs.iter().map(|s| self.gen.vocab.decode(s)).collect()
    }

    /// NLL-oracle of id sequences (fixed length).
    pub fn nll_oracle(&self, seqs: &[Vec<i64>]) -> Option<f64> {
        let oracle = self.oracle.as_ref()?;
        let len = seqs.first()?.len();
        if len == 0 || seqs.iter().any(|s| s.len() != len) {
            return None;
        }
        Some(oracle.nll(&Tensor::from_slice(&seqs.concat()).view([seqs.len() as i64, len as i64])))
    }

    /// Test NLL of the run's generator at `temperature`.
    pub fn nll_test(&self, temperature: f64) -> f64 {
        let m = &self.gen.model;
        eval::corpus_nll(
            m.net.as_ref(),
            &self.corpus.test,
            &self.gen.vocab,
            256,
            temperature,
            m.device(),
        )
    }
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

pub fn run(a: EvalArgs) -> Result<()> {
    if a.list_metrics {
        for (n, d) in report::METRIC_NAMES {
            println!("{n:12} {d}");
        }
        return Ok(());
    }
    let requested = a
        .metrics
        .as_deref()
        .map(report::parse_metrics)
        .transpose()?;
    if a.run.is_none() && a.samples.is_none() {
        bail!("give --samples FILE (with --references FILE for BLEU) or --run DIR");
    }
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        bail!("--temperature must be positive, got {}", a.temperature);
    }
    if a.n == 0 {
        bail!("-n must be at least 1");
    }
    let device = textgan::device::resolve(&a.device)?;
    // Read the files first: a bad file fails before any model work.
    let sample_lines = a.samples.as_deref().map(eval_lines).transpose()?;
    let ref_lines = a.references.as_deref().map(eval_lines).transpose()?;
    let train_lines = a.train.as_deref().map(eval_lines).transpose()?;
    let ctx = a
        .run
        .as_deref()
        .map(|d| RunContext::load(d, device))
        .transpose()?;

    let (samples, sample_ids): (Vec<String>, Option<Vec<Vec<i64>>>) = match (&sample_lines, &ctx) {
        (Some(lines), Some(c)) => (
            lines.clone(),
            Some(encode_strict(
                &c.gen.vocab,
                lines,
                a.samples.as_deref().unwrap(),
            )?),
        ),
        (Some(lines), None) => (lines.clone(), None),
        (None, Some(c)) => {
            let ids = c.sample(a.n, a.temperature, a.seed);
            (c.decode_all(&ids), Some(ids))
        }
        (None, None) => unreachable!("checked above"),
    };
    if let Some(path) = &a.save_samples {
        let text: String = samples.iter().map(|s| format!("{s}\n")).collect();
        textgan::fsutil::write_atomic(path, text.as_bytes())?;
    }
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
        None => {
            let mut m: Vec<&str> = Vec::new();
            if references.is_some() {
                m.push("bleu");
            }
            m.extend(["self-bleu", "distinct", "length"]);
            if train.is_some() {
                m.push("copied");
            }
            if ctx.is_some() {
                m.extend(["nll-test", "nll-train"]);
            }
            if oracle_run {
                m.push("nll-oracle");
            }
            if a.lm_run.is_some() {
                m.extend(["lm-score", "reverse-lm"]);
            }
            m.into_iter().map(String::from).collect()
        }
    };

    let mut rep = Report::default();
    report::text_metrics(
        &mut rep,
        &metrics,
        &samples,
        references.as_deref(),
        train.as_deref(),
    )?;
    for m in &metrics {
        let need_run = || ctx.as_ref().with_context(|| format!("{m} needs --run"));
        match m.as_str() {
            "nll-test" => {
                let c = need_run()?;
                let proto = format!(
                    "generator NLL per token (nats, <eos> counted) on {} test sequences",
                    c.corpus.test.len()
                );
                rep.push(m, c.nll_test(1.0), proto);
            }
            "nll-train" => {
                let c = need_run()?;
                let g = &c.gen.model;
                let v = eval::corpus_nll(
                    g.net.as_ref(),
                    &c.corpus.train,
                    &c.gen.vocab,
                    256,
                    1.0,
                    g.device(),
                );
                let proto = format!("generator NLL per token on the {} training sequences (what older toolkits call NLL-gen)", c.corpus.train.len());
                rep.push(m, v, proto);
            }
            "nll-oracle" => {
                let c = need_run()?;
                let ids = sample_ids
                    .as_ref()
                    .context("nll-oracle needs samples in the run's vocabulary")?;
                let v = c
                    .nll_oracle(ids)
                    .context("nll-oracle needs an oracle run and fixed-length samples")?;
                rep.push(
                    m,
                    v,
                    format!(
                        "oracle NLL per token of {} generated sequences (SeqGAN protocol)",
                        ids.len()
                    ),
                );
            }
            "lm-score" | "reverse-lm" => {
                let lm_dir = a
                    .lm_run
                    .as_deref()
                    .with_context(|| format!("{m} needs --lm-run DIR (an MLE run on real data)"))?;
                let lm_ctx = RunContext::load(lm_dir, device)?;
                let v = &lm_ctx.gen.vocab;
                let encoded: Vec<Vec<i64>> = samples
                    .iter()
                    .map(|s| v.encode(s))
                    .collect::<textgan::Result<_>>()?;
                if m == "lm-score" {
                    let proto = format!(
                        "NLL per token of {} samples under the LM of {}",
                        samples.len(),
                        lm_dir.display()
                    );
                    rep.push(m, lm::lm_score(&lm_ctx.gen.model, v, &encoded), proto);
                } else {
                    let non_empty: Vec<Vec<i64>> =
                        encoded.into_iter().filter(|s| !s.is_empty()).collect();
                    let cfg = &lm_ctx.gen.config;
                    let model = lm::fit_lm(
                        &cfg.generator,
                        &cfg.train,
                        v,
                        lm_ctx.gen.max_len,
                        &non_empty,
                        a.reverse_epochs,
                        device,
                    );
                    let proto = format!(
                        "NLL per token of {} real test sequences under a fresh {} LM trained {} epochs on the samples",
                        lm_ctx.corpus.test.len(),
                        lm_dir.display(),
                        a.reverse_epochs
                    );
                    rep.push(m, lm::lm_score(&model, v, &lm_ctx.corpus.test), proto);
                }
            }
            _ => {}
        }
    }
    if a.json {
        let mut j = rep.to_json();
        j["samples"] = serde_json::json!(samples.len());
        j["references"] = serde_json::json!(references.as_ref().map(Vec::len));
        println!("{j}");
    } else {
        print!("{}", rep.table());
    }
    Ok(())
}
