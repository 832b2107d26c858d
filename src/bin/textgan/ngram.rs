//! `textgan ngram`: the founding article's n-gram language model as a baseline generator: a
//! modified Kneser-Ney model of a text file (as KenLM's `lmplz`), written as an ARPA file and
//! sampled at a temperature; `textgan eval` then scores its samples as any run's.
use anyhow::Result;
use clap::Args;
use rand::SeedableRng;
use std::path::PathBuf;
use textgan::eval::ngram::NgramLm;

#[derive(Args, Debug)]
pub struct NgramArgs {
    /// Training text, one sentence a line (whitespace tokens).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// The model's order (1 to 9).
    #[arg(long, default_value_t = 5)]
    order: usize,
    /// Write the model as an ARPA file (KenLM and SRILM read it).
    #[arg(long, value_name = "FILE")]
    save_arpa: Option<PathBuf>,
    /// Sentences to sample (0: none).
    #[arg(short = 'n', long = "num", default_value_t = 0)]
    n: usize,
    /// Sampling temperature: p(w | context)^(1/T), renormalised.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    temperature: f64,
    /// Longest sample, in words.
    #[arg(long, default_value_t = 50)]
    max_len: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the samples to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Per-token perplexity of the sentences of FILE under the model, printed to stderr.
    #[arg(long, value_name = "FILE")]
    test: Option<PathBuf>,
}

pub fn run(a: NgramArgs) -> Result<()> {
    // Every command's one rule for sampling options.
    textgan::models::Sampling {
        temperature: a.temperature,
        ..Default::default()
    }
    .validate()
    .map_err(|e| anyhow::anyhow!("--temperature: {e}"))?;
    let text = textgan::data::read_lines(&a.data)?;
    let test = a
        .test
        .as_deref()
        .map(textgan::data::read_lines)
        .transpose()?;
    let t0 = std::time::Instant::now();
    let lm = NgramLm::estimate(&text, a.order)?;
    let tokens: usize = text.iter().map(|l| l.split_whitespace().count() + 1).sum();
    let secs = t0.elapsed().as_secs_f64();
    let fallback = lm.discounts.iter().any(|d| d.1);
    eprintln!(
        "order {} model of {} lines ({tokens} tokens) in {secs:.2} s ({:.0} tokens/s); n-grams {:?}{}",
        a.order,
        text.len(),
        tokens as f64 / secs.max(1e-9),
        lm.sizes(),
        if fallback { "; discount fallback used at some order (too few singletons or doubletons)" } else { "" }
    );
    if let Some(p) = &a.save_arpa {
        textgan::fsutil::write_atomic(p, lm.to_arpa().as_bytes())?;
    }
    if let Some(t) = &test {
        eprintln!(
            "test perplexity: {:.4} per token ({} lines)",
            lm.perplexity(t),
            t.len()
        );
    }
    if a.n > 0 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
        let s = lm.sample(a.n, (a.temperature, a.max_len), &mut rng);
        let out: String = s.iter().map(|l| format!("{l}\n")).collect();
        match &a.output {
            Some(p) => textgan::fsutil::write_atomic(p, out.as_bytes())?,
            None => print!("{out}"),
        }
    }
    Ok(())
}
