//! A batch split between the processes of a job: which rows each takes, and putting the
//! pieces back together (rows gathered, sums added up).
use super::{fail, rank_and_world, with_group};
use tch::Tensor;

/// Rows `lo..hi` of `n` that rank `rank` of `world` takes: ceil(n / world) rows each, in rank
/// order, so the last ranks of a short batch may take none.
pub fn shard_range(n: usize, rank: usize, world: usize) -> (usize, usize) {
    let per = n.div_ceil(world.max(1));
    ((rank * per).min(n), ((rank + 1) * per).min(n))
}

/// This process's rows `lo..hi` of a batch of `whole` rows and the number of processes, when
/// the batch is split between the processes of a job: none outside a job, or when some
/// process would get no row (every process then takes the whole batch).
pub fn my_rows(whole: usize) -> Option<(usize, usize, usize)> {
    let (rank, world) = rank_and_world();
    if world == 1 || (world - 1) * whole.div_ceil(world) >= whole {
        return None;
    }
    let (lo, hi) = shard_range(whole, rank, world);
    Some((lo, hi, world))
}

/// The rows of a batch of `whole` rows split by [`shard_range`] (this process holds `part`,
/// its rows), gathered in rank order on every process; `part` itself outside a group. A
/// failed collective is recorded ([`fail`]); the process then goes on alone.
pub fn gather_rows(part: &Tensor, whole: i64) -> Tensor {
    let Some(world) = with_group(|g| g.world) else {
        return alone(part, whole);
    };
    let per = (whole as usize).div_ceil(world) as i64;
    let mut shape = part.size();
    shape[0] = per - shape[0];
    let pad = part.new_zeros(shape.as_slice(), (part.kind(), part.device()));
    let padded = Tensor::cat(&[part, &pad], 0);
    let all = match with_group(|g| g.all_gather(&padded)) {
        Some(Ok(all)) => all, // [world, per, ...]
        failed => {
            if let Some(Err(e)) = failed {
                fail(&e);
            }
            return alone(part, whole);
        }
    };
    let mut rows = all.size()[2..].to_vec();
    rows.insert(0, world as i64 * per);
    all.reshape(rows.as_slice()).narrow(0, 0, whole)
}

/// A batch of `whole` rows from a process alone (outside a group, or after a failed
/// collective): its own rows first, zeros for the rest.
fn alone(part: &Tensor, whole: i64) -> Tensor {
    let n = part.size()[0];
    if n == whole {
        return part.shallow_clone();
    }
    let mut shape = part.size();
    shape[0] = whole;
    let rows = part.new_zeros(shape.as_slice(), (part.kind(), part.device()));
    let k = n.min(whole);
    rows.narrow(0, 0, k).copy_(&part.narrow(0, 0, k));
    rows
}

/// The sums over the processes of `values` (float), as f64; the values themselves outside a
/// group. A failed collective is recorded ([`fail`]): the values themselves stand.
pub fn sum_all<const N: usize>(values: [f64; N]) -> [f64; N] {
    let v = sum_each(&values);
    std::array::from_fn(|i| v[i])
}

/// [`sum_all`] of a slice of values.
pub fn sum_each(values: &[f64]) -> Vec<f64> {
    let mut t = Tensor::from_slice(values);
    if let Some(Err(e)) = with_group(|g| g.all_reduce_sum(&mut t)) {
        fail(&e);
    }
    Vec::<f64>::try_from(&t).expect("f64 sums")
}
