//! [`PerUser`]: a vector indexed by dense user index, the storage of most states
//! (DataFusion's `GroupsAccumulator` idea), with the one merge loop every state needs.

use serde::{Deserialize, Serialize};

use crate::users::UserRemap;

/// One value per user, indexed by dense user index; grows as users appear.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerUser<T> {
    values: Vec<T>,
}

impl<T: Default + Clone> PerUser<T> {
    /// An empty vector.
    pub fn new() -> Self {
        PerUser { values: Vec::new() }
    }

    /// Grows to `user_count` entries (call with [`crate::Events::user_count`] before updating).
    pub fn grow(&mut self, user_count: usize) {
        if self.values.len() < user_count {
            if user_count > self.values.capacity() {
                // Grow by an eighth rather than doubling: these vectors are most of a
                // run's memory, and a large reallocation is a remap, not a copy.
                let target = user_count.max(self.values.len() + self.values.len() / 8 + 1024);
                self.values.reserve_exact(target - self.values.len());
            }
            self.values.resize(user_count, T::default());
        }
    }

    /// The number of entries (users the vector has room for, seen or not).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value of user `user` (the vector must have grown to include it).
    pub fn get_mut(&mut self, user: u32) -> &mut T {
        &mut self.values[user as usize]
    }

    /// The value of user `user`, if the vector has room for it.
    pub fn get(&self, user: u32) -> Option<&T> {
        self.values.get(user as usize)
    }

    /// Every `(user, value)` pair.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.values.iter().enumerate().map(|(u, v)| (u as u32, v))
    }

    /// Folds `other`'s values into this one's, user `i` of `other` into user
    /// `remap.to[i]` here, with `combine(mine, theirs)`.
    pub fn merge_from(&mut self, other: PerUser<T>, remap: &UserRemap, mut combine: impl FnMut(&mut T, T)) {
        self.grow(remap.user_count);
        for (i, value) in other.values.into_iter().enumerate() {
            combine(&mut self.values[remap.to[i] as usize], value);
        }
    }
}

/// Linear interpolation between closest ranks over sorted values (DuckDB
/// `quantile_cont`, numpy's default); `None` for no values.
pub fn quantile_cont(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let position = q * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let fraction = position - lower as f64;
    Some(sorted[lower] + (sorted[upper] - sorted[lower]) * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_duckdb() {
        assert_eq!(quantile_cont(&[], 0.5), None);
        assert_eq!(quantile_cont(&[3.0], 0.9), Some(3.0));
        assert_eq!(quantile_cont(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert!((quantile_cont(&[0.0, 10.0], 0.9).unwrap() - 9.0).abs() < 1e-12);
    }

    #[test]
    fn merge_follows_the_remap() {
        let mut a: PerUser<u64> = PerUser::new();
        a.grow(2);
        *a.get_mut(0) = 1;
        *a.get_mut(1) = 2;
        let mut b: PerUser<u64> = PerUser::new();
        b.grow(2);
        *b.get_mut(0) = 10;
        *b.get_mut(1) = 20;
        a.merge_from(b, &UserRemap { to: vec![2, 0], user_count: 3 }, |x, y| *x += y);
        assert_eq!(a.iter().map(|(_, v)| *v).collect::<Vec<_>>(), vec![21, 2, 10]);
    }
}
