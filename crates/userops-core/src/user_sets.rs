//! [`UserSets`]: one set of `i64` values (days, period indices, instants) per user,
//! stored as delta varints in blocks of users, so a user costs about one byte plus one
//! or two bytes per value of small spread, and nothing is allocated per user.
//!
//! ```text
//!  insert(user, v) ─▶ pending pairs ─(32k)─▶ sorted run ─(runs ≥ packed/8)─▶ blocks
//!                     16 B each              packed, sparse     k-way merged, only the
//!                                                               touched blocks rewritten
//!  block b = users b·4096 … b·4096+4095, per user: count n, first value (zigzag),
//!  then n−1 gaps − 1 (LEB128 varints); a run: per user with values, the user's gap
//!  from the previous one, then its set the same way.
//! ```
//!
//! Inserts land in a small buffer; a full buffer is sorted and packed into a run; runs
//! are merged into the blocks once they weigh an eighth of them. So the unpacked part
//! stays a fixed buffer plus at most an eighth, and each block is rewritten a few times
//! per doubling of its size, whatever the order of the input (a time-ordered log
//! touches every block in every run).
//!
//! A set's contents never depend on the order of inserts or merges, so a state built on
//! `UserSets` merges exactly (the plugin contract's laws).

use serde::{Deserialize, Serialize};

use crate::users::UserRemap;

/// Users per block: a block is rewritten as a whole when values are added to it.
const BLOCK_USERS: usize = 4096;
/// Pending pairs are packed into a run once there are this many.
const RUN_PAIRS: usize = 1 << 15;
/// Runs are merged into the blocks once they weigh this fraction of them (or at
/// [`MAX_RUNS`] runs, or at any read).
const RUNS_PER_PACKED: usize = 8;
/// The most runs kept before they are merged into the blocks.
const MAX_RUNS: usize = 16;

/// Per-user sets of `i64`, compact (see the module docs). Users are dense indices.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserSets {
    /// `blocks[b]` packs users `b * BLOCK_USERS ..`; users past its end have empty sets.
    blocks: Vec<Vec<u8>>,
    /// The total length of `blocks`.
    packed_bytes: usize,
    /// Sorted, packed batches of values not yet merged into the blocks.
    runs: Vec<Vec<u8>>,
    /// The total length of `runs`.
    run_bytes: usize,
    /// Values not yet packed, in arrival order, possibly repeated.
    pending: Vec<(u32, i64)>,
}

impl PartialEq for UserSets {
    /// Equal when every user has the same set, however the values are stored.
    fn eq(&self, other: &Self) -> bool {
        let contents = |sets: &UserSets| {
            let mut out = Vec::new();
            sets.clone().for_each(|user, values| out.push((user, values.to_vec())));
            out
        };
        contents(self) == contents(other)
    }
}

impl UserSets {
    /// No sets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` to `user`'s set (a value already there is ignored).
    #[inline]
    pub fn insert(&mut self, user: u32, value: i64) {
        if self.pending.last() == Some(&(user, value)) {
            return;
        }
        self.pending.push((user, value));
        if self.pending.len() >= RUN_PAIRS {
            self.pack_pending();
            if self.runs.len() >= MAX_RUNS || self.run_bytes * RUNS_PER_PACKED >= self.packed_bytes {
                self.fold();
            }
        }
    }

    /// Adds every set of `other`, its user `i` into user `remap.to[i]` here.
    pub fn merge_from(&mut self, mut other: UserSets, remap: &UserRemap) {
        other.fold();
        other.for_each(|user, values| {
            let to = remap.to[user as usize];
            for &v in values {
                self.insert(to, v);
            }
        });
    }

    /// Calls `f(user, values)` for every user with a non-empty set, users ascending,
    /// values sorted and distinct.
    pub fn for_each(&mut self, mut f: impl FnMut(u32, &[i64])) {
        self.fold();
        let mut values = Vec::new();
        for (b, block) in self.blocks.iter().enumerate() {
            let mut reader = Reader { bytes: block, at: 0 };
            let mut user = (b * BLOCK_USERS) as u32;
            while !reader.done() {
                reader.read_set(&mut values);
                if !values.is_empty() {
                    f(user, &values);
                }
                user += 1;
            }
        }
    }

    /// Rewrites every set: `f(user, values, kept)` pushes the values to keep, sorted
    /// ascending and distinct, into `kept` (which starts empty). Users ascending.
    pub fn retain(&mut self, mut f: impl FnMut(u32, &[i64], &mut Vec<i64>)) {
        self.fold();
        let (mut values, mut kept) = (Vec::new(), Vec::new());
        let mut packed_bytes = 0;
        for (b, block) in self.blocks.iter_mut().enumerate() {
            let mut out = Vec::with_capacity(block.len());
            let mut reader = Reader { bytes: block, at: 0 };
            let mut user = (b * BLOCK_USERS) as u32;
            while !reader.done() {
                reader.read_set(&mut values);
                kept.clear();
                if !values.is_empty() {
                    f(user, &values, &mut kept);
                }
                write_set(&mut out, &kept);
                user += 1;
            }
            out.shrink_to_fit();
            packed_bytes += out.len();
            *block = out;
        }
        self.packed_bytes = packed_bytes;
    }

