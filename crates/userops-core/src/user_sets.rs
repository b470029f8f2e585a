//! [`UserSets`]: one set of `i64` values (days, period indices, instants) per user,
//! stored as delta varints in blocks of users, so a user costs about one byte plus one
//! or two bytes per value of small spread, and nothing is allocated per user.
//!
//! ```text
//!  insert(user, v) ─▶ pending (user, v) pairs ─┐ when pending outgrows the packed bytes:
//!                                              ├▶ sort, dedup, rewrite the touched blocks
//!  block b = users b·4096 … b·4096+4095:       │
//!    per user: count n, first value (zigzag), then n−1 gaps − 1   (LEB128 varints)
//! ```
//!
//! A set's contents never depend on the order of inserts or merges, so a state built on
//! `UserSets` merges exactly (the plugin contract's laws).

use serde::{Deserialize, Serialize};

use crate::users::UserRemap;

/// Users per block: a block is rewritten as a whole when values are added to it.
const BLOCK_USERS: usize = 4096;
/// Pending pairs are folded in once there are this many and they outweigh the packed bytes.
const MIN_PENDING: usize = 8192;

/// Per-user sets of `i64`, compact (see the module docs). Users are dense indices.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserSets {
    /// `blocks[b]` packs users `b * BLOCK_USERS ..`; users past its end have empty sets.
    blocks: Vec<Vec<u8>>,
    /// The total length of `blocks`.
    packed_bytes: usize,
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
        if self.pending.len() >= MIN_PENDING && self.pending.len() * 16 >= self.packed_bytes.max(1) {
            self.fold();
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

    /// The number of values over all sets.
    pub fn value_count(&mut self) -> usize {
        let mut count = 0;
        self.for_each(|_, values| count += values.len());
        count
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

    /// Packs the pending values into their blocks.
    fn fold(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_unstable();
        pending.dedup();
        let (mut old, mut merged) = (Vec::new(), Vec::new());
        let mut rest = pending.as_slice();
        while let Some(&(first, _)) = rest.first() {
            let b = first as usize / BLOCK_USERS;
            let end = rest.partition_point(|&(u, _)| (u as usize / BLOCK_USERS) <= b);
            let (batch, tail) = rest.split_at(end);
            rest = tail;
            if self.blocks.len() <= b {
                self.blocks.resize_with(b + 1, Vec::new);
            }
            let block = &mut self.blocks[b];
            let mut out = Vec::with_capacity(block.len() + batch.len() * 2);
            let mut reader = Reader { bytes: block, at: 0 };
            let base = (b * BLOCK_USERS) as u32;
            let last = batch[batch.len() - 1].0;
            let mut adds = batch;
            let mut user = base;
            while !reader.done() || user <= last {
                reader.read_set(&mut old);
                let n = adds.partition_point(|&(u, _)| u == user);
                let (mine, later) = adds.split_at(n);
                adds = later;
                if mine.is_empty() {
                    write_set(&mut out, &old);
                } else {
                    union_into(&old, mine.iter().map(|&(_, v)| v), &mut merged);
                    write_set(&mut out, &merged);
                }
                user += 1;
            }
            out.shrink_to_fit();
            self.packed_bytes = self.packed_bytes - block.len() + out.len();
            *block = out;
        }
    }
}

/// The union of sorted distinct `a` and sorted distinct `b`, into `out`.
fn union_into(a: &[i64], b: impl Iterator<Item = i64>, out: &mut Vec<i64>) {
    out.clear();
    let mut a = a.iter().copied().peekable();
    for v in b {
        while let Some(&x) = a.peek() {
            if x >= v {
                break;
            }
            out.push(x);
            a.next();
        }
        if a.peek() == Some(&v) {
            a.next();
        }
        out.push(v);
    }
    out.extend(a);
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
        assert_eq!(sets.value_count(), model(&input).values().map(Vec::len).sum::<usize>());
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
