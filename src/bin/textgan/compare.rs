//! `textgan compare`: a verdict, not a picture. Each candidate's quality at each temperature
//! against an MLE run's at the same coverage (read off MLE's temperature curve), with a 95%
//! interval over seeds, and a verdict: above, on or below the curve.
use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use textgan::eval::bleu::{self, Interner, ReferenceIndex};
use textgan::eval::compare::Better;
use textgan::run::RunContext;

pub use crate::compare_draw::{draw, Decode, Runs};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The MLE run to hold the others against: one directory, or one per training seed,
    /// comma-separated.
    #[arg(
        long,
        value_name = "DIR[,DIR...]",
        value_delimiter = ',',
        required = true
    )]
    baseline: Vec<PathBuf>,
    /// A run to judge: one directory, or one per training seed, comma-separated (repeat for
    /// several runs).
    #[arg(long = "run", value_name = "DIR[,DIR...]")]
    runs: Vec<String>,
    /// Name per --run (default: the first directory's name).
    #[arg(long = "label", value_name = "NAME")]
    labels: Vec<String>,
    /// Also judge residual-energy sampling with each run's discriminator (Deng et al. 2020):
    /// comma-separated K in 2..=64, each output drawn from K samples in proportion to
    /// exp(strength * logit D); on an NLL-test plane its coverage is the energy model's own
    /// NLL-test (log Z estimated from the samples).
    #[arg(long, value_name = "K,...", value_delimiter = ',')]
    energy: Vec<usize>,
    /// The energy's strength s (0: plain sampling; 1: the density ratio of an optimal
    /// discriminator).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    strength: f64,
    /// Also judge reranking by each run's discriminator (an adversarial run's, or one from
    /// `textgan train-discriminator`): comma-separated K in 2..=64, each drawing K times as
    /// many sentences and keeping the ones the discriminator finds most likely real. Runs
    /// without a discriminator are judged by plain sampling only.
    #[arg(long, value_name = "K,...", value_delimiter = ',')]
    rerank: Vec<usize>,
    /// Seeds: sampling seeds 0..S when every run is one directory (default 3); with one
    /// directory per training seed, their number (give the same or leave it out).
    #[arg(long)]
    seeds: Option<usize>,
    /// Comma-separated sampling temperatures.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.7,0.8,0.9,1.0,1.1,1.2",
        allow_negative_numbers = true
    )]
    temperatures: Vec<f64>,
    /// The plane: `bleu` (BLEU-4 against Self-BLEU-4), `nll` (BLEU-4 against NLL-test),
    /// `grammar` (grammar NLL against NLL-test, exact) or `oracle` (NLL-oracle against
    /// NLL-test). Default: oracle, grammar or bleu, by the runs' data.
    #[arg(long, value_name = "PLANE")]
    plane: Option<String>,
    /// Samples per run, temperature and seed.
    #[arg(short = 'n', long = "num", default_value_t = 1000)]
    n: usize,
    /// Output directory for compare.jsonl, compare.md and compare.{svg,png}.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// A quality-coverage plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plane {
    Bleu,
    Nll,
    Grammar,
    Oracle,
}

impl Plane {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "bleu" => Plane::Bleu,
            "nll" => Plane::Nll,
            "grammar" => Plane::Grammar,
            "oracle" => Plane::Oracle,
            _ => bail!("--plane {s:?}: one of bleu, nll, grammar, oracle"),
        })
    }

    /// (coverage, quality) axis names and the way quality improves.
    fn axes(self) -> (&'static str, &'static str, Better) {
        match self {
            Plane::Bleu => ("Self-BLEU-4", "BLEU-4", Better::Higher),
            Plane::Nll => ("NLL-test", "BLEU-4", Better::Higher),
            Plane::Grammar => ("NLL-test", "grammar NLL", Better::Lower),
            Plane::Oracle => ("NLL-test", "NLL-oracle", Better::Lower),
        }
    }
}

/// One candidate: a run (per seed) and how it decodes.
struct Candidate {
    label: String,
    dirs: Vec<PathBuf>,
    decode: Decode,
}