    /// Sorts the pending pairs into a new run.
    fn pack_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.pending.sort_unstable();
        self.pending.dedup();
        let mut run = Vec::with_capacity(self.pending.len() * 3);
        let (mut values, mut previous) = (Vec::new(), 0u32);
        for group in self.pending.chunk_by(|a, b| a.0 == b.0) {
            let user = group[0].0;
            write_varint(&mut run, u64::from(user - previous));
            previous = user;
            values.clear();
            values.extend(group.iter().map(|&(_, v)| v));
            write_set(&mut run, &values);
        }
        run.shrink_to_fit();
        self.run_bytes += run.len();
        self.runs.push(run);
        self.pending.clear();
    }

    /// Merges the pending pairs and every run into the blocks, rewriting only the
    /// blocks they touch.
    fn fold(&mut self) {
        self.pack_pending();
        if self.runs.is_empty() {
            return;
        }
        let runs = std::mem::take(&mut self.runs);
        self.run_bytes = 0;
        let mut cursors: Vec<RunCursor<'_>> = runs.iter().map(|r| RunCursor::new(r)).collect();
        let mut merged = Vec::new();
        while let Some(first) = cursors.iter().filter_map(|c| c.user).min() {
            let b = first as usize / BLOCK_USERS;
            if self.blocks.len() <= b {
                self.blocks.resize_with(b + 1, Vec::new);
            }
            let block = std::mem::take(&mut self.blocks[b]);
            let base = (b * BLOCK_USERS) as u32;
            let next_block = base as u64 + BLOCK_USERS as u64;
            let mut out = Vec::with_capacity(block.len() + block.len() / 4 + 64);
            let mut reader = Reader { bytes: &block, at: 0 };
            // `user` is the user whose set `reader` is at; users without additions are
            // copied byte for byte, not decoded.
            let mut user = base;
            while let Some(next) = cursors.iter().filter_map(|c| c.user).filter(|&u| u64::from(u) < next_block).min() {
                let start = reader.at;
                while user < next && !reader.done() {
                    reader.skip_set();
                    user += 1;
                }
                out.extend_from_slice(&block[start..reader.at]);
                // Past the block's bytes, the users in between have empty sets.
                out.resize(out.len() + (next - user) as usize, 0);
                reader.read_set(&mut merged);
                for cursor in cursors.iter_mut().filter(|c| c.user == Some(next)) {
                    merged.extend_from_slice(&cursor.values);
                    cursor.advance();
                }
                merged.sort_unstable();
                merged.dedup();
                write_set(&mut out, &merged);
                user = next + 1;
            }
            out.extend_from_slice(&block[reader.at..]);
            out.shrink_to_fit();
            self.packed_bytes = self.packed_bytes - block.len() + out.len();
            self.blocks[b] = out;
        }
    }
}

/// Reads a run's users and their sets in order.
struct RunCursor<'a> {
    reader: Reader<'a>,
    /// The current user, `None` past the end.
    user: Option<u32>,
    /// The current user's values.
    values: Vec<i64>,
}

impl<'a> RunCursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let mut cursor = RunCursor { reader: Reader { bytes, at: 0 }, user: Some(0), values: Vec::new() };
        cursor.advance();
        cursor
    }

    /// Moves to the next user of the run: users are stored as gaps from the previous
    /// one (the first from 0).
    fn advance(&mut self) {
        match self.user {
            Some(previous) if !self.reader.done() => {
                self.user = Some(previous + self.reader.varint() as u32);
                self.reader.read_set(&mut self.values);
            }
            _ => self.user = None,
        }
    }
}

/// Appends one set: its count, its first value zigzagged, then each gap minus one.
fn write_set(out: &mut Vec<u8>, values: &[i64]) {
    write_varint(out, values.len() as u64);
    let mut prev = None;
    for &v in values {
        match prev {
            None => write_varint(out, ((v << 1) ^ (v >> 63)) as u64),
            Some(p) => write_varint(out, (v as i128 - p as i128 - 1) as u64),
        }
        prev = Some(v);
    }
}

