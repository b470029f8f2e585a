//! The normalized columns (SPEC §1), the caller's names for them, and which ones a
//! plugin reads.

use serde::{Deserialize, Serialize};

/// One normalized input column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// Who: the user key.
    UserId,
    /// When: the event's instant.
    Ts,
    /// What: the event name.
    Event,
    /// Revenue of the event (negative for a refund).
    Amount,
    /// Acquisition channel.
    Channel,
    /// On a signup: the user who invited this one.
    ReferrerId,
}

impl Column {
    /// Every column, in schema order.
    pub const ALL: [Column; 6] =
        [Column::UserId, Column::Ts, Column::Event, Column::Amount, Column::Channel, Column::ReferrerId];

    /// The column's role name, which is also its default name in the input.
    pub fn role(self) -> &'static str {
        match self {
            Column::UserId => "user_id",
            Column::Ts => "ts",
            Column::Event => "event",
            Column::Amount => "amount",
            Column::Channel => "channel",
            Column::ReferrerId => "referrer_id",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`Column`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ColumnSet(u8);

impl ColumnSet {
    /// The empty set.
    pub const EMPTY: ColumnSet = ColumnSet(0);

    /// The set of the given columns.
    pub fn of(columns: &[Column]) -> Self {
        ColumnSet(columns.iter().fold(0, |bits, c| bits | c.bit()))
    }

    /// Whether `column` is in the set.
    pub fn contains(self, column: Column) -> bool {
        self.0 & column.bit() != 0
    }

    /// The union of two sets.
    pub fn union(self, other: ColumnSet) -> Self {
        ColumnSet(self.0 | other.0)
    }

    /// The columns in the set, in schema order.
    pub fn iter(self) -> impl Iterator<Item = Column> {
        Column::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

/// Which columns a plugin reads: required ones must be present in the input (or the
/// run fails with an error naming them); optional ones are read when present.
/// `user_id` and `ts` are always required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ColumnNeeds {
    /// Columns that must be in the input.
    pub required: ColumnSet,
    /// Columns read when present.
    pub optional: ColumnSet,
}

impl ColumnNeeds {
    /// Needs with the given required and optional columns (`user_id`, `ts` are implied).
    pub fn new(required: &[Column], optional: &[Column]) -> Self {
        ColumnNeeds {
            required: ColumnSet::of(required).union(ColumnSet::of(&[Column::UserId, Column::Ts])),
            optional: ColumnSet::of(optional),
        }
    }

    /// The needs of several plugins run together: a column required by any is required.
    pub fn union(self, other: ColumnNeeds) -> Self {
        ColumnNeeds { required: self.required.union(other.required), optional: self.optional.union(other.optional) }
    }
}

/// The caller's names for the normalized columns; each defaults to its role name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColumnNames {
    /// Name of the user key column.
    pub user_id: String,
    /// Name of the timestamp column.
    pub ts: String,
    /// Name of the event name column.
    pub event: String,
    /// Name of the amount column.
    pub amount: String,
    /// Name of the channel column.
    pub channel: String,
    /// Name of the referrer column.
    pub referrer_id: String,
}

impl Default for ColumnNames {
    fn default() -> Self {
        ColumnNames {
            user_id: "user_id".into(),
            ts: "ts".into(),
            event: "event".into(),
            amount: "amount".into(),
            channel: "channel".into(),
            referrer_id: "referrer_id".into(),
        }
    }
}

impl ColumnNames {
    /// The caller's name for `column`.
    pub fn name(&self, column: Column) -> &str {
        match column {
            Column::UserId => &self.user_id,
            Column::Ts => &self.ts,
            Column::Event => &self.event,
            Column::Amount => &self.amount,
            Column::Channel => &self.channel,
            Column::ReferrerId => &self.referrer_id,
        }
    }
}
