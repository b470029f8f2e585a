//! `userops._native`: the pyo3 extension module behind the `userops` Python package.
//!
//! Every call into the Rust core goes through [`call::call`] (interpreter released,
//! panics caught, errors mapped to the exceptions of [`errors`]). The Python package
//! (`python/userops`) wraps these functions with typed, documented ones.

mod call;
mod convert;
mod datasets;
mod errors;
mod malloc;
mod partial;
mod progress;
mod registry;
mod run;
mod time;

// Name every plugin crate so the linker keeps its `inventory` registrations.
use userops_aarrr as _;
use userops_lifecycle as _;
use userops_rfm as _;
use userops_viral as _;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    malloc::tune();
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(run::run, m)?)?;
    m.add_function(wrap_pyfunction!(run::needed_columns, m)?)?;
    m.add_function(wrap_pyfunction!(partial::partial, m)?)?;
    m.add_function(wrap_pyfunction!(partial::merge, m)?)?;
    m.add_function(wrap_pyfunction!(partial::finish, m)?)?;
    m.add_function(wrap_pyfunction!(registry::plugins, m)?)?;
    m.add_function(wrap_pyfunction!(registry::registered_names, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::shop, m)?)?;
    m.add_function(wrap_pyfunction!(time::day_start, m)?)?;
    m.add_function(wrap_pyfunction!(time::day_end, m)?)?;
    m.add_function(wrap_pyfunction!(time::tz_name, m)?)?;
    m.add_function(wrap_pyfunction!(errors::_test_panic, m)?)?;
    Ok(())
}
