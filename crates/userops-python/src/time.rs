//! Calendar helpers for the Python side: a bare `as_of` date means the end of that
//! local day (SPEC §1).

use pyo3::prelude::*;
use userops_core::TimeZone;

use crate::call::call;

/// The first microsecond (UTC) of local day `days_since_epoch` in zone `tz`.
#[pyfunction]
pub fn day_start(py: Python<'_>, days_since_epoch: i32, tz: &str) -> PyResult<i64> {
    call(py, |_| Ok(TimeZone::parse(tz)?.day_start(days_since_epoch)))
}

/// The last microsecond (UTC) of local day `days_since_epoch` in zone `tz`.
#[pyfunction]
pub fn day_end(py: Python<'_>, days_since_epoch: i32, tz: &str) -> PyResult<i64> {
    call(py, |_| Ok(TimeZone::parse(tz)?.day_end(days_since_epoch)))
}

/// The canonical name of a time zone (`UTC`, an IANA name or `+08:00`); an unknown
/// zone is a `ParameterError`.
#[pyfunction]
pub fn tz_name(py: Python<'_>, tz: &str) -> PyResult<String> {
    call(py, |_| Ok(TimeZone::parse(tz)?.name()))
}
