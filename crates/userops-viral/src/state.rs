//! The one state every plugin of this crate shares (SPEC §2 and §10): per user, the
//! first acquisition instant with every acquisition-row candidate tied at it; the
//! invite rows that can still fall in their user's invite window; net revenue.
//!
//! ```text
//!  row ─▶ acquisition event? ─▶ offer(ts, channel, referrer)   keep the minimum (ts, channel),
//!      │                                                       all referrers tied at it
//!      ├▶ invite event?      ─▶ record ts unless ts > acq + W  (acq only decreases: safe to drop)
//!      └▶ revenue event?     ─▶ net += amount                  (exact micro-units)
//! ```
//!
//! Memory: 13 bytes per user for the acquisition ([`FirstAcquisitions`]), 12 per kept
//! invite row ([`Invites`]) and, only when revenue is tracked, 4 per user
//! ([`UserSums`]).
//!
//! ## Correctness
//! Every summary is a set, a minimum with a string tie-break, a multiset of instants or
//! an exact integer sum: merge is associative and commutative, a fresh state its identity.

use serde::{Deserialize, Serialize};
use userops_core::{Events, FirstAcquisitions, UserRemap, UserSums};

use crate::invites::Invites;

/// What a state tracks besides acquisitions (each plugin tracks only what it reports).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tracking {
    /// The acquisition event names; `None` means "first event of any kind".
    pub acquisition_events: Option<Vec<String>>,
    /// The invite event and the invite window W in microseconds, when invites are reported.
    pub invites: Option<(String, i64)>,
    /// The revenue event, when descendants' revenue is reported.
    pub revenue_event: Option<String>,
}

/// The shared partial state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViralState {
    /// Per user: the acquisition candidates (referrers tracked).
    acquisitions: FirstAcquisitions,
    /// Invite rows that may fall in their user's window (only when tracked).
    invites: Invites,
    /// Per user: net revenue in micro-units (only when tracked).
    revenue: UserSums,
}

impl Default for ViralState {
    /// An empty state: the identity of merge.
    fn default() -> Self {
        ViralState {
            acquisitions: FirstAcquisitions::new(true),
            invites: Invites::default(),
            revenue: UserSums::default(),
        }
    }
}

impl ViralState {
    /// Folds one normalized batch.
    pub fn update(&mut self, events: &Events, tracking: &Tracking) {
        self.acquisitions.grow(events.user_count);
        let membership: Option<Vec<bool>> = tracking
            .acquisition_events
            .as_ref()
            .map(|names| events.event.as_ref().map(|e| e.membership(names)).unwrap_or_default());
        let is_acquisition = |row: usize| match &membership {
            None => true,
            Some(table) => events.event.as_ref().is_some_and(|e| e.is_member(table, row)),
        };
        let invite = tracking.invites.as_ref().map(|(name, window)| (events.event_code(name), *window));
        let revenue_code = tracking.revenue_event.as_ref().map(|name| events.event_code(name));
        if revenue_code.is_some() {
            self.revenue.grow(events.user_count);
        }
        let mut channels = Vec::new();
        for row in 0..events.len() {
            let user = events.user[row];
            let ts = events.ts[row];
            if is_acquisition(row) {
                self.acquisitions.offer_row(events, row, &mut channels);
            }
            if let Some((Some(code), window)) = invite {
                if events.event_at(row) == code {
                    let limit = self.acquisitions.ts(user).map(|a| a.saturating_add(window));
                    self.invites.record(user, ts, limit);
                }
            }
            if let Some(code) = revenue_code {
                if let Some(r) = events.revenue_row(row, code) {
                    self.revenue.add(user, r.net_micros() as i128);
                }
            }
        }
    }

    /// Folds `other` in: user `i` of `other` is user `remap.to[i]` here, and so is every
    /// referrer index it holds.
    pub fn merge(&mut self, other: ViralState, remap: &UserRemap, tracking: &Tracking) {
        let ViralState { acquisitions, invites, revenue } = other;
        self.acquisitions.merge_from(acquisitions, remap);
        if let Some((_, window)) = &tracking.invites {
            let acquisitions = &self.acquisitions;
            self.invites.merge(invites, remap, |u| acquisitions.ts(u).map(|a| a.saturating_add(*window)));
        }
        if tracking.revenue_event.is_some() {
            self.revenue.merge_from(revenue, remap);
        }
    }

    /// The acquisitions.
    pub fn acquisitions(&self) -> &FirstAcquisitions {
        &self.acquisitions
    }

    /// The invite rows that may fall in their user's window.
    pub fn invites(&self) -> &Invites {
        &self.invites
    }

    /// User `user`'s net revenue in micro-units (0 when untracked or unseen).
    pub fn revenue_of(&self, user: u32) -> i128 {
        self.revenue.get(user)
    }
}
