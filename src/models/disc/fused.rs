//! The CNN discriminator's fused CPU ops: the max-over-time convolution for narrow embedded
//! representations, and the highway mix with its dropout.
//!
//! RelGAN's discriminator convolves 64 one-number representations of each sequence with 300
//! filters of each width and keeps each filter's maximum over time. As matrix products the
//! windows give products with an inner dimension of 2 to 5 and a [B, R, W, n] block of
//! activations (93 MB per width at batch 64) that is written, scanned for its maxima and, in the
//! backward pass, written again as a mostly-zero gradient. `csrc/max_over_time.cpp` is one
//! autograd op instead: the forward pass keeps each filter's running maximum in registers while
//! the windows stream past, the backward pass touches only the window at each maximum. It is
//! built by `build.rs` against the libtorch headers; where it is not (without the `fused` feature), or
//! the input holds a NaN or an infinity (the running maximum would pass over a NaN, torch's max
//! passes it on), the same numbers come from the matrix products.
//!
//! `csrc/highway.cpp` does the head's `t * relu(z) + (1 - t) * h` and its dropout in one pass
//! each way instead of about ten, with a stateless mask (a hash of a seed drawn from torch's
//! generator and the element's index) in place of torch's Bernoulli sampling, which is serial
//! on AMD CPUs.
use tch::{Device, Kind, Tensor};

/// One width's filters: `ws` [n, 1, f, s] and `bias` [n].
pub struct Filters<'a> {
    pub f: i64,
    pub ws: &'a Tensor,
    pub bias: Option<&'a Tensor>,
}

/// Whether the fused op was built into this binary.
pub fn available() -> bool {
    cfg!(textgan_cpu_ops)
}

thread_local! {
    static OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the matrix-product path instead of the fused op, for graphs that will be
/// differentiated twice (WGAN-GP's penalty): the op's backward pass is not itself
/// differentiable, and refuses to run where a graph of it is being recorded.
pub fn twice_differentiable<T>(f: impl FnOnce() -> T) -> T {
    let before = OFF.with(|off| off.replace(true));
    let out = f();
    OFF.with(|off| off.set(before));
    out
}

/// Max-over-time of each width's filters over the rows of `x` [N, T, s] (float, CPU), before
/// the ReLU, side by side: [N, sum of n]. Differentiable in `x` and the filters.
pub fn max_over_time(x: &Tensor, filters: &[Filters]) -> Tensor {
    assert_eq!(x.device(), Device::Cpu, "the fused op runs on the CPU");
    let finite = tch::no_grad(|| {
        let mut all = x.isfinite().all().int64_value(&[]) != 0;
        for c in filters {
            all &= c.ws.isfinite().all().int64_value(&[]) != 0;
            if let Some(b) = c.bias {
                all &= b.isfinite().all().int64_value(&[]) != 0;
            }
        }
        all
    });
    let parts: Vec<Tensor> = filters
        .iter()
        .map(|c| {
            if finite && usable(x) {
                op(x, c)
            } else {
                products(x, c)
            }
        })
        .collect();
    Tensor::cat(&parts, 1)
}

/// Whether the fused ops may run on `x`: built, on the CPU, float, and not inside
/// [`twice_differentiable`].
fn usable(x: &Tensor) -> bool {
    available() && x.device() == Device::Cpu && x.kind() == Kind::Float && !OFF.with(|o| o.get())
}

/// The highway layer's mix `t * relu(z) + (1 - t) * h` with dropout `p` after it when `train`
/// (all [N, F]); fused on the CPU, separate torch ops elsewhere.
pub fn highway_dropout(z: &Tensor, t: &Tensor, h: &Tensor, p: f64, train: bool) -> Tensor {
    let p = if train { p } else { 0.0 };
    if usable(z) && (0.0..1.0).contains(&p) {
        let seed = Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]);
        return highway_op(z, t, h, p, seed);
    }
    let y: Tensor = t * z.relu() + (1.0 - t) * h;
    y.dropout(p, train)
}

/// The reference computation: every window's pre-activation, then the maximum over time.
pub fn products(x: &Tensor, c: &Filters) -> Tensor {
    let (rows, t, s) = x.size3().expect("[N, T, s]");
    let n = c.ws.size()[0];
    let win = x
        .unfold(1, c.f, 1) // [N, W, s, f]
        .transpose(2, 3)
        .reshape([rows, t - c.f + 1, c.f * s]);
    let y = win.matmul(&c.ws.view([n, -1]).tr()).amax([1], false);
    match c.bias {
        Some(b) => y + b,
        None => y,
    }
}

