//! The exception hierarchy of `userops` and the mapping from [`UserOpsError`].
//!
//! ```text
//! UserOpsError(Exception)
//! ├── ColumnError     missing column, unsupported type, mismatched key kinds
//! ├── ParameterError  bad parameter or option, unknown or duplicate plugin, bad breakdown
//! ├── DataError       non-finite or out-of-range amount, Arrow stream errors
//! ├── StateError      incompatible or unreadable partial states
//! └── InternalError   a bug in userops (including caught panics)
//! ```
//!
//! The types are created with `module = userops`, so they print as `userops.ColumnError`,
//! which is also where users import them from.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use userops_core::UserOpsError as CoreError;

create_exception!(userops, UserOpsError, PyException, "Base class of every error raised by userops.");
create_exception!(
    userops,
    ColumnError,
    UserOpsError,
    "An input column is missing, of an unsupported type, or of the wrong key kind."
);
create_exception!(
    userops,
    ParameterError,
    UserOpsError,
    "A plugin parameter or run option is wrong, or a plugin name is unknown."
);
create_exception!(
    userops,
    DataError,
    UserOpsError,
    "The input data cannot be used as is (non-finite amounts, unreadable Arrow stream)."
);
create_exception!(userops, StateError, UserOpsError, "Partial states that cannot be read or merged.");
create_exception!(userops, InternalError, UserOpsError, "A bug in userops; please report it with the message.");

/// The Python exception for a core error, carrying the core's message.
pub fn to_py(error: CoreError) -> PyErr {
    // An error from a Python-backed Arrow stream carries the original Python exception.
    if let CoreError::Arrow(arrow_schema::ArrowError::ExternalError(inner)) = error {
        return match inner.downcast::<PyErr>() {
            Ok(err) => *err,
            Err(other) => DataError::new_err(format!("arrow: {other}")),
        };
    }
    let message = error.to_string();
    match error {
        CoreError::MissingColumn { .. } | CoreError::UnsupportedType { .. } | CoreError::MismatchedKeyKind { .. } => {
            ColumnError::new_err(message)
        }
        CoreError::InvalidParameter { .. }
        | CoreError::InvalidOption { .. }
        | CoreError::UnknownPlugin { .. }
        | CoreError::DuplicatePlugin { .. }
        | CoreError::InvalidBreakdown(_) => ParameterError::new_err(message),
        CoreError::NonFiniteAmount { .. } | CoreError::AmountOutOfRange { .. } | CoreError::Arrow(_) => {
            DataError::new_err(message)
        }
        CoreError::IncompatibleStates(_) | CoreError::Decode(_) => StateError::new_err(message),
        CoreError::Internal(_) => InternalError::new_err(message),
    }
}

/// The Python exception for a panic caught at the boundary.
pub fn panic_to_py(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_string());
    InternalError::new_err(format!("internal error, please report: a panic in the Rust core: {what}"))
}

/// A [`ParameterError`] raised by the binding itself (bad arguments from Python).
pub fn parameter(message: impl Into<String>) -> PyErr {
    ParameterError::new_err(message.into())
}

/// Panics inside [`crate::call::call`], for the tests of the panic boundary.
#[pyfunction]
pub fn _test_panic(py: Python<'_>, message: &str) -> PyResult<()> {
    crate::call::call(py, |_| -> userops_core::Result<()> { panic!("{message}") })
}

/// Adds the exception types to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("UserOpsError", py.get_type::<UserOpsError>())?;
    m.add("ColumnError", py.get_type::<ColumnError>())?;
    m.add("ParameterError", py.get_type::<ParameterError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("StateError", py.get_type::<StateError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}
