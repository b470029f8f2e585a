//! What counts as activity (the `activity_events` parameter of every plugin of this crate).

use userops_core::{Events, Result, UserOpsError};

/// Which rows are activity: every row (`None`, the default) or the rows whose event
/// name is one of `activity_events` (a row with a null event name matches none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityFilter {
    events: Option<Vec<String>>,
}

impl ActivityFilter {
    /// A filter from the `activity_events` parameter; an empty list is an error naming it.
    pub fn new(plugin: &str, events: &Option<Vec<String>>) -> Result<Self> {
        if let Some(list) = events {
            if list.is_empty() {
                return Err(UserOpsError::param(
                    plugin,
                    "activity_events",
                    "must name at least one event, or be null for any event",
                ));
            }
        }
        Ok(ActivityFilter { events: events.clone() })
    }

    /// Whether the filter reads event names (so the event column is required).
    pub fn needs_events(&self) -> bool {
        self.events.is_some()
    }

    /// A per-row test for one batch: `None` when every row is activity.
    pub fn table(&self, events: &Events) -> Option<Vec<bool>> {
        let names = self.events.as_ref()?;
        Some(events.event.as_ref().map(|e| e.membership(names)).unwrap_or_default())
    }

    /// Whether row `row` is activity, given the batch's [`ActivityFilter::table`].
    pub fn is_activity(table: &Option<Vec<bool>>, events: &Events, row: usize) -> bool {
        match (table, &events.event) {
            (None, _) => true,
            (Some(t), Some(e)) => e.is_member(t, row),
            (Some(_), None) => false,
        }
    }
}