#[cfg(textgan_cpu_ops)]
mod ffi {
    use std::os::raw::c_char;
    use torch_sys::C_tensor;
    extern "C" {
        pub fn tg_max_over_time(
            x: *const C_tensor,
            ws: *const C_tensor,
            bias: *const C_tensor,
            f: i64,
            out: *mut *mut C_tensor,
        ) -> *mut c_char;
        pub fn tg_mot_free_message(msg: *mut c_char);
        pub fn tg_highway_dropout(
            z: *const C_tensor,
            t: *const C_tensor,
            h: *const C_tensor,
            p: f64,
            seed: i64,
            out: *mut *mut C_tensor,
        ) -> *mut c_char;
    }

    /// The op's output, or a panic with its message (the checks before the call make an error
    /// a bug, as with tch's own ops).
    ///
    /// # Safety
    /// `msg` and `out` are what one of the entry points above returned.
    pub unsafe fn take(msg: *mut c_char, out: *mut C_tensor) -> tch::Tensor {
        if !msg.is_null() {
            let text = std::ffi::CStr::from_ptr(msg).to_string_lossy().into_owned();
            tg_mot_free_message(msg);
            panic!("{text}");
        }
        tch::Tensor::from_ptr(out)
    }
}

#[cfg(textgan_cpu_ops)]
fn highway_op(z: &Tensor, t: &Tensor, h: &Tensor, p: f64, seed: i64) -> Tensor {
    let mut out = std::ptr::null_mut();
    // SAFETY: live tensors for the call; `take` owns the result.
    unsafe {
        let msg = ffi::tg_highway_dropout(z.as_ptr(), t.as_ptr(), h.as_ptr(), p, seed, &mut out);
        ffi::take(msg, out)
    }
}

#[cfg(not(textgan_cpu_ops))]
fn highway_op(z: &Tensor, t: &Tensor, h: &Tensor, p: f64, _seed: i64) -> Tensor {
    let y: Tensor = t * z.relu() + (1.0 - t) * h;
    y.dropout(p, true)
}

#[cfg(textgan_cpu_ops)]
fn op(x: &Tensor, c: &Filters) -> Tensor {
    let zeros;
    let bias = match c.bias {
        Some(b) => b,
        None => {
            zeros = Tensor::zeros([c.ws.size()[0]], (Kind::Float, Device::Cpu));
            &zeros
        }
    };
    let mut out = std::ptr::null_mut();
    // SAFETY: the pointers are live tensors for the call; on success `out` is a new tensor
    // that `take` hands to the returned `Tensor`; a message is freed by the side that
    // allocated it.
    unsafe {
        let msg = ffi::tg_max_over_time(x.as_ptr(), c.ws.as_ptr(), bias.as_ptr(), c.f, &mut out);
        ffi::take(msg, out)
    }
}

