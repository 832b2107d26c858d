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
    /// The new rows, as `label<TAB>text` lines (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// New rows per input row, 1 to 64 (default 4; backtranslate without --temperature makes
    /// one). EDA makes at most n/4 + 1 per operation that is on.
    #[arg(long)]
    per_example: Option<usize>,
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i64,
    /// EDA: share of words replaced by synonyms.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    alpha_sr: f64,
    /// EDA: share of words inserted (synonyms of words in the sentence).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    alpha_ri: f64,
    /// EDA: share of words swapped.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    alpha_rs: f64,
    /// EDA: probability of deleting each word.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    p_rd: f64,
    /// EDA: the sentence encoder whose neighbours are synonyms (default: the data directory's
    /// minilm).
    #[arg(long, value_name = "DIR")]
    encoder: Option<PathBuf>,
    /// EDA: synonyms per word at most.
    #[arg(long, default_value_t = 5)]
    neighbours: usize,
    /// EDA: cosine similarity a synonym needs at least.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
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

/// The name of a method as the command line spells it.
fn name(m: Method) -> String {
    m.to_possible_value()
        .map_or(String::new(), |v| v.get_name().to_string())
}

/// The options of one method refused with another, and the ones it needs.
fn check_options(a: &AugmentArgs) -> Result<()> {
    let given = |name: &str, set: bool| set.then(|| name.to_string());
    let eda_default = Eda::default();
    let bt = [
        given("--forward", a.forward.is_some()),
        given("--backward", a.backward.is_some()),
        given("--beam", a.beam != 1),
        given("--batch-size", a.batch_size != 64),
    ];
    let gen = [
        given("--run", a.run.is_some()),
        given("--filter-run", a.filter_run.is_some()),
    ];
    let eda = [
        given("--encoder", a.encoder.is_some()),
        given("--write-synonyms", a.write_synonyms.is_some()),
        given("--alpha-sr", a.alpha_sr != eda_default.alpha_sr),
        given("--alpha-ri", a.alpha_ri != eda_default.alpha_ri),
        given("--alpha-rs", a.alpha_rs != eda_default.alpha_rs),
        given("--p-rd", a.p_rd != eda_default.p_rd),
        given("--neighbours", a.neighbours != 5),
        given("--min-similarity", a.min_similarity != 0.5),
    ];
    let sampling = [given("--temperature", a.temperature.is_some())];
    let foreign: Vec<String> = match a.method {
        Method::Eda => bt
            .into_iter()
            .chain(gen)
            .chain(sampling)
            .flatten()
            .collect(),
        Method::Backtranslate => eda.into_iter().chain(gen).flatten().collect(),
        Method::Generate => eda.into_iter().chain(bt).flatten().collect(),
    };
    if let Some(f) = foreign.first() {
        bail!("{f} does not apply to --method {}", name(a.method));
    }
    match a.method {
        Method::Backtranslate if a.forward.is_none() || a.backward.is_none() => {
            bail!("--method backtranslate needs --forward RUN and --backward RUN (two translation runs)")
        }
        Method::Generate if a.run.is_none() => {
            bail!("--method generate needs --run RUN (a label-conditional run)")
        }
        Method::Eda if a.neighbours == 0 => bail!("--neighbours must be at least 1"),
        Method::Eda if !(-1.0..=1.0).contains(&a.min_similarity) => {
            bail!(
                "--min-similarity {}: give a cosine in [-1, 1]",
                a.min_similarity
            )
        }
        _ => Ok(()),
    }
}

/// Refuses, before any work, an output that is the input, a directory, a link or a device, or
/// sits in a folder that does not exist. `-` is standard output.
fn check_path(flag: &str, out: &Path, input: &Path) -> Result<()> {
    if out == Path::new("-") {
        return Ok(());
    }
    let shown = out.display();
    if let Ok(m) = std::fs::symlink_metadata(out) {
        if m.is_dir() {
            bail!("{flag} {shown}: a directory; give a file name");
        }
        if !m.is_file() {
            bail!("{flag} {shown}: not a regular file (a link or a device): give a file path, or - for standard output");
        }
        let same = std::fs::canonicalize(out).ok() == std::fs::canonicalize(input).ok();
        if same {
            bail!("{flag} {shown} is the input: augment writes the new rows only, so give another file");
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "{flag} {shown}: the folder {} does not exist",
            parent.display()
        );
    }
    Ok(())
}

/// Writes the rows to `out` (atomically), or to standard output for `-`.
fn write_rows(out: &Path, lines: &Lines) -> Result<()> {
    if out != Path::new("-") {
        return Ok(textgan::augment::write_tab(out, lines)?);
    }
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    textgan::augment::write_tab_to(&mut w, lines)?;
    w.flush()?;
    Ok(())
}

pub fn run(a: AugmentArgs) -> Result<()> {
    check_options(&a)?;
    let per = match (a.method, a.temperature) {
        (Method::Backtranslate, None) => 1,
        _ => 4,
    };
    let n = a.per_example.unwrap_or(per);
    textgan::augment::check_per_example(n)?;
    check_path("--out", &a.out, &a.input)?;
    if let Some(p) = &a.write_synonyms {
        check_path("--write-synonyms", p, &a.input)?;
    }
    let input = data::read_labelled(&a.input)?;
    let device = textgan::device::resolve(&a.device)?;
    let start = std::time::Instant::now();
    let out = match a.method {
        Method::Eda => eda(&a, &input, n, device)?,
        Method::Backtranslate => backtranslate(&a, &input, n, device)?,
        Method::Generate => generate(&a, &input, n, device)?,
    };
    write_rows(&a.out, &out.lines)?;
    let asked = n * input.text.len();
    summary(
        &out.report,
        input.text.len(),
        asked,
        start.elapsed().as_secs_f64(),
    );
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

pub fn summary(r: &Report, rows: usize, asked: usize, seconds: f64) {
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
        "{} new rows ({asked} asked) from {rows} input rows in {seconds:.1} s{skipped}",
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
    if !Candidates::cache_path(&dir, &cache).exists() {
        eprintln!(
            "encoding the encoder's vocabulary once (about 22,000 words; kept in {})",
            cache.display()
        );
    }
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

fn backtranslate(
    a: &AugmentArgs,
    input: &Lines,
    n: usize,
    device: tch::Device,
) -> Result<Augmented> {
    use textgan::checkpoint::LoadedGenerator;
    let how = crate::translate::decode(a.beam, 1.0, a.temperature)?;
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
    let want = input.text.len() * n;
    let bar = crate::progress::bar(want as u64, "generating");
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
    if out.report.written < want {
        eprintln!(
            "note: {} of the {want} rows asked were written ({} rounds of sampling per label)",
            out.report.written,
            textgan::augment::generate::ROUNDS
        );
    }
    Ok(out)
}
