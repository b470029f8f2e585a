//! The normalized batch every plugin reads (DESIGN "Bind"): dense user indices,
//! timestamps as UTC microseconds, event names and channels as batch-local codes,
//! amounts as exact micro-units. Plugins never see the Arrow type zoo.

use serde::{Deserialize, Serialize};

/// The code of a null string in a [`CodedStrings`] column.
pub const NULL_CODE: u32 = u32::MAX;

/// A string column coded against a batch-local dictionary: `names[codes[row]]`, with
/// [`NULL_CODE`] for a null. Codes mean nothing outside their batch: a plugin resolves
/// the names it cares about once per batch with [`CodedStrings::code_of`], and stores
/// names (never codes) in its state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodedStrings {
    /// One code per row.
    pub codes: Vec<u32>,
    /// The distinct names of this batch.
    pub names: Vec<String>,
}

impl CodedStrings {
    /// The batch-local code of `name`, or `None` if no row of the batch has it.
    pub fn code_of(&self, name: &str) -> Option<u32> {
        self.names.iter().position(|n| n == name).map(|i| i as u32)
    }

    /// The name of row `row`, or `None` for a null.
    pub fn name_at(&self, row: usize) -> Option<&str> {
        let code = self.codes[row];
        (code != NULL_CODE).then(|| self.names[code as usize].as_str())
    }

    /// A per-code lookup table: `table[code]` says whether the code's name is in `names`.
    pub fn membership(&self, names: &[String]) -> Vec<bool> {
        self.names.iter().map(|n| names.iter().any(|m| m == n)).collect()
    }

    /// Whether row `row` has a name whose code is marked in a [`CodedStrings::membership`] table.
    pub fn is_member(&self, table: &[bool], row: usize) -> bool {
        let code = self.codes[row];
        code != NULL_CODE && table[code as usize]
    }
}

/// A row of the revenue event, classified as SPEC §1 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevenueRow {
    /// A purchase: amount ≥ 0 (micro-units), or null (0 added to sums).
    Purchase(i64),
    /// A refund: a negative amount (micro-units); lowers net revenue, is not a purchase.
    Refund(i64),
}

impl RevenueRow {
    /// The row's contribution to net revenue, in micro-units.
    pub fn net_micros(self) -> i64 {
        match self {
            RevenueRow::Purchase(m) | RevenueRow::Refund(m) => m,
        }
    }
}

/// One normalized batch. Every vector has one entry per valid row (rows with a null
/// user or timestamp, or after `as_of`, are already removed and counted).
#[derive(Debug, Clone, Default)]
pub struct Events {
    /// The row's user, as an index into the worker's [`crate::UserDict`].
    pub user: Vec<u32>,
    /// The row's instant, microseconds since the epoch, UTC.
    pub ts: Vec<i64>,
    /// The event name, when the run reads the event column.
    pub event: Option<CodedStrings>,
    /// The amount in micro-units (`None` for a null), when the run reads amounts.
    pub amount: Option<Vec<Option<i64>>>,
    /// The acquisition channel, when the input has one and the run reads it.
    pub channel: Option<CodedStrings>,
    /// The referrer's user index, when the input has a referrer column and the run reads it.
    pub referrer: Option<Vec<Option<u32>>>,
    /// The size of the worker's user dictionary after this batch: states indexed by
    /// user grow to this length.
    pub user_count: usize,
}

impl Events {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The batch-local code of event `name` (`None` if no row has it, or no event column).
    pub fn event_code(&self, name: &str) -> Option<u32> {
        self.event.as_ref().and_then(|e| e.code_of(name))
    }

    /// The event code of row `row` ([`NULL_CODE`] for a null or when events are not read).
    pub fn event_at(&self, row: usize) -> u32 {
        self.event.as_ref().map_or(NULL_CODE, |e| e.codes[row])
    }

    /// Classifies row `row` as a purchase or refund of the event with code `revenue_code`
    /// (from [`Events::event_code`]), or `None` if it is another event.
    pub fn revenue_row(&self, row: usize, revenue_code: Option<u32>) -> Option<RevenueRow> {
        let code = revenue_code?;
        if self.event_at(row) != code {
            return None;
        }
        match self.amount.as_ref().and_then(|a| a[row]) {
            Some(m) if m < 0 => Some(RevenueRow::Refund(m)),
            Some(m) => Some(RevenueRow::Purchase(m)),
            None => Some(RevenueRow::Purchase(0)),
        }
    }
}
