//! `textgan augment`: more labelled rows from labelled text, by EDA's edits, back-translation
//! or a label-conditional run, written as `label<TAB>text` lines for `classify train --augment`.
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use textgan::augment::eda::Eda;
use textgan::augment::synonyms::{Candidates, NeighbourSettings, Synonyms};
use textgan::augment::{Augmented, Report};
use textgan::classify::data;
use textgan::data::Lines;
use textgan::models::Sampling;

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum Method {
    /// EDA: synonym replacement, random insertion, random swap, random deletion.
    Eda,
    /// Through a translation run into a pivot language and back through another.
    Backtranslate,
    /// New rows from a label-conditional run, optionally filtered by a classifier.
    Generate,
}

#[derive(Args, Debug)]
#[command(after_help = "\
Synonyms (EDA) are not WordNet's, which this program does not ship: they are the nearest \
neighbours of a word among the whole words of a sentence encoder's vocabulary \
(all-MiniLM-L6-v2 by default, `textgan data get minilm`), each embedded as a one-word text, \
with forms of the same word (movie/movies) left out. Stop words are never replaced.

Only new rows are written: rows equal to their source, to an input row or to a row already \
written are dropped and counted. The output file is written whole or not at all.")]
pub struct AugmentArgs {
    /// eda, backtranslate or generate.
    #[arg(long)]
    method: Method,
    /// Labelled text (`label<TAB>text`, GAN-BERT's `LABEL text` under a header, or a folder of
    /// one file per class).
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// The new rows, as `label<TAB>text` lines.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// New rows per input row, 1 to 64 (default: 4; 1 for backtranslate, as many as asked
    /// when it samples).
    #[arg(long)]
    per_example: Option<usize>,
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i64,
    /// EDA: share of words replaced by synonyms.
    #[arg(long, default_value_t = 0.1)]
    alpha_sr: f64,
    /// EDA: share of words inserted (synonyms of words in the sentence).
    #[arg(long, default_value_t = 0.1)]
    alpha_ri: f64,
    /// EDA: share of words swapped.
    #[arg(long, default_value_t = 0.1)]
    alpha_rs: f64,
    /// EDA: probability of deleting each word.
    #[arg(long, default_value_t = 0.1)]
    p_rd: f64,
    /// EDA: the sentence encoder whose neighbours are synonyms (default: the data directory's
    /// minilm).
    #[arg(long, value_name = "DIR")]
    encoder: Option<PathBuf>,
    /// EDA: synonyms per word at most.
    #[arg(long, default_value_t = 5)]
    neighbours: usize,
    /// EDA: cosine similarity a synonym needs at least.
    #[arg(long, default_value_t = 0.5)]
    min_similarity: f64,
    /// EDA: also write the synonyms used, `word<TAB>synonym synonym ...` per line.
    #[arg(long, value_name = "FILE")]
    write_synonyms: Option<PathBuf>,
    /// backtranslate: the run from the data's language into the pivot.
    #[arg(long, value_name = "RUN")]
    forward: Option<PathBuf>,
    /// backtranslate: the run from the pivot back.
    #[arg(long, value_name = "RUN")]
    backward: Option<PathBuf>,
    /// backtranslate: beam width (1: greedy); ignored with --temperature.
    #[arg(long, default_value_t = 1)]
    beam: i64,
    /// Sample at this temperature (backtranslate: both ways, for several rows per input row;
    /// generate: default 1).
    #[arg(long)]
    temperature: Option<f64>,
    /// generate: a label-conditional run trained on the data's labels.
    #[arg(long, value_name = "RUN")]
    run: Option<PathBuf>,
    /// generate: keep only rows this classifier run labels as intended.
    #[arg(long, value_name = "CLASSIFIER")]
    filter_run: Option<PathBuf>,
    /// generate: the probability the filter must give the intended label at least.
    #[arg(long, default_value_t = 0.0, requires = "filter_run")]
    min_prob: f64,
    /// Sources per batch on the device (backtranslate).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// The options of one method refused with another, and the ones it needs.
fn check_options(a: &AugmentArgs) -> Result<()> {
    let given = |name: &str, set: bool| set.then(|| name.to_string());
    let bt = [
        given("--forward", a.forward.is_some()),
        given("--backward", a.backward.is_some()),
        given("--beam", a.beam != 1),
    ];
    let gen = [
        given("--run", a.run.is_some()),
        given("--filter-run", a.filter_run.is_some()),
    ];
    let eda = [
        given("--encoder", a.encoder.is_some()),
        given("--write-synonyms", a.write_synonyms.is_some()),
    ];
    let foreign: Vec<String> = match a.method {
        Method::Eda => bt.into_iter().chain(gen).flatten().collect(),
        Method::Backtranslate => eda.into_iter().chain(gen).flatten().collect(),
        Method::Generate => eda.into_iter().chain(bt).flatten().collect(),
    };
    if let Some(f) = foreign.first() {
        bail!("{f} does not apply to --method {:?}", a.method);
    }
    match a.method {
        Method::Backtranslate if a.forward.is_none() || a.backward.is_none() => {
            bail!("--method backtranslate needs --forward RUN and --backward RUN (two translation runs)")
        }
        Method::Generate if a.run.is_none() => {
            bail!("--method generate needs --run RUN (a label-conditional run)")
        }
        _ => Ok(()),
    }
}

pub fn run(a: AugmentArgs) -> Result<()> {
    check_options(&a)?;
    let per = match (a.method, a.temperature) {
        (Method::Backtranslate, None) => 1,
        _ => 4,
    };
    let n = a.per_example.unwrap_or(per);
    textgan::augment::check_per_example(n)?;
    if a.out.is_dir() {
        bail!("--out {}: a directory; give a file name", a.out.display());
    }
    let input = data::read_labelled(&a.input)?;
    let device = textgan::device::resolve(&a.device)?;
    let start = std::time::Instant::now();
    let out = match a.method {
        Method::Eda => eda(&a, &input, n, device)?,
        Method::Backtranslate => backtranslate(&a, &input, n, device)?,
        Method::Generate => generate(&a, &input, n, device)?,
    };
    textgan::augment::write_tab(&a.out, &out.lines)?;
    summary(&out.report, input.text.len(), start.elapsed().as_secs_f64());
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

fn summary(r: &Report, rows: usize, seconds: f64) {
    let mut skipped = Vec::new();
    for (n, what) in [
        (r.unchanged, "unchanged"),
        (r.duplicates, "duplicates of input or earlier rows"),
        (r.filtered, "refused by the filter"),
        (r.empty, "empty"),
        (r.unknown, "with <unk>"),
    ] {
        if n > 0 {
            skipped.push(format!("{n} {what}"));
        }
    }
    let skipped = match skipped.is_empty() {
        true => String::new(),
        false => format!("; skipped {}", skipped.join(", ")),
    };
    eprintln!(
        "{} new rows from {rows} input rows in {seconds:.1} s{skipped}",
        r.written
    );
}

/// The synonyms of the words of `lines` from `encoder` (default: the data directory's minilm).
pub fn synonyms(
    lines: &Lines,
    encoder: Option<&Path>,
    settings: &NeighbourSettings,
    device: tch::Device,
) -> Result<Synonyms> {
    let dir = match encoder {
        Some(d) => d.to_path_buf(),
        None => textgan::datasets::set("minilm")?.locate()?,
    };
    let start = std::time::Instant::now();
    let enc = textgan::eval::encoder::SentenceEncoder::load(&dir, device)?;
    let words = textgan::augment::replaceable_words(lines);
    let bar = crate::progress::bar(0, "synonyms");
    let cache = textgan::datasets::cache_dir().join("synonyms");
    let mut tick = |k: usize| bar.inc(k as u64);
    let candidates = Candidates::cached(&enc, &cache, &mut tick)?;
    let syn = Synonyms::from_encoder(&enc, &candidates, &words, settings, &mut tick)?;
    bar.finish_and_clear();
    eprintln!(
        "synonyms for {} of {} words from {} in {:.1} s",
        syn.len(),
        words.len(),
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(syn)
}

fn eda(a: &AugmentArgs, input: &Lines, n: usize, device: tch::Device) -> Result<Augmented> {
    let settings = Eda {
        alpha_sr: a.alpha_sr,
        alpha_ri: a.alpha_ri,
        alpha_rs: a.alpha_rs,
        p_rd: a.p_rd,
    };
    settings.validate().map_err(anyhow::Error::msg)?;
    let ns = NeighbourSettings {
        k: a.neighbours,
        min_similarity: a.min_similarity,
    };
    let syn = match a.alpha_sr > 0.0 || a.alpha_ri > 0.0 {
        true => synonyms(input, a.encoder.as_deref(), &ns, device)?,
        false => Synonyms::default(),
    };
    if let Some(p) = &a.write_synonyms {
        textgan::fsutil::write_atomic(p, syn.to_tsv().as_bytes())?;
    }
    let bar = crate::progress::bar(input.text.len() as u64, "eda");
    let out = textgan::augment::eda(input, n, &settings, &syn, a.seed as u64, &mut |k| {
        bar.inc(k as u64)
    })?;
    bar.finish_and_clear();
    Ok(out)
}

/// EDA as `classify train --augment eda` runs it: the paper's settings for small data (every
/// strength 0.05), `n` rows per labelled row.
pub fn eda_small(labelled: &Lines, n: usize, seed: i64, device: tch::Device) -> Result<Lines> {
    let settings = Eda {
        alpha_sr: 0.05,
        alpha_ri: 0.05,
        alpha_rs: 0.05,
        p_rd: 0.05,
    };
    let start = std::time::Instant::now();
    let syn = synonyms(labelled, None, &NeighbourSettings::default(), device)?;
    let out = textgan::augment::eda(labelled, n, &settings, &syn, seed as u64, &mut |_| {})?;
    let seconds = start.elapsed().as_secs_f64();
    summary(&out.report, labelled.text.len(), seconds);
    Ok(out.lines)
}

fn backtranslate(
    a: &AugmentArgs,
    input: &Lines,
    n: usize,
    device: tch::Device,
) -> Result<Augmented> {
    use textgan::checkpoint::LoadedGenerator;
    let how = match a.temperature {
        Some(temperature) => {
            let s = Sampling {
                temperature,
                ..Default::default()
            };
            s.validate()?;
            textgan::run::Decode::Sample(s)
        }
        None if (1..=256).contains(&a.beam) => textgan::run::Decode::search(a.beam, 1.0),
        None => bail!("--beam must be in 1..=256, got {}", a.beam),
    };
    let fwd = LoadedGenerator::load(a.forward.as_deref().expect("checked"), device)?;
    let bwd = LoadedGenerator::load(a.backward.as_deref().expect("checked"), device)?;
    let bt = textgan::augment::backtranslate::BackTranslation::new(&fwd, &bwd, how, a.batch_size)?;
    let bar = crate::progress::bar(input.text.len() as u64, "back-translating");
    let (out, stats) = bt.augment(input, n, a.seed, &mut |k| bar.inc(k as u64))?;
    bar.finish_and_clear();
    for (side, s) in [("forward", stats.forward), ("backward", stats.backward)] {
        if s.unknown > 0 {
            eprintln!(
                "note: {} source tokens unknown to the {side} run",
                s.unknown
            );
        }
    }
    Ok(out)
}

fn generate(a: &AugmentArgs, input: &Lines, n: usize, device: tch::Device) -> Result<Augmented> {
    let run =
        textgan::checkpoint::LoadedGenerator::load(a.run.as_deref().expect("checked"), device)?;
    let classifier = match &a.filter_run {
        Some(dir) => Some(textgan::classify::Classifier::load(dir, device)?),
        None => None,
    };
    let filter = classifier
        .as_ref()
        .map(|c| textgan::augment::generate::Filter {
            classifier: c,
            min_prob: a.min_prob,
        });
    let sampling = Sampling {
        temperature: a.temperature.unwrap_or(1.0),
        ..Default::default()
    };
    let total = (input.text.len() * n) as u64;
    let bar = crate::progress::bar(total, "generating");
    let out = textgan::augment::generate::augment(
        &run,
        input,
        n,
        &sampling,
        filter.as_ref(),
        a.seed,
        &mut |k| bar.inc(k as u64),
    )?;
    bar.finish_and_clear();
    let want = input.text.len() * n;
    if out.report.written < want {
        eprintln!(
            "note: {} of the {want} rows asked were written ({} rounds of sampling per label)",
            out.report.written,
            textgan::augment::generate::ROUNDS
        );
    }
    Ok(out)
}
