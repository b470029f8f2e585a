//! `run`: one pass of any set of registered plugins over an Arrow source.

use std::collections::HashMap;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use userops_core::{
    Analysis, Breakdown, Column, ColumnNames, Partial, PluginSpec, Registry, RunOptions, ScanContext, TimeZone,
};

use crate::call::{call, Interrupt};
use crate::convert::{arrow_source, collect_batches, to_pyarrow};
use crate::errors::parameter;
use crate::progress::Reporter;

/// Every column role, comma separated, for messages.
fn roles() -> String {
    Column::ALL.iter().map(|c| c.role()).collect::<Vec<_>>().join(", ")
}

/// The caller's column names from a `{role: name}` dict.
fn column_names(columns: Option<HashMap<String, String>>) -> PyResult<ColumnNames> {
    let mut names = ColumnNames::default();
    for (role, name) in columns.unwrap_or_default() {
        let slot = match role.as_str() {
            "user_id" => &mut names.user_id,
            "ts" => &mut names.ts,
            "event" => &mut names.event,
            "amount" => &mut names.amount,
            "channel" => &mut names.channel,
            "referrer_id" => &mut names.referrer_id,
            _ => return Err(parameter(format!("columns: unknown column role `{role}`; roles: {}", roles()))),
        };
        *slot = name;
    }
    Ok(names)
}

/// One plugin spec from its dict `{name, params (JSON), output, breakdown}`.
fn plugin_spec(spec: &Bound<'_, PyDict>) -> PyResult<PluginSpec> {
    let name: String =
        spec.get_item("name")?.ok_or_else(|| parameter("plugins: every plugin spec needs a `name`"))?.extract()?;
    let params = match spec.get_item("params")? {
        None => serde_json::Value::Null,
        Some(p) if p.is_none() => serde_json::Value::Null,
        Some(p) => {
            let text: String = p.extract()?;
            serde_json::from_str(&text)
                .map_err(|e| parameter(format!("plugin `{name}`: parameters are not valid JSON: {e}")))?
        }
    };
    let output = match spec.get_item("output")? {
        Some(o) if !o.is_none() => o.extract()?,
        _ => name.clone(),
    };
    let breakdown = match spec.get_item("breakdown")? {
        None => None,
        Some(b) if b.is_none() => None,
        Some(b) if b.is_instance_of::<PyString>() => Some(Breakdown::Segmenter(b.extract()?)),
        Some(b) => Some(Breakdown::Table(collect_batches(&b, &format!("the breakdown of `{output}`"))?)),
    };
    Ok(PluginSpec { name, params, output, breakdown })
}

pub(crate) fn analysis(
    py: Python<'_>,
    plugins: &[Bound<'_, PyDict>],
    columns: Option<HashMap<String, String>>,
    tz: &str,
    as_of: Option<i64>,
    threads: usize,
) -> PyResult<Analysis> {
    let specs = plugins.iter().map(plugin_spec).collect::<PyResult<Vec<_>>>()?;
    let columns = column_names(columns)?;
    call(py, |_| {
        let scan = ScanContext { tz: TimeZone::parse(tz)?, as_of };
        Analysis::new(Registry::global(), specs, RunOptions { columns, scan, threads })
    })
}

/// A reader that ends with an error once the caller pressed Ctrl-C, so the scan stops
/// at its next batch.
pub(crate) struct Interruptible {
    pub(crate) inner: Box<dyn RecordBatchReader + Send>,
    pub(crate) interrupt: Interrupt,
}

impl Iterator for Interruptible {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.interrupt.is_set() {
            return Some(Err(ArrowError::ExternalError("interrupted by the user".into())));
        }
        self.inner.next()
    }
}

impl RecordBatchReader for Interruptible {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

/// Scans `source` with `analysis` on all workers into one partial result: the one
/// scanning path of `run` and `partial` (interpreter released, Ctrl-C honoured,
/// progress reported to `progress(rows, batches)`).
pub(crate) fn scan_source(
    py: Python<'_>,
    analysis: &Analysis,
    source: &Bound<'_, PyAny>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Partial> {
    if let Some(p) = &progress {
        if !p.bind(py).is_callable() {
            return Err(PyTypeError::new_err("progress must be a callable (rows, batches) or None"));
        }
    }
    let reader = arrow_source(source, "events")?.into_reader()?;
    let reporter = progress.map(Reporter::new);
    let partial = call(py, |interrupt| {
        let reader = Box::new(Interruptible { inner: reader, interrupt: interrupt.clone() });
        match &reporter {
            Some(r) => analysis.scan(reader, Some(&|p| r.report(p))),
            None => analysis.scan(reader, None),
        }
    })?;
    if let Some(r) = &reporter {
        r.finish(py);
    }
    Ok(partial)
}

/// Runs `plugins` over `source` in one pass; returns `{output name: pyarrow.Table}`.
#[pyfunction]
#[pyo3(signature = (source, plugins, *, columns=None, tz="UTC", as_of=None, threads=0, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn run<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    plugins: Vec<Bound<'py, PyDict>>,
    columns: Option<HashMap<String, String>>,
    tz: &str,
    as_of: Option<i64>,
    threads: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let analysis = analysis(py, &plugins, columns, tz, as_of, threads)?;
    let partial = scan_source(py, &analysis, source, progress)?;
    let results = call(py, |_| analysis.finish(partial))?;
    let out = PyDict::new(py);
    for (name, batch) in results {
        out.set_item(name, to_pyarrow(py, batch)?)?;
    }
    Ok(out)
}

/// The caller's names of the columns a run of `plugins` reads:
/// `{"required": [...], "optional": [...]}` (a Parquet reader reads only these).
#[pyfunction]
#[pyo3(signature = (plugins, *, columns=None))]
pub fn needed_columns<'py>(
    py: Python<'py>,
    plugins: Vec<Bound<'py, PyDict>>,
    columns: Option<HashMap<String, String>>,
) -> PyResult<Bound<'py, PyDict>> {
    let analysis = analysis(py, &plugins, columns, "UTC", None, 0)?;
    let needs = analysis.needs();
    let names = &analysis.options().columns;
    let list = |set: userops_core::ColumnSet| set.iter().map(|c| names.name(c).to_string()).collect::<Vec<_>>();
    let out = PyDict::new(py);
    out.set_item("required", list(needs.required))?;
    out.set_item("optional", list(needs.optional))?;
    Ok(out)
}
