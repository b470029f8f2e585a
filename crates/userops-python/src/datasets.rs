//! Synthetic data sets.

use pyo3::prelude::*;

use crate::call::call;
use crate::convert::to_pyarrow;

/// The demo shop's event log for `users` users, deterministic in `seed`.
#[pyfunction]
#[pyo3(signature = (users=50_000, seed=0))]
pub fn shop(py: Python<'_>, users: u64, seed: u64) -> PyResult<Bound<'_, PyAny>> {
    let batch = call(py, |_| Ok(userops_core::datasets::shop(users, seed)))?;
    to_pyarrow(py, batch)
}
