//! Config presets bundled into the binary (the files of `configs/`), usable from any directory.
use anyhow::{bail, Result};

pub const PRESETS: &[(&str, &str)] = &[
    ("coco-lstm", include_str!("../../../configs/coco-lstm.toml")),
    (
        "coco-transformer",
        include_str!("../../../configs/coco-transformer.toml"),
    ),
    (
        "oracle-mle",
        include_str!("../../../configs/oracle-mle.toml"),
    ),
];

pub fn get(name: &str) -> Result<&'static str> {
    match PRESETS.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => Ok(text),
        None => {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            bail!("unknown preset `{name}` (known: {})", names.join(", "))
        }
    }
}

pub fn show(name: Option<&str>) -> Result<()> {
    match name {
        Some(n) => print!("{}", get(n)?),
        None => {
            for (n, text) in PRESETS {
                let about = text.lines().next().unwrap_or("").trim_start_matches("# ");
                println!("{n:18} {about}");
            }
        }
    }
    Ok(())
}