#[cfg(not(textgan_cpu_ops))]
fn op(x: &Tensor, c: &Filters) -> Tensor {
    products(x, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_op_is_built_here() {
        // The project's own builds always have the libtorch headers at hand.
        assert!(available());
    }

    #[test]
    fn matches_the_full_activations_values_and_gradients() {
        tch::manual_seed(3);
        let opts = (Kind::Float, Device::Cpu);
        // 40 and 7 filters: full and part blocks of 32; s = 1 (RelGAN) and s = 3; 70 rows.
        for (s, fs, t) in [(1, vec![2, 5], 20), (3, vec![4, 1], 9), (1, vec![7], 7)] {
            let x = Tensor::randn([70, t, s], opts).set_requires_grad(true);
            let mut wrt = vec![x.shallow_clone()];
            let params: Vec<(i64, Tensor, Tensor)> = fs
                .iter()
                .zip([40, 7])
                .map(|(&f, n)| {
                    let ws = Tensor::randn([n, 1, f, s], opts).set_requires_grad(true);
                    let b = Tensor::randn([n], opts).set_requires_grad(true);
                    wrt.push(ws.shallow_clone());
                    wrt.push(b.shallow_clone());
                    (f, ws, b)
                })
                .collect();
            let filters: Vec<Filters> = params
                .iter()
                .map(|(f, ws, b)| Filters {
                    f: *f,
                    ws,
                    bias: Some(b),
                })
                .collect();
            let got = max_over_time(&x, &filters);
            let parts: Vec<Tensor> = filters.iter().map(|c| products(&x, c)).collect();
            let want = Tensor::cat(&parts, 1);
            assert_eq!(got.size(), want.size());
            let diff = (&got - &want).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "s {s} {fs:?}: {diff}");
            let up = Tensor::randn(got.size(), opts);
            let g_got = Tensor::run_backward(&[(&got * &up).sum(Kind::Float)], &wrt, true, false);
            let g_want = Tensor::run_backward(&[(&want * &up).sum(Kind::Float)], &wrt, true, false);
            for (a, b) in g_got.iter().zip(&g_want) {
                let diff = (a - b).abs().max().double_value(&[]);
                assert!(diff < 1e-4, "s {s} {fs:?}: gradient off by {diff}");
                assert!(a.abs().sum(Kind::Float).double_value(&[]) > 0.0);
            }
            let nograd = tch::no_grad(|| max_over_time(&x, &filters));
            assert!(!nograd.requires_grad());
            assert!((&nograd - &want).abs().max().double_value(&[]) < 1e-5);
        }
    }

    /// A gradient of a gradient (WGAN-GP) through the products; the op itself refuses it.
    #[test]
    fn second_derivatives_take_the_products() {
        tch::manual_seed(4);
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([6, 8, 1], opts).set_requires_grad(true);
        let ws = Tensor::randn([5, 1, 3, 1], opts).set_requires_grad(true);
        let filters = [Filters {
            f: 3,
            ws: &ws,
            bias: None,
        }];
        let penalty = |y: Tensor| {
            let g = Tensor::run_backward(&[y.square().sum(Kind::Float)], &[&x], true, true);
            let p = g[0].square().sum(Kind::Float);
            Tensor::run_backward(&[p], &[&ws], false, false).remove(0)
        };
        let got = penalty(twice_differentiable(|| max_over_time(&x, &filters)));
        let want = penalty(products(&x, &filters[0]));
        assert!((&got - &want).abs().max().double_value(&[]) < 1e-4);
        assert!(got.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        // Outside the wrapper the op is used again, and recording its backward is an error.
        let y = max_over_time(&x, &filters);
        let result = Tensor::f_run_backward(&[y.sum(Kind::Float)], &[&x], true, true);
        assert!(result.is_err(), "create_graph through the op must fail");
    }

    #[test]
    fn the_highway_mix_and_its_dropout() {
        let opts = (Kind::Float, Device::Cpu);
        tch::manual_seed(6);
        let z = Tensor::randn([300, 400], opts).set_requires_grad(true);
        let t = Tensor::rand([300, 400], opts).set_requires_grad(true);
        let h = Tensor::randn([300, 400], opts).set_requires_grad(true);
        let wrt = [z.shallow_clone(), t.shallow_clone(), h.shallow_clone()];
        let reference: Tensor = &t * z.relu() + (1.0 - &t) * &h;
        let up = Tensor::randn([300, 400], opts);
        let grads =
            |y: &Tensor| Tensor::run_backward(&[(y * &up).sum(Kind::Float)], &wrt, true, false);
        // Without dropout (evaluation, or p = 0): the separate ops' values and gradients.
        for (p, train) in [(0.3, false), (0.0, true)] {
            let y = highway_dropout(&z, &t, &h, p, train);
            assert!((&y - &reference).abs().max().double_value(&[]) < 1e-6);
            // Up to rounding: the fused op computes dt as up * (relu(z) - h), autograd as
            // up * relu(z) - up * h, so the bound is relative to the sizes of the terms.
            for (a, b) in grads(&y).iter().zip(grads(&reference).iter()) {
                let err = (a - b).abs() / (b.abs() + &up.abs() * 10.0 + 1.0);
                assert!(err.max().double_value(&[]) < 1e-6);
            }
        }
        // With dropout: each element kept and scaled by 1 / (1 - p), or zero, about p of them
        // zero, and the backward pass drops the same ones.
        let p = 0.25;
        let y = highway_dropout(&z, &t, &h, p, true);
        let kept = y.ne(0.0).to_kind(Kind::Float);
        let dropped = 1.0 - kept.mean(Kind::Float).double_value(&[]);
        assert!((dropped - p).abs() < 0.01, "dropped {dropped}");
        let scaled = &reference * &kept / (1.0 - p);
        assert!((&y - scaled).abs().max().double_value(&[]) < 1e-5);
        let gh = grads(&y).remove(2);
        let want: Tensor = &up * (1.0 - &t) * &kept / (1.0 - p);
        assert!((gh - want).abs().max().double_value(&[]) < 1e-5);
        // The mask is a function of the seed drawn from torch's generator: the same seed, the
        // same mask; another seed, another. (Seeding the global generator twice and comparing
        // would race with the other tests that draw from it on their own threads.)
        let a = highway_op(&z, &t, &h, p, 9);
        assert!(a.equal(&highway_op(&z, &t, &h, p, 9)));
        if available() {
            assert!(!a.equal(&highway_op(&z, &t, &h, p, 10)));
        }
        assert!(!a.equal(&highway_dropout(&z, &t, &h, p, true)));
    }

    #[test]
    fn a_nan_reaches_the_output() {
        let x = Tensor::ones([2, 6, 1], (Kind::Float, Device::Cpu));
        let _ = x.get(1).get(2).fill_(f64::NAN);
        let ws = Tensor::ones([3, 1, 2, 1], (Kind::Float, Device::Cpu));
        let filters = [Filters {
            f: 2,
            ws: &ws,
            bias: None,
        }];
        let y = tch::no_grad(|| max_over_time(&x, &filters));
        assert_eq!(y.get(0).double_value(&[0]), 2.0);
        assert!(y.get(1).double_value(&[0]).is_nan());
    }
}
