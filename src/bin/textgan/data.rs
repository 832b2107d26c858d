//! `textgan data`: the named data sets, listed or fetched into the data directory.
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use textgan::datasets::{self, Origin, Status};

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Each named data set: what it is, its size, whether it is here, where it comes from.
    List,
    /// Fetch data sets into the data directory ($TEXTGAN_DATA, else ~/.cache/textgan), checking
    /// every file's SHA-256; nothing is kept unless every file of a set arrived whole.
    Get {
        /// Data sets to get (`textgan data list` names them).
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Take the files from this folder instead of downloading them (offline machines).
        #[arg(long, value_name = "DIR", conflicts_with = "mirror")]
        from: Option<PathBuf>,
        /// Download from this mirror instead: BASE/<set folder>/<file>.
        #[arg(long, value_name = "URL")]
        mirror: Option<String>,
    },
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn run(a: DataArgs) -> Result<()> {
    match a.command {
        DataCommand::List => list(),
        DataCommand::Get {
            names,
            from,
            mirror,
        } => {
            let sets = names
                .iter()
                .map(|n| datasets::set(n))
                .collect::<textgan::Result<Vec<_>>>()?;
            let origin = match (from, mirror) {
                (Some(d), _) => {
                    if !d.is_dir() {
                        bail!("--from {}: not a folder", d.display());
                    }
                    Origin::Folder(d)
                }
                (None, Some(m)) => Origin::Mirror(m),
                (None, None) => Origin::Public,
            };
            for s in sets {
                get(s, &origin)?;
            }
            Ok(())
        }
    }
}

fn list() -> Result<()> {
    println!("data directory: {}", datasets::data_dir().display());
    for s in datasets::SETS {
        let size: u64 = s.files.iter().map(|f| f.bytes).sum();
        let state = match s.status()? {
            Status::Present => "present".to_string(),
            Status::Missing(m) if m.len() == s.files.len() => "missing".to_string(),
            Status::Missing(m) => format!("incomplete ({} missing)", m.len()),
            Status::Corrupt(f) => format!("corrupt ({f})"),
        };
        println!(
            "{:14} {:>8}  {:10}  {}\n{:26}from {}",
            s.name,
            mb(size),
            state,
            s.about,
            "",
            s.source
        );
    }
    Ok(())
}

fn get(s: &datasets::DataSet, origin: &Origin) -> Result<()> {
    let total: u64 = s.files.iter().map(|f| f.bytes).sum();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:24} {bar:32} {bytes}/{total_bytes}")
            .expect("template"),
    );
    let mut done_before = 0u64;
    let mut current = String::new();
    let mut last = 0u64;
    let dir = datasets::get(s, origin, &mut |file, n, _| {
        if file != current {
            done_before += last;
            current = file.to_string();
            bar.set_message(format!("{}/{file}", s.name));
        }
        last = n;
        bar.set_position(done_before + n);
    })?;
    bar.finish_and_clear();
    eprintln!(
        "{}: {} files checked, in {}",
        s.name,
        s.files.len(),
        dir.display()
    );
    Ok(())
}