/// The number of seeds: the length of the lists given per training seed (all equal), or
/// `--seeds` when every list has one directory.
fn seed_count(a: &CompareArgs, lists: &[Vec<PathBuf>]) -> Result<usize> {
    let multi: Vec<usize> = lists.iter().map(Vec::len).filter(|&l| l > 1).collect();
    match (multi.first(), a.seeds) {
        (_, Some(0)) => bail!("--seeds must be at least 1"),
        (None, seeds) => Ok(seeds.unwrap_or(3)),
        (Some(&s), _) if multi.iter().any(|&l| l != s) => {
            bail!("give every run as many directories (one per training seed), or one")
        }
        (Some(&s), Some(asked)) if asked != s => bail!(
            "--seeds {asked}: the runs are given for {s} training seeds; give --seeds {s} or leave it out"
        ),
        (Some(&s), _) => Ok(s),
    }
}

fn candidates(a: &CompareArgs) -> Result<Vec<Candidate>> {
    if a.runs.is_empty() {
        bail!("give at least one --run DIR to compare with the baseline");
    }
    if !a.labels.is_empty() && a.labels.len() != a.runs.len() {
        bail!(
            "give one --label per --run ({} runs, {} labels)",
            a.runs.len(),
            a.labels.len()
        );
    }
    if a.rerank
        .iter()
        .chain(&a.energy)
        .any(|&k| !(2..=64).contains(&k))
    {
        bail!("--rerank and --energy: each K must be in 2..=64 (1 is plain sampling)");
    }
    if !(a.strength.is_finite() && a.strength >= 0.0) {
        bail!(
            "--strength must be a finite number at least 0, got {}",
            a.strength
        );
    }
    let mut out = Vec::new();
    for (i, r) in a.runs.iter().enumerate() {
        let dirs: Vec<PathBuf> = r
            .split(',')
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        if dirs.is_empty() {
            bail!("--run: give a directory");
        }
        let label = a.labels.get(i).cloned().unwrap_or_else(|| {
            dirs[0]
                .file_name()
                .map_or(r.clone(), |f| f.to_string_lossy().into_owned())
        });
        let guided = a.rerank.iter().map(|&k| Decode::Rerank(k));
        let energy = a.energy.iter().map(|&k| Decode::Energy(k, a.strength));
        for decode in std::iter::once(Decode::Plain).chain(guided).chain(energy) {
            out.push(Candidate {
                label: decode.label(&label),
                dirs: dirs.clone(),
                decode,
            });
        }
    }
    Ok(out)
}

/// The plane of the baseline's data, checked against `--plane`.
fn plane_of(a: &CompareArgs, base: &RunContext) -> Result<Plane> {
    let natural = match (base.is_oracle(), base.grammar.is_some()) {
        (true, _) => Plane::Oracle,
        (_, true) => Plane::Grammar,
        _ => Plane::Bleu,
    };
    let p = a
        .plane
        .as_deref()
        .map(Plane::parse)
        .transpose()?
        .unwrap_or(natural);
    match p {
        Plane::Oracle if !base.is_oracle() => {
            bail!("--plane oracle: the runs are not on the oracle benchmark")
        }
        Plane::Grammar if base.grammar.is_none() => {
            bail!("--plane grammar: the runs are not on the grammar benchmark")
        }
        Plane::Bleu | Plane::Nll if base.is_oracle() => bail!(
            "--plane {}: oracle runs have no sentences; use oracle",
            a.plane.as_deref().unwrap_or("")
        ),
        _ => {}
    }
    if !a.rerank.is_empty() && p != Plane::Bleu {
        bail!("--rerank is judged on the bleu plane only (a reranked sampler has no NLL-test): add --plane bleu");
    }
    Ok(p)
}

/// A run must share the baseline's data: the same vocabulary and test sentences.
fn same_data(base: &RunContext, c: &RunContext, dir: &Path) -> Result<()> {
    if c.gen.vocab != base.gen.vocab || c.corpus.test != base.corpus.test {
        bail!("{}: this run was trained on other data or another vocabulary than the baseline; compare runs of one corpus", dir.display());
    }
    if c.corpus.sources.is_some() {
        bail!(
            "{}: runs on pairs are compared over beam widths by `textgan sweep`",
            dir.display()
        );
    }
    Ok(())
}

