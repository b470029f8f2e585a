//! Arrow data across the boundary: results out as `pyarrow.Table`, breakdown tables in.

use arrow_array::RecordBatch;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::PyTable;

use crate::errors;

/// What `run` accepts as a source, for error messages.
pub const ACCEPTED: &str = "an object with `__arrow_c_stream__` or `__arrow_c_array__` \
    (pyarrow Table, RecordBatch or RecordBatchReader, polars DataFrame, DuckDB relation, ...)";

/// One result batch as a `pyarrow.Table` (schema metadata kept).
pub fn to_pyarrow<'py>(py: Python<'py>, batch: RecordBatch) -> PyResult<Bound<'py, PyAny>> {
    let schema = batch.schema();
    PyTable::try_new(vec![batch], schema)?.into_pyarrow(py)
}

/// Any Arrow stream or array object as an [`AnyRecordBatch`], or a `TypeError` naming
/// the object's type and what is accepted.
pub fn arrow_source(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<AnyRecordBatch> {
    let has = |name: &str| obj.hasattr(name).unwrap_or(false);
    if !has("__arrow_c_stream__") && !has("__arrow_c_array__") {
        let ty = obj.get_type();
        let name = ty.fully_qualified_name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        return Err(PyTypeError::new_err(format!("{what} of type `{name}` is not Arrow data; expected {ACCEPTED}")));
    }
    obj.extract::<AnyRecordBatch>()
}

/// Reads every batch of a (small) Arrow object, e.g. a breakdown table.
pub fn collect_batches(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<RecordBatch>> {
    let reader = arrow_source(obj, what)?.into_reader()?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| errors::to_py(userops_core::UserOpsError::Arrow(e)))
}
