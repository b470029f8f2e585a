//! Partial states as a public format: `partial` (scan into state bytes), `merge` (any
//! number of states into one) and `finish` (state bytes into result tables).
//!
//! The bytes are the core's [`Analysis::partial_to_bytes`] format: a format version, the
//! plugins with their parameters, the scan options and column names, the user
//! dictionary, the scan counters and one section per plugin. A state is therefore
//! self-describing: `merge` and `finish` rebuild the analysis from the first state's
//! header ([`Analysis::from_partial_bytes`]) and refuse states of other plugins,
//! parameters, options or versions (`StateError`).
//!
//! `merge` is a streaming tree: states are decoded a chunk at a time (in parallel), each
//! chunk is tree-merged on all cores, and the chunk results go on a stack where the top
//! two merge while the lower has at most twice the users of the upper. States of
//! disjoint users thus merge as a balanced tree (a binary counter: each user is
//! re-absorbed O(log n) times, never O(n)), and states of the same users fold into the
//! accumulated state once it stops growing (each merge absorbs the smaller dictionary
//! into the larger). At most one chunk plus O(log n) merged partials are decoded at
//! once, whatever the number of states.

use std::collections::HashMap;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use userops_core::{Analysis, Breakdown, Partial, Registry, UserOpsError};

use crate::call::{call, Interrupt};
use crate::convert::{collect_batches, to_pyarrow};
use crate::errors::parameter;
use crate::run::{analysis, scan_source};

/// Scans `source` with `plugins` into one partial state (bytes). Breakdowns are not part
/// of a state: give them to `finish`.
#[pyfunction]
#[pyo3(signature = (source, plugins, *, columns=None, tz="UTC", as_of=None, threads=0, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn partial<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    plugins: Vec<Bound<'py, PyDict>>,
    columns: Option<HashMap<String, String>>,
    tz: &str,
    as_of: Option<i64>,
    threads: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    for spec in &plugins {
        if let Some(b) = spec.get_item("breakdown")? {
            if !b.is_none() {
                let output = spec.get_item("output")?.or(spec.get_item("name")?).map(|o| o.to_string());
                return Err(parameter(format!(
                    "plugin `{}`: a partial state carries no breakdown; give it when finishing: \
                     finish(state, breakdowns={{output name: segmenter output or table}})",
                    output.unwrap_or_default()
                )));
            }
        }
    }
    let analysis = analysis(py, &plugins, columns, tz, as_of, threads)?;
    let partial = scan_source(py, &analysis, source, progress)?;
    let bytes = call(py, move |_| analysis.partial_to_bytes(&partial))?;
    Ok(PyBytes::new(py, &bytes))
}

/// The bytes of every state, or a `TypeError` naming the first that is not `bytes`.
fn state_bytes<'a>(states: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<&'a [u8]>> {
    states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.cast::<PyBytes>().map(|b| b.as_bytes()).map_err(|_| {
                let name = s.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
                PyTypeError::new_err(format!("states[{i}] is a {name}, not the bytes of a partial state"))
            })
        })
        .collect()
}

/// Names the state (by its position) in a decoding or compatibility error.
fn at(i: usize, error: UserOpsError) -> UserOpsError {
    match error {
        UserOpsError::IncompatibleStates(m) => {
            UserOpsError::IncompatibleStates(format!("states[{i}] does not match states[0]: {m}"))
        }
        UserOpsError::Decode(m) => UserOpsError::Decode(format!("states[{i}]: {m}")),
        other => other,
    }
}

/// A merged partial and the number of states in it.
struct Merged {
    weight: usize,
    partial: Partial,
}

impl Merged {
    fn users(&self) -> usize {
        self.partial.users.len()
    }
}

/// Merges serialized states as a streaming balanced tree (see the module docs).
pub fn merge_states(states: &[&[u8]], interrupt: &Interrupt) -> userops_core::Result<Vec<u8>> {
    use rayon::prelude::*;
    let Some(first) = states.first() else {
        return Err(UserOpsError::InvalidOption { option: "states", message: "no partial states to merge".into() });
    };
    let (analysis, head) = Analysis::from_partial_bytes(Registry::global(), first).map_err(|e| at(0, e))?;
    let chunk = (2 * rayon::current_num_threads()).max(4);
    let mut stack: Vec<Merged> = vec![Merged { weight: 1, partial: head }];
    let mut offset = 1;
    for part in states[1..].chunks(chunk) {
        if interrupt.is_set() {
            return Err(UserOpsError::Internal("interrupted by the user".into()));
        }
        let decoded = part
            .par_iter()
            .enumerate()
            .map(|(j, b)| analysis.partial_from_bytes(b).map_err(|e| at(offset + j, e)))
            .collect::<userops_core::Result<Vec<_>>>()?;
        offset += part.len();
        let partial = analysis.merge_all(decoded)?;
        stack.push(Merged { weight: part.len(), partial });
        // Merge while the one below has at most twice the users of the top: states of
        // disjoint users then merge as a binary counter (a balanced tree), and states of
        // the same users fold into the accumulated one as soon as it stops growing.
        while stack.len() >= 2 && stack[stack.len() - 2].users() <= 2 * stack[stack.len() - 1].users() {
            let top = stack.pop().expect("two entries");
            let below = stack.pop().expect("two entries");
            let partial = analysis.merge(below.partial, top.partial)?;
            stack.push(Merged { weight: below.weight + top.weight, partial });
        }
    }
    let mut merged = stack.pop().expect("at least the first state");
    while let Some(below) = stack.pop() {
        merged =
            Merged { weight: below.weight + merged.weight, partial: analysis.merge(below.partial, merged.partial)? };
    }
    analysis.partial_to_bytes(&merged.partial)
}

/// Merges partial states (bytes) of one analysis into one state. States of different
/// plugins, parameters, options or format versions are a `StateError`.
#[pyfunction]
pub fn merge<'py>(py: Python<'py>, states: Vec<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyBytes>> {
    let slices = state_bytes(&states)?;
    let bytes = call(py, |interrupt| merge_states(&slices, interrupt))?;
    Ok(PyBytes::new(py, &bytes))
}

/// Finishes a partial state into `{output name: pyarrow.Table}`. `breakdowns` maps a
/// result name to the output name of a segmenter in the state, or to a table with
/// `user_id` and `segment` columns.
#[pyfunction]
#[pyo3(signature = (state, *, breakdowns=None))]
pub fn finish<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyAny>,
    breakdowns: Option<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let one = std::slice::from_ref(state);
    let bytes = state_bytes(one)?[0];
    let mut given: Vec<(String, Breakdown)> = Vec::new();
    if let Some(b) = breakdowns {
        for (key, value) in b.iter() {
            let output: String = key
                .extract()
                .map_err(|_| parameter(format!("breakdowns: keys are result names (strings), not {key}")))?;
            let breakdown = if value.is_instance_of::<PyString>() {
                Breakdown::Segmenter(value.extract()?)
            } else {
                Breakdown::Table(collect_batches(&value, &format!("the breakdown of `{output}`"))?)
            };
            given.push((output, breakdown));
        }
    }
    let results = call(py, move |_| {
        let (mut analysis, partial) = Analysis::from_partial_bytes(Registry::global(), bytes)?;
        for (output, breakdown) in given {
            analysis.set_breakdown(&output, breakdown)?;
        }
        analysis.finish(partial)
    })?;
    let out = PyDict::new(py);
    for (name, batch) in results {
        out.set_item(name, to_pyarrow(py, batch)?)?;
    }
    Ok(out)
}