/// The (coverage, quality) point of `ids` sampled from `c`; `nll_test` is the coverage of
/// the NLL-test planes ([`Runs::coverage`], or an energy model's own).
fn point(
    c: &RunContext,
    plane: Plane,
    ids: &[Vec<i64>],
    nll_test: f64,
    refs: Option<&mut Refs>,
) -> Result<(f64, f64)> {
    Ok(match plane {
        Plane::Oracle => (nll_test, c.nll_oracle(ids).unwrap_or(f64::NAN)),
        Plane::Grammar => {
            let g = c.grammar.as_ref().expect("checked by plane_of");
            let quality = g.score(&c.decode_all(ids)).0.unwrap_or(f64::NAN);
            (nll_test, quality)
        }
        Plane::Bleu | Plane::Nll => {
            let refs = refs.expect("made for the bleu and nll planes");
            let hyps = refs.int.tokenize_all(&c.decode_all(ids))?;
            let b = bleu::bleu(&hyps, &refs.index)[3];
            let cov = match plane {
                Plane::Nll => nll_test,
                _ => bleu::self_bleu(&hyps, 4)[3],
            };
            (cov, b)
        }
    })
}

/// The baseline's test sentences as BLEU's references, on the planes that measure BLEU.
fn references(plane: Plane, base: &RunContext) -> Result<Option<Refs>> {
    if !matches!(plane, Plane::Bleu | Plane::Nll) {
        return Ok(None);
    }
    let mut int = Interner::new(bleu::Tokenize::of(base.gen.vocab.tokenizer));
    let r = int.tokenize_all(&base.test_lines())?;
    if r.is_empty() {
        bail!("the baseline's data has no test sentences to measure BLEU against");
    }
    let index = ReferenceIndex::new(&r, 4);
    Ok(Some(Refs { int, index }))
}

/// The references of BLEU, tokenized once.
struct Refs {
    int: Interner,
    index: ReferenceIndex,
}

