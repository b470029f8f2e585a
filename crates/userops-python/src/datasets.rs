//! Synthetic data sets.

use pyo3::prelude::*;

use crate::call::call;
use crate::convert::to_pyarrow;

/// The demo shop's event log for `users` users, deterministic in `seed`; `activity`
/// multiplies every user's visit rate.
#[pyfunction]
#[pyo3(signature = (users=50_000, seed=0, activity=1.0))]
pub fn shop(py: Python<'_>, users: u64, seed: u64, activity: f64) -> PyResult<Bound<'_, PyAny>> {
    let batch = call(py, |_| userops_core::datasets::shop_with_activity(users, seed, activity))?;
    to_pyarrow(py, batch)
}
