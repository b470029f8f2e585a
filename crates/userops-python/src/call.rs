//! The one door from Python into the Rust core.
//!
//! Every native function that calls into `userops-core` (or a plugin) does so through
//! [`call`]. It
//! - releases the interpreter while Rust works, so other Python threads run and
//!   worker threads can call back into Python (progress, Python-backed streams);
//! - catches panics, so a bug becomes an `InternalError` instead of killing the kernel;
//! - maps [`userops_core::UserOpsError`] to the exception hierarchy of `errors.rs`;
//! - keeps Ctrl-C working: the work runs on a scoped thread while the calling thread
//!   waits, checking for signals every [`SIGNAL_POLL`]. On a `KeyboardInterrupt` it
//!   sets the [`Interrupt`] flag (long scans stop at their next batch), waits for the
//!   work to end, and raises the `KeyboardInterrupt`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pyo3::prelude::*;

use crate::errors;

/// How often the waiting thread checks for signals (Ctrl-C).
pub const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Set when the caller pressed Ctrl-C: long work checks it and stops early.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Whether the caller asked to stop.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `f` with the interpreter released, panics caught, errors mapped and Ctrl-C
/// honoured (see the module docs).
pub fn call<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce(&Interrupt) -> userops_core::Result<T> + Send,
    T: Send,
{
    let interrupt = Interrupt::default();
    let mut signal: Option<PyErr> = None;
    let finished = (Mutex::new(false), Condvar::new());
    let outcome = std::thread::scope(|scope| {
        let work = scope.spawn(|| {
            let outcome = catch_unwind(AssertUnwindSafe(|| f(&interrupt)));
            *finished.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            finished.1.notify_all();
            outcome
        });
        loop {
            let ended = py.detach(|| {
                let guard = finished.0.lock().unwrap_or_else(|e| e.into_inner());
                let (guard, _) =
                    finished.1.wait_timeout_while(guard, SIGNAL_POLL, |done| !*done).unwrap_or_else(|e| e.into_inner());
                *guard
            });
            if ended {
                break;
            }
            if let Err(err) = py.check_signals() {
                interrupt.set();
                signal.get_or_insert(err);
            }
        }
        py.detach(|| work.join())
    });
    if let Some(err) = signal {
        return Err(err);
    }
    match outcome {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(error))) => Err(errors::to_py(error)),
        Ok(Err(panic)) | Err(panic) => Err(errors::panic_to_py(panic)),
    }
}
