//! Link-time set-up for libtorch: keep libtorch_cuda linked and find libtorch without LD_LIBRARY_PATH.
//!
//! The linker's default `--as-needed` drops `libtorch_cuda.so` because no symbol of ours refers
//! to it, and then every CUDA op fails with "Could not run 'aten::empty.memory_format' with
//! arguments from the 'CUDA' backend". Linking it with `--no-as-needed` registers the CUDA
//! kernels; the torch wheel ships its CUDA libraries, so the binary still runs without a GPU.
//! The rpath points at the libtorch that torch-sys built against.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    let lib = Path::new(&lib);
    let lib = lib.canonicalize().unwrap_or_else(|_| lib.to_path_buf());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
