//! Links every plugin crate so the law suite in `tests/` sees all registrations.
//! Naming each crate keeps the linker from dropping their `inventory` submissions.

pub mod counting;

use userops_core::{Registration, Registry};

/// The plugin crates checked by the law suite, by their explicit registration lists.
pub fn explicit_registrations() -> Vec<&'static Registration> {
    let mut all = Vec::new();
    all.extend(userops_rfm::registrations());
    all.extend(userops_lifecycle::registrations());
    all.extend(userops_aarrr::registrations());
    all.extend(userops_viral::registrations());
    all.extend(userops_points::registrations());
    all
}

/// The registry of every plugin linked into this crate (collected by `inventory`).
pub fn registry() -> &'static Registry {
    Registry::global()
}
