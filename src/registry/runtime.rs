//! The one async runtime chartpin starts: registry work (verify, resolve,
//! release's verification, `pin --resolve`) runs on it from synchronous use
//! cases. Two worker threads: requests are I/O-bound and per-host limits,
//! not threads, bound concurrency.

/// Run `future` to completion on a fresh two-thread runtime.
pub fn block_on<F: std::future::Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}
