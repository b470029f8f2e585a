//! The state shared by the windowed cohort metrics (paying conversion, activation): per
//! user, the acquisition and the earliest target row (a purchase, or an activation
//! event) at or after it. Each metric is a [`WindowReport`] that finishes this state.
//!
//! A window "N days after acquisition" is `[a, a + N days]` (SPEC §1): a target row
//! before `a` never counts, and a user acquired less than N days before D is in
//! progress (left out of the rate, counted in `in_progress`).

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};
use userops_core::time::MICROS_PER_DAY;
use userops_core::{
    decode_state, downcast_state, encode_state, Column, ColumnNeeds, Events, FinishContext, PartialState, Period,
    Plugin, Result, RevenueRow, ScanContext, UserRemap,
};

use crate::acquired::{Acquired, AcquiredUser, AcquisitionConfig};
use crate::cohort::{FirstFrom, PeriodOf};

/// Which rows a windowed metric waits for after acquisition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Purchases of this revenue event (amount ≥ 0 or null; refunds never count).
    Purchases(String),
    /// Rows of this event.
    Event(String),
}

/// Per user: the acquisition, and the earliest target row at or after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Windowed {
    /// The acquisitions.
    pub acquired: Acquired,
    /// Target rows, per user.
    pub first: FirstFrom,
}

impl Windowed {
    fn update(&mut self, events: &Events, target: &Target) {
        self.acquired.update(events);
        self.first.grow(events.user_count);
        match target {
            Target::Purchases(name) => {
                let Some(code) = events.event_code(name) else { return };
                for row in 0..events.len() {
                    if let Some(RevenueRow::Purchase(_)) = events.revenue_row(row, Some(code)) {
                        let user = events.user[row];
                        self.first.insert(user, events.ts[row], self.acquired.ts_or_max(user));
                    }
                }
            }
            Target::Event(name) => {
                let Some(code) = events.event_code(name) else { return };
                for row in 0..events.len() {
                    if events.event_at(row) == code {
                        let user = events.user[row];
                        self.first.insert(user, events.ts[row], self.acquired.ts_or_max(user));
                    }
                }
            }
        }
    }

    fn merge(&mut self, other: Windowed, remap: &UserRemap) -> Result<()> {
        self.acquired.merge(other.acquired, remap)?;
        self.first.merge_from(other.first, remap);
        self.settle();
        Ok(())
    }

    /// Moves the target rows at or after each user's acquisition known so far out of
    /// the pending ones.
    fn settle(&mut self) {
        let acquired = &self.acquired;
        self.first.settle(|user| acquired.ts_or_max(user));
    }

    /// The earliest target row of `user` at or after its acquisition (the state is
    /// settled before [`WindowReport::finish`]).
    pub fn first_after(&self, user: &AcquiredUser) -> Option<i64> {
        self.first.first_from(user.user)
    }
}

/// Where a user stands in a window of `days` days after acquisition, as of `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The window has not closed by D: left out of the rate.
    InProgress,
    /// The window closed without a target row.
    Missed,
    /// A target row `micros` after acquisition, within the window.
    Reached(i64),
}

/// The outcome of `user` in a window of `days` days, given its first target row.
pub fn outcome(user: &AcquiredUser, first: Option<i64>, days: u32, end: i64) -> Outcome {
    let window = days as i64 * MICROS_PER_DAY;
    if end - user.ts < window {
        return Outcome::InProgress;
    }
    match first {
        Some(t) if t - user.ts <= window => Outcome::Reached(t - user.ts),
        _ => Outcome::Missed,
    }
}

/// A windowed metric: its parameters and how it finishes the shared state.
pub trait WindowReport: Clone + Send + Sync + 'static {
    /// The registered name.
    const NAME: &'static str;
    /// The acquisition configuration.
    fn config(&self) -> AcquisitionConfig;
    /// The rows waited for.
    fn target(&self) -> Target;
    /// The cohort period.
    fn period(&self) -> Period;
    /// The result table.
    fn finish(&self, data: &Windowed, periods: &mut PeriodOf, ctx: &FinishContext<'_>) -> Result<RecordBatch>;
}

/// The plugin of a [`WindowReport`].
pub struct WindowPlugin<R>(pub R);

struct WindowState<R> {
    data: Windowed,
    report: R,
    periods: PeriodOf,
}

impl<R: WindowReport> Plugin for WindowPlugin<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn requires(&self) -> ColumnNeeds {
        let (mut required, mut optional) = self.0.config().columns();
        required.push(Column::Event);
        if let Target::Purchases(_) = self.0.target() {
            optional.push(Column::Amount); // without amounts, every row is a purchase
        }
        ColumnNeeds::new(&required, &optional)
    }

    fn new_state(&self, scan: &ScanContext) -> Box<dyn PartialState> {
        let data = Windowed { acquired: Acquired::new(self.0.config()), first: FirstFrom::default() };
        Box::new(WindowState { data, report: self.0.clone(), periods: PeriodOf::new(self.0.period(), &scan.tz) })
    }

    fn state_from_bytes(&self, bytes: &[u8], scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        let data: Windowed = decode_state(bytes)?;
        Ok(Box::new(WindowState { data, report: self.0.clone(), periods: PeriodOf::new(self.0.period(), &scan.tz) }))
    }
}

impl<R: WindowReport> PartialState for WindowState<R> {
    fn update(&mut self, events: &Events) -> Result<()> {
        self.data.update(events, &self.report.target());
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        self.data.merge(downcast_state::<WindowState<R>>(other)?.data, remap)
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.data)
    }

    fn finish(mut self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let WindowState { data, report, periods } = &mut *self;
        data.settle();
        report.finish(data, periods, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_closed_at_both_ends() {
        let user = AcquiredUser { user: 0, ts: 1_000, channel: 0, referrer: None };
        let day = MICROS_PER_DAY;
        assert_eq!(outcome(&user, Some(1_000 + 7 * day), 7, 1_000 + 7 * day), Outcome::Reached(7 * day));
        assert_eq!(outcome(&user, Some(1_001 + 7 * day), 7, 1_000 + 8 * day), Outcome::Missed);
        assert_eq!(outcome(&user, None, 7, 999 + 7 * day), Outcome::InProgress);
        assert_eq!(outcome(&user, Some(1_000), 0, 1_000), Outcome::Reached(0));
    }
}
