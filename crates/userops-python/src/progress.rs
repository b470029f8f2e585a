//! Progress reports from the worker threads to a Python callable `(rows, batches)`.
//!
//! Workers report after every slice; this forwards at most one report per
//! [`INTERVAL`] (the others are dropped, never queued), attaching to the interpreter
//! only for the call. An exception raised by the callable is printed as "unraisable"
//! and silences it for the rest of the run: it never fails or crashes the run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use userops_core::Progress;

/// The shortest time between two calls of the callable.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Forwards throttled progress to a Python callable.
pub struct Reporter {
    callback: Py<PyAny>,
    last_call: Mutex<Option<Instant>>,
    rows: AtomicU64,
    batches: AtomicU64,
    reported_rows: AtomicU64,
    silenced: AtomicBool,
}

impl Reporter {
    /// A reporter calling `callback(rows, batches)`.
    pub fn new(callback: Py<PyAny>) -> Self {
        Reporter {
            callback,
            last_call: Mutex::new(None),
            rows: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            reported_rows: AtomicU64::new(0),
            silenced: AtomicBool::new(false),
        }
    }

    /// Called by the engine from any worker thread, with the interpreter released.
    pub fn report(&self, progress: Progress) {
        self.rows.fetch_max(progress.rows, Ordering::Relaxed);
        self.batches.fetch_max(progress.batches, Ordering::Relaxed);
        if self.silenced.load(Ordering::Relaxed) {
            return;
        }
        {
            // Another worker deciding right now: drop this report.
            let Ok(mut last) = self.last_call.try_lock() else { return };
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        Python::attach(|py| self.call(py));
    }

    /// After the scan (attached): one last call with the final totals, if the last call
    /// did not already report them.
    pub fn finish(&self, py: Python<'_>) {
        if self.rows.load(Ordering::Relaxed) > self.reported_rows.load(Ordering::Relaxed) {
            self.call(py);
        }
    }

    fn call(&self, py: Python<'_>) {
        if self.silenced.load(Ordering::Relaxed) {
            return;
        }
        let rows = self.rows.load(Ordering::Relaxed);
        let batches = self.batches.load(Ordering::Relaxed);
        self.reported_rows.fetch_max(rows, Ordering::Relaxed);
        if let Err(err) = self.callback.call1(py, (rows, batches)) {
            self.silenced.store(true, Ordering::Relaxed);
            err.write_unraisable(py, Some(self.callback.bind(py)));
        }
    }
}