pub fn run(mut a: CompareArgs) -> Result<()> {
    crate::sweep::check_temperatures(&a.temperatures)?;
    // The baseline's curve joins its points in temperature order.
    a.temperatures.sort_by(f64::total_cmp);
    a.temperatures.dedup();
    if a.n < 2 {
        bail!("-n must be at least 2 (Self-BLEU needs other samples)");
    }
    let mut cands = candidates(&a)?;
    let mut lists = vec![a.baseline.clone()];
    lists.extend(cands.iter().map(|c| c.dirs.clone()));
    let seeds = seed_count(&a, &lists)?;
    crate::sweep::check_out(&a.out)?;
    let mut runs = Runs::new(textgan::device::resolve(&a.device)?);
    let base0 = runs.ctx(&a.baseline[0])?;
    let plane = plane_of(&a, base0)?;
    let mut refs = references(plane, base0)?;
    check_runs(&a, &mut cands, &mut runs)?;
    let pick = |dirs: &[PathBuf], s: usize| dirs[s.min(dirs.len() - 1)].clone();
    warm_up(&mut runs, &a.baseline[0], &cands)?;
    let total = seeds * a.temperatures.len() * (1 + cands.len());
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:32} {pos}/{len} {msg}").expect("template"),
    );
    // curves[s]: the baseline's points at seed s; points[c][t][s]: candidate c's.
    let mut curves = vec![Vec::new(); seeds];
    let mut points =
        vec![vec![vec![(f64::NAN, f64::NAN); seeds]; a.temperatures.len()]; cands.len()];
    // Seconds of decoding: the baseline's, then each candidate's.
    let mut secs = vec![0.0; 1 + cands.len()];
    for s in 0..seeds {
        let dir = pick(&a.baseline, s);
        for &t in &a.temperatures {
            bar.set_message(format!("baseline T={t} seed {s}"));
            let cov = runs.coverage(&dir, plane, t)?;
            let c = runs.ctx(&dir)?;
            let clock = std::time::Instant::now();
            let ids = c.sample(a.n, t, s as i64);
            secs[0] += clock.elapsed().as_secs_f64();
            curves[s].push(point(c, plane, &ids, cov, refs.as_mut())?);
            bar.inc(1);
        }
        for (ci, cand) in cands.iter().enumerate() {
            let dir = pick(&cand.dirs, s);
            for (ti, &t) in a.temperatures.iter().enumerate() {
                bar.set_message(format!("{} T={t} seed {s}", cand.label));
                let (ids, nll, took) =
                    draw(&mut runs, cand.decode, &dir, (a.n, t, s as i64), plane)?;
                secs[ci + 1] += took;
                let cov = match nll {
                    Some(energy) => energy,
                    None => runs.coverage(&dir, plane, t)?,
                };
                points[ci][ti][s] = point(runs.ctx(&dir)?, plane, &ids, cov, refs.as_mut())?;
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    crate::compare_out::write(
        &a.out,
        plane.axes(),
        &a.temperatures,
        &cands.iter().map(|c| c.label.clone()).collect::<Vec<_>>(),
        &curves,
        &points,
        &secs
            .iter()
            .map(|x| 1e3 * x / (seeds * a.temperatures.len() * a.n) as f64)
            .collect::<Vec<_>>(),
        seeds,
    )
}

/// Every run loads, shares the baseline's data, and the baseline is an MLE run; reranking is
/// kept for the runs with a discriminator.
fn check_runs(a: &CompareArgs, cands: &mut Vec<Candidate>, runs: &mut Runs) -> Result<()> {
    let base_dirs = a.baseline.clone();
    for d in &base_dirs {
        let c = runs.ctx(d)?;
        if c.gen.config.gan.algorithm.is_some() {
            bail!("--baseline {}: not an MLE run (it was trained with gan.algorithm = {:?}); the baseline is MLE's temperature curve", d.display(), c.gen.config.gan.name());
        }
    }
    for d in cands
        .iter()
        .flat_map(|c| c.dirs.iter())
        .chain(base_dirs.iter().skip(1))
    {
        runs.ctx(d)?;
        let (base, c) = (&runs.ctx[&base_dirs[0]], &runs.ctx[d]);
        same_data(base, c, d)?;
        if !c.gen.vocab.labels.is_empty() && !a.rerank.is_empty() {
            bail!(
                "--rerank: {} is labelled; compare reranks unlabelled runs for now",
                d.display()
            );
        }
    }
    // Reranking where every seed's run has a discriminator; a run without one is judged plain.
    let mut keep = Vec::new();
    for c in cands.iter() {
        let mut has = true;
        for d in c.dirs.iter().filter(|_| c.decode != Decode::Plain) {
            has &= runs.engine(d)?.is_some();
        }
        keep.push(has);
    }
    let guided = cands
        .iter()
        .zip(&keep)
        .any(|(c, &k)| k && c.decode != Decode::Plain);
    if !guided && cands.iter().any(|c| c.decode != Decode::Plain) {
        let d = a.runs[0].split(',').next().unwrap_or("RUN");
        bail!("--rerank, --energy: no --run has a discriminator; train one with `textgan train-discriminator --run {d} --out DIR` and compare DIR");
    }
    for (c, _) in cands.iter().zip(&keep).filter(|(_, k)| !**k) {
        eprintln!(
            "note: {} is left out: its run has no discriminator (judged by plain sampling only)",
            c.label
        );
    }
    let mut it = keep.iter();
    cands.retain(|_| *it.next().expect("one per candidate"));
    Ok(())
}

/// A few samples (and discriminator scores) of every run before the clock runs, so that no
/// candidate's decoding time carries the first call's set-up.
fn warm_up(runs: &mut Runs, baseline: &Path, cands: &[Candidate]) -> Result<()> {
    runs.ctx(baseline)?.sample(16, 1.0, 0);
    for c in cands {
        let ids = runs.ctx(&c.dirs[0])?.sample(16, 1.0, 0);
        if c.decode != Decode::Plain {
            if let Some(e) = runs.engine(&c.dirs[0])? {
                e.d_real(&ids)?;
            }
        }
    }
    Ok(())
}