fn write_varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Reads the sets of one block in order.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn varint(&mut self) -> u64 {
        let mut x = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.bytes[self.at];
            self.at += 1;
            x |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return x;
            }
            shift += 7;
        }
    }

    /// Moves past the next set without decoding its values.
    fn skip_set(&mut self) {
        if self.done() {
            return;
        }
        let mut left = self.varint();
        while left > 0 {
            left -= u64::from(self.bytes[self.at] < 0x80);
            self.at += 1;
        }
    }

    /// The next set into `values` (empty past the end of the block).
    fn read_set(&mut self, values: &mut Vec<i64>) {
        values.clear();
        if self.done() {
            return;
        }
        let n = self.varint();
        let mut prev = 0i64;
        for i in 0..n {
            let x = self.varint();
            prev = if i == 0 { ((x >> 1) as i64) ^ -((x & 1) as i64) } else { (prev as i128 + x as i128 + 1) as i64 };
            values.push(prev);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::collections::BTreeSet;

    use super::*;

    fn contents(sets: &mut UserSets) -> BTreeMap<u32, Vec<i64>> {
        let mut out = BTreeMap::new();
        sets.for_each(|u, v| {
            out.insert(u, v.to_vec());
        });
        out
    }

    fn model(pairs: &[(u32, i64)]) -> BTreeMap<u32, Vec<i64>> {
        let mut m: BTreeMap<u32, BTreeSet<i64>> = BTreeMap::new();
        for &(u, v) in pairs {
            m.entry(u).or_default().insert(v);
        }
        m.into_iter().map(|(u, s)| (u, s.into_iter().collect())).collect()
    }

    fn pairs(n: usize, seed: u64) -> Vec<(u32, i64)> {
        let mut rng = crate::datasets::SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                let user = rng.below(20_000) as u32;
                let value = match rng.below(4) {
                    0 => i64::MIN + rng.below(3) as i64,
                    1 => i64::MAX - rng.below(3) as i64,
                    _ => rng.below(400) as i64 - 200,
                };
                (user, value)
            })
            .collect()
    }

    #[test]
    fn sets_match_a_model_through_folds_and_extremes() {
        let input = pairs(100_000, 1);
        let mut sets = UserSets::new();
        for &(u, v) in &input {
            sets.insert(u, v);
        }
        assert_eq!(contents(&mut sets), model(&input));
    }

    #[test]
    fn merge_follows_the_remap_and_equality_ignores_layout() {
        let (a_pairs, b_pairs) = (pairs(30_000, 2), pairs(30_000, 3));
        let build = |p: &[(u32, i64)]| {
            let mut s = UserSets::new();
            for &(u, v) in p {
                s.insert(u, v);
            }
            s
        };
        // b's user i is user 19_999 - i of a.
        let remap = UserRemap { to: (0..20_000).rev().collect(), user_count: 20_000 };
        let mut merged = build(&a_pairs);
        merged.merge_from(build(&b_pairs), &remap);
        let all: Vec<(u32, i64)> =
            a_pairs.iter().copied().chain(b_pairs.iter().map(|&(u, v)| (19_999 - u, v))).collect();
        assert_eq!(contents(&mut merged), model(&all));
        let mut reversed: Vec<(u32, i64)> = all.clone();
        reversed.reverse();
        assert_eq!(merged, build(&reversed));
        assert_ne!(merged, build(&a_pairs));
    }

    #[test]
    fn retain_prunes_and_serialization_round_trips() {
        let input = pairs(50_000, 4);
        let mut sets = UserSets::new();
        for &(u, v) in &input {
            sets.insert(u, v);
        }
        sets.retain(|u, values, kept| {
            kept.extend(values.iter().copied().filter(|v| (v.rem_euclid(3) + u as i64) % 3 == 0))
        });
        let expected: Vec<(u32, i64)> =
            input.iter().copied().filter(|&(u, v)| (v.rem_euclid(3) + u as i64) % 3 == 0).collect();
        assert_eq!(contents(&mut sets), model(&expected));
        let bytes = crate::plugin::encode_state(&sets).unwrap();
        let mut back: UserSets = crate::plugin::decode_state(&bytes).unwrap();
        assert_eq!(contents(&mut back), model(&expected));
        assert_eq!(UserSets::new(), UserSets::default());
    }

    #[test]
    fn several_runs_merge_into_a_large_packed_state() {
        let mut input: Vec<(u32, i64)> = Vec::new();
        for user in 0..60_000u32 {
            for k in 0..12 {
                input.push((user, (user as i64 % 7) * 1000 + k * 5));
            }
        }
        let mut sets = UserSets::new();
        for &(u, v) in &input {
            sets.insert(u, v);
        }
        // Time-ordered-like additions spread over every block, repeats included.
        let extra = pairs(4 * RUN_PAIRS + 123, 9);
        let mut most_runs = 0;
        for &(u, v) in &extra {
            sets.insert(u * 3, v);
            most_runs = most_runs.max(sets.runs.len());
        }
        assert!(most_runs >= 2, "the additions should stay in runs for a while ({most_runs})");
        input.extend(extra.iter().map(|&(u, v)| (u * 3, v)));
        assert_eq!(contents(&mut sets), model(&input));
        assert!(sets.runs.is_empty() && sets.pending.is_empty());
    }

    #[test]
    fn small_spread_costs_about_a_byte_per_value() {
        let mut sets = UserSets::new();
        for user in 0..100_000u32 {
            for day in 0..10 {
                sets.insert(user, 19_000 + (user as i64 % 50) + day * 3);
            }
        }
        sets.fold();
        let per_user = sets.packed_bytes as f64 / 100_000.0;
        assert!(per_user < 15.0, "{per_user} bytes per user");
    }
}
