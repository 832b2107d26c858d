//! Link-time set-up for libtorch: keep libtorch_cuda linked, find libtorch without
//! LD_LIBRARY_PATH, build the CUDA-graph shim (csrc/cuda_graph.cpp) when the CUDA headers
//! are at hand, and the c10d process groups (csrc/dist*.cpp: Gloo when Gloo's headers are at
//! hand, NCCL on a CUDA libtorch).
//!
//! The linker's default `--as-needed` drops `libtorch_cuda.so` because no symbol of ours refers
//! to it, and then every CUDA op fails with "Could not run 'aten::empty.memory_format' with
//! arguments from the 'CUDA' backend". Linking it with `--no-as-needed` registers the CUDA
//! kernels; the torch wheel ships its CUDA libraries, so the binary still runs without a GPU.
//! The rpath points at the libtorch that torch-sys built against.
//!
//! What is optional is a Cargo feature (Cargo.toml): `cuda-graph`, `dist` (Gloo), `nccl`,
//! `fused` (the CPU ops). A feature that is on but whose headers are missing is left out with
//! a warning, and the build reruns when they appear (`rerun-if-changed` on where they go), so
//! installing them later and building again is enough.
//!
//! The shim needs the CUDA runtime headers, which the torch wheel's `nvidia-cuda-runtime`
//! dependency ships (site-packages/nvidia/cu13/include, or CUDA_HOME). Without them, or with a
//! CPU-only libtorch, or without the `cuda-graph` feature, it is left out and
//! `textgan::cuda_graph` reports CUDA graphs as unavailable.
use std::path::{Path, PathBuf};

fn main() {
    write_preset_list();
    println!("cargo:rustc-check-cfg=cfg(textgan_cuda_graph)");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rustc-check-cfg=cfg(textgan_cpu_ops)");
    println!("cargo:rerun-if-changed=csrc/cuda_graph.cpp");
    println!("cargo:rerun-if-changed=csrc/max_over_time.cpp");
    println!("cargo:rerun-if-changed=csrc/highway.cpp");
    println!("cargo:rustc-check-cfg=cfg(textgan_dist)");
    println!("cargo:rerun-if-changed=csrc/dist.cpp");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    let lib = Path::new(&lib);
    let lib = lib.canonicalize().unwrap_or_else(|_| lib.to_path_buf());
    build_cpu_ops(&lib);
    build_dist(&lib);
    if lib.join("libtorch_cuda.so").exists() {
        let wanted = feature("CUDA_GRAPH");
        if let Some(cuda_includes) = cuda_include_dirs(&lib).filter(|_| wanted) {
            build_shim(&lib, &cuda_includes);
        }
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-lc10_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}

/// The CUDA runtime headers, and a fallback folder for `crt/host_config.h`, which the CUDA 13
/// runtime wheel leaves out (triton's bundled CUDA headers carry it).
fn cuda_include_dirs(lib: &Path) -> Option<Vec<PathBuf>> {
    let site = lib.parent()?.parent()?; // .../site-packages/torch/lib -> site-packages
    let mut candidates: Vec<PathBuf> = ["nvidia/cu13/include", "nvidia/cuda_runtime/include"]
        .iter()
        .map(|p| site.join(p))
        .collect();
    if let Ok(home) = std::env::var("CUDA_HOME") {
        candidates.push(Path::new(&home).join("include"));
    }
    candidates.push(PathBuf::from("/usr/local/cuda/include"));
    let main = candidates
        .into_iter()
        .find(|d| d.join("cuda_runtime_api.h").exists())?;
    let mut dirs = vec![main.clone()];
    if !main.join("crt/host_config.h").exists() {
        let triton = site.join("triton/backends/nvidia/include");
        if !triton.join("crt/host_config.h").exists() {
            println!(
                "cargo:warning=CUDA graphs left out: {} lacks crt/host_config.h",
                main.display()
            );
            return None;
        }
        dirs.push(triton);
    }
    Some(dirs)
}

/// Whether the Cargo feature `name` (upper case, `-` as `_`) is on.
fn feature(name: &str) -> bool {
    std::env::var_os(format!("CARGO_FEATURE_{name}")).is_some()
}

/// Reruns the build when `file` appears or changes: it is watched where it exists, else the
/// nearest folder above it that does (whose contents change when the file is installed).
fn rerun_when_present(file: &Path) {
    let watched = file.ancestors().find(|p| p.exists()).unwrap_or(file);
    println!("cargo:rerun-if-changed={}", watched.display());
}

/// A C++ build against the libtorch headers, with the flags libtorch was built with.
fn torch_cpp(lib: &Path) -> cc::Build {
    let include = lib.parent().expect("libtorch root").join("include");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .flag("-std=c++17")
        .flag(format!(
            "-D_GLIBCXX_USE_CXX11_ABI={}",
            std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into())
        ))
        .flag("-DGLOG_USE_GLOG_EXPORT");
    build
}

/// The CNN discriminator's fused CPU autograd ops (csrc/max_over_time.cpp, csrc/highway.cpp);
/// without them it takes its plain torch path everywhere.
fn build_cpu_ops(lib: &Path) {
    if !feature("FUSED") {
        return;
    }
    let mut build = torch_cpp(lib);
    build
        .opt_level(3)
        .file("csrc/max_over_time.cpp")
        .file("csrc/highway.cpp");
    build.compile("textgan_cpu_ops");
    println!("cargo:rustc-cfg=textgan_cpu_ops");
}

