//! `textgan presets`: the bundled configs ([`textgan::presets`]), listed or printed.
use anyhow::Result;
pub use textgan::presets::get;
use textgan::presets::{about, PRESETS};

pub fn show(name: Option<&str>) -> Result<()> {
    match name {
        Some(n) => print!("{}", get(n)?),
        None => {
            for (n, text) in PRESETS {
                println!("{n:18} {}", about(text));
            }
        }
    }
    Ok(())
}
