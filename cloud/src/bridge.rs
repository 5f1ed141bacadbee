//! Runs the async Google clients behind the blocking seams (warehouse, sink).
//!
//! The warehouse and sink traits are blocking: roles call them from `spawn_blocking`, and the
//! embedded default from plain threads. A bridge owns a small runtime and hands each future to
//! it, waiting on a channel, so a call works from any thread, in or out of a runtime.

use std::future::Future;

/// A private runtime for the async clients of one backend.
pub struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    /// A runtime with `threads` workers named after `name`.
    pub fn new(name: &str, threads: usize) -> std::io::Result<Bridge> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(format!("jetstream-{name}"))
            .enable_all()
            .build()?;
        Ok(Bridge {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` on the bridge's runtime and waits for its output. `None` when the runtime
    /// dropped the future (it is shutting down).
    pub fn run<F>(&self, future: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self.runtime.as_ref()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().ok()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime; this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_futures_from_plain_threads_and_from_inside_another_runtime() {
        let bridge = std::sync::Arc::new(Bridge::new("test", 1).unwrap());
        assert_eq!(bridge.run(async { 2 + 2 }), Some(4));
        let outer = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let inner = bridge.clone();
        let got = outer.block_on(async move {
            tokio::task::spawn_blocking(move || inner.run(async { "ok" }))
                .await
                .unwrap()
        });
        assert_eq!(got, Some("ok"));
        // Dropped inside an async context without panicking.
        outer.block_on(async move { drop(bridge) });
    }
}