/// torch's c10d process groups, for data-parallel training: the store and collectives
/// (csrc/dist.cpp) with Gloo (csrc/dist_gloo.cpp) and, on a CUDA libtorch, NCCL
/// (csrc/dist_nccl.cpp). Gloo needs Gloo's headers, which the wheel leaves out: Debian's
/// libgloo-dev puts them in /usr/include (`TEXTGAN_GLOO_INCLUDE` names another folder). NCCL
/// needs nccl.h (the wheel's nvidia-nccl) and CUDA headers complete enough for ATen's CUDA
/// ones (nvidia-cuda-runtime, -crt and -cccl; scripts/setup-torch.sh installs them). Each is
/// left out when its feature (`dist`, `nccl`) is off or its headers are missing, and
/// `textgan::dist` says so when a run asks for it.
fn build_dist(lib: &Path) {
    println!("cargo:rustc-check-cfg=cfg(textgan_gloo)");
    println!("cargo:rustc-check-cfg=cfg(textgan_nccl)");
    println!("cargo:rerun-if-env-changed=TEXTGAN_GLOO_INCLUDE");
    for f in ["dist.hpp", "dist_gloo.cpp", "dist_nccl.cpp"] {
        println!("cargo:rerun-if-changed=csrc/{f}");
    }
    if !feature("DIST") {
        return;
    }
    let api = lib
        .parent()
        .expect("libtorch root")
        .join("include/torch/csrc/api/include");
    let include = std::env::var_os("TEXTGAN_GLOO_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let header = include.join("gloo/allreduce.h");
    rerun_when_present(&header);
    let gloo = header.exists();
    if gloo {
        let mut build = torch_cpp(lib);
        build
            .include(&api)
            // After libtorch's folders, so only Gloo's own headers come from here.
            .flag(format!("-idirafter{}", include.display()))
            .flag("-DUSE_C10D_GLOO")
            .file("csrc/dist_gloo.cpp");
        build.compile("textgan_dist_gloo");
        println!("cargo:rustc-cfg=textgan_gloo");
    } else {
        println!(
            "cargo:warning=Gloo process groups left out: no Gloo headers in {} (apt-get install libgloo-dev, then build again)",
            include.display()
        );
    }
    let nccl = feature("NCCL").then(|| nccl_include_dirs(lib)).flatten();
    if let Some(dirs) = &nccl {
        let mut build = torch_cpp(lib);
        build.include(&api).flag("-DUSE_C10D_NCCL");
        // c10's CUDAEvent pads with this; fixed at the value the wheel's GCC build used.
        build
            .flag("--param=destructive-interference-size=64")
            .flag("-Wno-interference-size");
        for d in dirs {
            build.include(d);
        }
        build
            .file("csrc/dist_nccl.cpp")
            .compile("textgan_dist_nccl");
        println!("cargo:rustc-cfg=textgan_nccl");
    }
    if gloo || nccl.is_some() {
        let mut build = torch_cpp(lib);
        build.include(&api).file("csrc/dist.cpp");
        build.compile("textgan_dist");
        println!("cargo:rustc-cfg=textgan_dist");
    }
}

/// nccl.h and the CUDA headers ATen's CUDA headers reach (`nv/target` from CCCL,
/// `crt/host_config.h`), from the wheel's nvidia packages; `None` on a CPU-only libtorch or
/// when one is missing.
fn nccl_include_dirs(lib: &Path) -> Option<Vec<PathBuf>> {
    if !lib.join("libtorch_cuda.so").exists() {
        return None;
    }
    let site = lib.parent()?.parent()?;
    let nccl = site.join("nvidia/nccl/include");
    let cuda = site.join("nvidia/cu13/include");
    let needed = [
        nccl.join("nccl.h"),
        cuda.join("cuda_runtime_api.h"),
        cuda.join("crt/host_config.h"),
        cuda.join("nv/target"),
    ];
    for p in &needed {
        rerun_when_present(p);
    }
    if let Some(missing) = needed.iter().find(|p| !p.exists()) {
        println!(
            "cargo:warning=NCCL process groups left out: {} is missing (scripts/setup-torch.sh installs the CUDA headers)",
            missing.display()
        );
        return None;
    }
    Some(vec![cuda, nccl])
}

fn build_shim(lib: &Path, cuda: &[PathBuf]) {
    let mut build = torch_cpp(lib);
    build.include(&cuda[0]).file("csrc/cuda_graph.cpp");
    for extra in &cuda[1..] {
        // After every other folder, so only what the main one lacks comes from here.
        build.flag(format!("-idirafter{}", extra.display()));
    }
    build.compile("textgan_cuda_graph");
    println!("cargo:rustc-cfg=textgan_cuda_graph");
}

/// `$OUT_DIR/presets.rs`: every `configs/*.toml` as (name, text), sorted, for
/// `textgan::presets`. A new preset is a new file; nothing lists it by hand.
fn write_preset_list() {
    println!("cargo:rerun-if-changed=configs");
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("configs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("configs/ exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".toml").map(String::from)
        })
        .collect();
    names.sort();
    let mut out = String::from("&[\n");
    for n in &names {
        let path = dir.join(format!("{n}.toml"));
        println!("cargo:rerun-if-changed={}", path.display());
        out += &format!(
            "    ({n:?}, include_str!({:?})),\n",
            path.display().to_string()
        );
    }
    out += "]\n";
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("presets.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
