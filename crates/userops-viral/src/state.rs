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
//! Memory: 16 bytes per user for the acquisition ([`Acquisitions`]), 12 per kept
//! invite row ([`Invites`]) and, only when revenue is tracked, 4 per user
//! ([`UserSums`]).
//!
//! ## Correctness
//! Every summary is a set, a minimum with a string tie-break, a multiset of instants or
//! an exact integer sum: merge is associative and commutative, a fresh state its identity.

use serde::{Deserialize, Serialize};
use userops_core::UserSums;
use userops_core::{Events, UserRemap, NULL_CODE};

use crate::acquisition::Acquisitions;
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViralState {
    /// Per user: the acquisition candidates.
    acquisitions: Acquisitions,
    /// Invite rows that may fall in their user's window (only when tracked).
    invites: Invites,
    /// Per user: net revenue in micro-units (only when tracked).
    revenue: UserSums,
}

/// A batch channel code not translated yet.
const UNMAPPED: u32 = NULL_CODE - 1;

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
        // Batch channel codes to state codes, filled on first use.
        let mut channel_map: Vec<u32> = vec![UNMAPPED; events.channel.as_ref().map_or(0, |c| c.names.len())];
        for row in 0..events.len() {
            let user = events.user[row];
            let ts = events.ts[row];
            if is_acquisition(row) {
                let channel = match &events.channel {
                    Some(c) if c.codes[row] != NULL_CODE => {
                        let code = c.codes[row] as usize;
                        if channel_map[code] == UNMAPPED {
                            channel_map[code] = self.acquisitions.channel_code(&c.names[code]);
                        }
                        channel_map[code]
                    }
                    _ => NULL_CODE,
                };
                let referrer = events.referrer.as_ref().and_then(|r| r[row]);
                self.acquisitions.offer(user, ts, channel, referrer);
            }
            if let Some((Some(code), window)) = invite {
                if events.event_at(row) == code {
                    let limit = self.acquisitions.at(user).map(|a| a.saturating_add(window));
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
        self.acquisitions.merge(acquisitions, remap);
        if let Some((_, window)) = &tracking.invites {
            let acquisitions = &self.acquisitions;
            self.invites.merge(invites, remap, |u| acquisitions.at(u).map(|a| a.saturating_add(*window)));
        }
        if tracking.revenue_event.is_some() {
            self.revenue.merge_from(revenue, remap);
        }
    }

    /// The acquisitions.
    pub fn acquisitions(&self) -> &Acquisitions {
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
