//! Referral edges and the referral forest (SPEC §10), computed in `finish` from the
//! merged state, iteratively and in time linear in the number of users and edges.
//!
//! ```text
//!  acquisitions ─▶ resolve: each user's row (smallest channel, then smallest referrer by key)
//!              ─▶ classify: valid | self_referral | unknown_referrer | referrer_not_earlier
//!              ─▶ valid edges: parent[u]  (acq[parent] < acq[u], so no cycle can exist)
//!              ─▶ children in CSR form ─▶ breadth-first order from the roots
//!                   forward: generation, root      backward: descendants, revenue, depth
//! ```
//!
//! Raw `referrer_id`s may form cycles; those edges fail the "strictly earlier" test and
//! are reported, never followed, so nothing here can loop or recurse.

use std::cmp::Ordering;

use userops_core::{FirstAcquisitions, UserDict};

use crate::state::ViralState;

/// No user (a root's parent, a missing referrer).
pub const NONE: u32 = u32::MAX;

/// Why a referral edge is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issue {
    /// The user named themselves as referrer.
    SelfReferral,
    /// The referrer was never acquired.
    UnknownReferrer,
    /// The referrer was acquired at the same instant as the user or later.
    ReferrerNotEarlier,
}

impl Issue {
    /// The name shown in `referral_issues`.
    pub fn as_str(self) -> &'static str {
        match self {
            Issue::SelfReferral => "self_referral",
            Issue::UnknownReferrer => "unknown_referrer",
            Issue::ReferrerNotEarlier => "referrer_not_earlier",
        }
    }
}

/// Every acquired user with their acquisition instant and referral edge.
#[derive(Debug, Clone)]
pub struct Edges<'a> {
    /// The state's acquisitions (instants are read from there, not copied).
    acquisitions: &'a FirstAcquisitions,
    /// The acquired users, sorted by key.
    pub acquired: Vec<u32>,
    /// Per dense user index: the valid referrer ([`NONE`] for organic users, users whose
    /// edge was left out, and users never acquired).
    pub parent: Vec<u32>,
    /// Edges left out: `(user, referrer, issue)`, sorted by the user's key.
    pub issues: Vec<(u32, u32, Issue)>,
}

impl<'a> Edges<'a> {
    /// Resolves each user's acquisition row and classifies their referral edge.
    pub fn resolve(state: &'a ViralState, users: &UserDict) -> Edges<'a> {
        let acquisitions = state.acquisitions();
        let n = acquisitions.user_count();
        let mut acquired: Vec<u32> = (0..n as u32).filter(|&u| acquisitions.ts(u).is_some()).collect();
        users.sort_by_key(&mut acquired);
        let mut parent = vec![NONE; n];
        let mut issues = Vec::new();
        for &u in &acquired {
            let Some(r) = acquisitions.referrers(u).min_by(|x, y| users.compare(*x, *y)) else { continue };
            let at = acquisitions.ts(u).expect("acquired");
            let issue = if r == u {
                Some(Issue::SelfReferral)
            } else {
                match acquisitions.ts(r) {
                    None => Some(Issue::UnknownReferrer),
                    Some(ra) if ra >= at => Some(Issue::ReferrerNotEarlier),
                    Some(_) => None,
                }
            };
            match issue {
                Some(issue) => issues.push((u, r, issue)),
                None => parent[u as usize] = r,
            }
        }
        Edges { acquisitions, acquired, parent, issues }
    }

    /// The acquisition instant of user `user`, `None` when not acquired.
    pub fn acquired_at(&self, user: u32) -> Option<i64> {
        self.acquisitions.ts(user)
    }

    /// The acquisition instant of an acquired user.
    pub fn at(&self, user: u32) -> i64 {
        self.acquired_at(user).expect("an acquired user")
    }

    /// The valid edges `(referrer, referred)`, in the referred user's key order.
    pub fn valid(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.acquired.iter().filter_map(|&u| {
            let p = self.parent[u as usize];
            (p != NONE).then_some((p, u))
        })
    }
}

/// Per-user values of the referral forest.
#[derive(Debug, Clone, Default)]
pub struct Forest {
    /// Distance from the root: 0 for organic users (and users whose edge was left out).
    pub generation: Vec<u32>,
    /// The root of the user's tree (the user itself for a root).
    pub root: Vec<u32>,
    /// Users referred directly through a valid edge.
    pub direct: Vec<u32>,
    /// Everyone below the user.
    pub descendants: Vec<u32>,
    /// Net revenue (micro-units) of everyone below the user.
    pub descendant_revenue: Vec<i128>,
    /// Generations below the user: 0 for a user with no referrals; for a root, the
    /// depth of its whole cascade.
    pub max_depth: Vec<u32>,
}

impl Forest {
    /// Builds the forest of `edges`; `revenue(u)` is user `u`'s own net revenue.
    pub fn build(edges: &Edges<'_>, revenue: impl Fn(u32) -> i128) -> Forest {
        let n = edges.parent.len();
        // Children in compressed sparse rows: a counting sort of edges by parent.
        let mut start = vec![0u32; n + 1];
        for &p in &edges.parent {
            if p != NONE {
                start[p as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut children = vec![0u32; start[n] as usize];
        for (u, &p) in edges.parent.iter().enumerate() {
            if p != NONE {
                children[fill[p as usize] as usize] = u as u32;
                fill[p as usize] += 1;
            }
        }
        // Breadth-first order from the roots: every parent comes before its children.
        let mut order: Vec<u32> = Vec::with_capacity(edges.acquired.len());
        let mut generation = vec![0u32; n];
        let mut root = vec![NONE; n];
        for &u in &edges.acquired {
            if edges.parent[u as usize] == NONE {
                root[u as usize] = u;
                order.push(u);
            }
        }
        let mut next = 0;
        while next < order.len() {
            let u = order[next];
            next += 1;
            for &c in &children[start[u as usize] as usize..start[u as usize + 1] as usize] {
                generation[c as usize] = generation[u as usize] + 1;
                root[c as usize] = root[u as usize];
                order.push(c);
            }
        }
        debug_assert_eq!(order.len(), edges.acquired.len(), "valid edges form a forest over the acquired users");
        // Children before parents: fold each subtree into its parent.
        let mut direct = vec![0u32; n];
        let mut descendants = vec![0u32; n];
        let mut descendant_revenue = vec![0i128; n];
        let mut max_depth = vec![0u32; n];
        for &u in order.iter().rev() {
            let p = edges.parent[u as usize];
            if p != NONE {
                let (u, p) = (u as usize, p as usize);
                direct[p] += 1;
                descendants[p] += descendants[u] + 1;
                descendant_revenue[p] += descendant_revenue[u] + revenue(u as u32);
                max_depth[p] = max_depth[p].max(max_depth[u] + 1);
            }
        }
        Forest { generation, root, direct, descendants, descendant_revenue, max_depth }
    }
}

/// Orders users by a key-independent value descending, then by user key ascending.
pub fn rank<T: Ord>(users: &mut [u32], value: impl Fn(u32) -> T, dict: &UserDict) {
    users.sort_unstable_by(|&a, &b| match value(b).cmp(&value(a)) {
        Ordering::Equal => dict.compare(a, b),
        other => other,
    });
}
