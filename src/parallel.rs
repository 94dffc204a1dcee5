//! One small work pool for the stages that do many independent jobs
//! (downloads, package decompression): scoped threads taking indexes
//! from a shared counter, results in input order, and on failure no new
//! job starts. Of the failures seen, the one earliest in the given order
//! is returned, so the error a user sees does not depend on timing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Run `task(i)` for every `i` in `order` (indexes below `len`, each
/// once) on up to `jobs` threads; the results, indexed like `0..len`.
pub fn run<T, E>(
    len: usize,
    order: &[usize],
    jobs: usize,
    task: impl Fn(usize) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E>
where
    T: Send,
    E: Send,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<T>>> =
        Mutex::new((0..len).map(|_| None).collect());
    // Errors by position in `order`.
    let errors: Mutex<BTreeMap<usize, E>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(order.len().max(1)) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = order.get(at) else { return };
                match task(i) {
                    Ok(t) => {
                        if let Some(slot) = lock(&results).get_mut(i) {
                            *slot = Some(t);
                        }
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        lock(&errors).insert(at, e);
                        return;
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some((_, e)) = errors.into_iter().next() {
        return Err(e);
    }
    // No error means every job ran and every slot is set.
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(results.into_iter().flatten().collect())
}

/// A lock that a panicking job did not poison for the others.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_input_order_earliest_error_wins() {
        let order = [2, 0, 1, 3];
        let out: Result<Vec<usize>, String> = run(4, &order, 3, |i| Ok(i * 10));
        assert_eq!(out.unwrap(), [0, 10, 20, 30]);
        let out: Result<Vec<usize>, usize> =
            run(
                4,
                &order,
                1,
                |i| {
                    if i == 0 || i == 3 {
                        Err(i)
                    } else {
                        Ok(i)
                    }
                },
            );
        // One job at a time: index 2 runs, then 0 fails and nothing more
        // starts.
        assert_eq!(out, Err(0));
        let empty: Result<Vec<u8>, ()> = run(0, &[], 4, |_| Ok(0));
        assert_eq!(empty, Ok(vec![]));
    }
}
