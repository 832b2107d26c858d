//! `textgan report`: one self-contained HTML file of runs (no server needed).
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Names for run directories: their own names, with `-2`, `-3` for repeats.
pub fn run_names(dirs: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for d in dirs {
        let base = d
            .canonicalize()
            .unwrap_or_else(|_| d.clone())
            .file_name()
            .map_or("run".into(), |n| n.to_string_lossy().into_owned());
        let mut name = base.clone();
        let mut k = 2;
        while names.contains(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        names.push(name);
    }
    names
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run directory to report (repeat for several: their curves share charts).
    #[arg(long = "run", value_name = "DIR", required = true)]
    runs: Vec<PathBuf>,
    /// A `textgan sweep` output directory whose quality-diversity plot to include.
    #[arg(long, value_name = "DIR")]
    sweep: Option<PathBuf>,
    /// The HTML file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn report(a: ReportArgs) -> Result<()> {
    let device = textgan::device::resolve(&a.device)?;
    let names = run_names(&a.runs);
    let mut engines = Vec::new();
    for d in &a.runs {
        if !d.is_dir() {
            bail!("--run {}: not a run directory", d.display());
        }
        engines.push(
            textgan::infer::Engine::load(d, device)
                .with_context(|| format!("loading run {}", d.display()))?,
        );
    }
    let runs: Vec<(String, &Path, &textgan::infer::Engine)> = names
        .into_iter()
        .zip(&a.runs)
        .zip(&engines)
        .map(|((n, d), e)| (n, d.as_path(), e))
        .collect();
    let html = textgan::serve::report::build(&runs, a.sweep.as_deref())?;
    textgan::fsutil::write_atomic(&a.out, html.as_bytes())?;
    eprintln!("wrote {} ({} KiB)", a.out.display(), html.len() / 1024);
    Ok(())
}
