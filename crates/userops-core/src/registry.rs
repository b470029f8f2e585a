//! The plugin registry. A plugin crate declares a `const` [`Registration`] and submits
//! it with `inventory::submit!`; the registry lists every registration linked into the
//! binary, sorted by name. [`Registry::from_registrations`] builds one from an explicit
//! list instead (the `register_all` fallback where link-time collection is unavailable,
//! and the check that the linker dropped nothing).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use crate::error::{Result, UserOpsError};
use crate::plugin::{ParamInfo, Plugin, PluginKind};

/// A plugin's entry in the registry.
#[derive(Debug)]
pub struct Registration {
    /// The unique name callers use (`"rfm"`).
    pub name: &'static str,
    /// Metric or segmenter.
    pub kind: PluginKind,
    /// The crate that registered it (`env!("CARGO_PKG_NAME")`).
    pub crate_name: &'static str,
    /// One sentence on what it computes.
    pub description: &'static str,
    /// Its parameters, documented.
    pub params: &'static [ParamInfo],
    /// Its parameters with their defaults, as a JSON object.
    pub defaults: fn() -> serde_json::Value,
    /// Builds the plugin from a JSON parameters object (missing keys take defaults;
    /// unknown keys are an error naming them).
    pub build: fn(serde_json::Value) -> Result<Box<dyn Plugin>>,
    /// Extra parameter sets (JSON objects) that the generic law suite runs besides the
    /// defaults, so every mode of the plugin is checked.
    pub law_params: &'static [&'static str],
}

inventory::collect!(Registration);

/// A parameters struct's defaults as a JSON object, for [`Registration::defaults`]:
/// `defaults: default_params::<MyParams>`.
pub fn default_params<P: serde::Serialize + Default>() -> serde_json::Value {
    serde_json::to_value(P::default()).unwrap_or_default()
}

/// Parses a plugin's parameters: `null` means all defaults; an unknown key or a wrong
/// value is an error naming the parameter (`period: unknown variant `quarter`, ...`).
pub fn parse_params<P: DeserializeOwned>(plugin: &str, params: serde_json::Value) -> Result<P> {
    let params = if params.is_null() { serde_json::Value::Object(Default::default()) } else { params };
    serde_path_to_error::deserialize(params).map_err(|e| {
        let path = e.path().to_string();
        let parameter = if path.is_empty() || path == "." { "(parameters)".to_string() } else { path };
        UserOpsError::param(plugin, &parameter, e.into_inner().to_string())
    })
}

/// The registered plugins, by name.
#[derive(Debug, Default)]
pub struct Registry {
    by_name: BTreeMap<&'static str, &'static Registration>,
    duplicates: Vec<(&'static str, &'static str, &'static str)>,
}

impl Registry {
    /// The registry of every plugin linked into this binary (built once).
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(|| Registry::from_registrations(inventory::iter::<Registration>))
    }

    /// A registry of exactly the given registrations.
    pub fn from_registrations(registrations: impl IntoIterator<Item = &'static Registration>) -> Registry {
        let mut registry = Registry::default();
        for r in registrations {
            if let Some(first) = registry.by_name.get(r.name) {
                if !std::ptr::eq(*first, r) {
                    registry.duplicates.push((r.name, first.crate_name, r.crate_name));
                }
                continue;
            }
            registry.by_name.insert(r.name, r);
        }
        registry
    }

    /// An error if two registrations share a name.
    pub fn check(&self) -> Result<()> {
        match self.duplicates.first() {
            Some(&(name, first, second)) => {
                Err(UserOpsError::DuplicatePlugin { name: name.to_string(), first, second })
            }
            None => Ok(()),
        }
    }

    /// Every registration, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &'static Registration> + '_ {
        self.by_name.values().copied()
    }

    /// The sorted names, comma separated, for messages.
    pub fn names(&self) -> String {
        self.by_name.keys().copied().collect::<Vec<_>>().join(", ")
    }

    /// The registration named `name`.
    pub fn get(&self, name: &str) -> Result<&'static Registration> {
        self.check()?;
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| UserOpsError::UnknownPlugin { name: name.to_string(), known: self.names() })
    }

    /// Builds plugin `name` from its parameters.
    pub fn build(&self, name: &str, params: serde_json::Value) -> Result<Box<dyn Plugin>> {
        (self.get(name)?.build)(params)
    }
}
