//! What plugins this build has.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use userops_core::Registry;

use crate::call::call;

struct Listed {
    name: &'static str,
    kind: &'static str,
    crate_name: &'static str,
    description: &'static str,
    parameters: String,
    params: Vec<(&'static str, &'static str)>,
    breakdown: bool,
}

/// Every registered plugin: name, kind, crate, description, parameters (JSON object of
/// the defaults), params (list of `{name, doc}`) and whether it takes a breakdown.
#[pyfunction]
pub fn plugins(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let listed = call(py, |_| {
        let registry = Registry::global();
        registry.check()?;
        registry
            .iter()
            .map(|r| {
                Ok(Listed {
                    name: r.name,
                    kind: r.kind.as_str(),
                    crate_name: r.crate_name,
                    description: r.description,
                    parameters: (r.defaults)().to_string(),
                    params: r.params.iter().map(|p| (p.name, p.doc)).collect(),
                    breakdown: (r.build)(serde_json::Value::Null)?.supports_breakdown(),
                })
            })
            .collect::<userops_core::Result<Vec<_>>>()
    })?;
    listed
        .into_iter()
        .map(|l| {
            let d = PyDict::new(py);
            d.set_item("name", l.name)?;
            d.set_item("kind", l.kind)?;
            d.set_item("crate", l.crate_name)?;
            d.set_item("description", l.description)?;
            d.set_item("parameters", l.parameters)?;
            let params = l
                .params
                .into_iter()
                .map(|(name, doc)| {
                    let p = PyDict::new(py);
                    p.set_item("name", name)?;
                    p.set_item("doc", doc)?;
                    Ok(p)
                })
                .collect::<PyResult<Vec<_>>>()?;
            d.set_item("params", params)?;
            d.set_item("breakdown", l.breakdown)?;
            Ok(d)
        })
        .collect()
}

/// The sorted names of the registered plugins.
#[pyfunction]
pub fn registered_names(py: Python<'_>) -> PyResult<Vec<String>> {
    call(py, |_| Ok(Registry::global().iter().map(|r| r.name.to_string()).collect()))
}
