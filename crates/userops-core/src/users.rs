//! The user dictionary: maps each user key to a dense `u32` index, once per row, shared
//! by every plugin of a run (DESIGN "Group by user"). Each worker has its own
//! dictionary; [`UserDict::absorb`] merges one into another and returns the remapping
//! that partial states need to merge.

use std::cmp::Ordering;
use std::hash::BuildHasher;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow_array::{Array, ArrayRef, DictionaryArray, Int64Array, StringArray, UInt64Array};
use arrow_schema::DataType;
use hashbrown::{DefaultHashBuilder, HashTable};
use serde::{Deserialize, Serialize};

use crate::error::{Result, UserOpsError};

/// The kind of user keys in a run; every input of a run must agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyKind {
    /// Signed integers (Int32 and Int64 columns), shown as Int64.
    Int,
    /// Unsigned 64-bit integers, shown as UInt64.
    UInt,
    /// Strings (Utf8, LargeUtf8, Utf8View), shown as Utf8.
    Str,
}

impl KeyKind {
    /// A word for messages.
    pub fn describe(self) -> &'static str {
        match self {
            KeyKind::Int => "signed integer",
            KeyKind::UInt => "unsigned integer",
            KeyKind::Str => "string",
        }
    }

    /// The key kind of an Arrow type accepted as a user key, if accepted.
    pub fn of_type(data_type: &DataType) -> Option<KeyKind> {
        match data_type {
            DataType::Int64 | DataType::Int32 => Some(KeyKind::Int),
            DataType::UInt64 => Some(KeyKind::UInt),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(KeyKind::Str),
            DataType::Dictionary(key, value) if key.is_integer() => KeyKind::of_type(value),
            _ => None,
        }
    }

    /// The Arrow type of user keys of this kind in results.
    pub fn output_type(self) -> DataType {
        match self {
            KeyKind::Int => DataType::Int64,
            KeyKind::UInt => DataType::UInt64,
            KeyKind::Str => DataType::Utf8,
        }
    }
}

/// The Arrow types accepted for user keys, for error messages.
pub const ACCEPTED_KEY_TYPES: &str = "Int64, UInt64, Int32, Utf8, LargeUtf8, Utf8View, Dictionary of these";

/// One user key, borrowed from an input row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRef<'a> {
    /// A signed integer key.
    Int(i64),
    /// An unsigned integer key.
    UInt(u64),
    /// A string key.
    Str(&'a str),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Keys {
    Unset,
    Int(Vec<i64>),
    UInt(Vec<u64>),
    Str(Vec<Box<str>>),
}

/// Maps user keys to dense indices `0..len()`, in order of first sight.
#[derive(Debug, Clone)]
pub struct UserDict {
    keys: Keys,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Default for UserDict {
    fn default() -> Self {
        UserDict { keys: Keys::Unset, table: HashTable::new(), hasher: DefaultHashBuilder::default() }
    }
}

/// How the indices of an absorbed dictionary map into the absorbing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRemap {
    /// `to[i]` is the index, in the absorbing dictionary, of the other's user `i`.
    pub to: Vec<u32>,
    /// The absorbing dictionary's length after the merge: states grow to this size.
    pub user_count: usize,
}

impl UserDict {
    /// An empty dictionary; its key kind is set by the first key or by [`UserDict::set_kind`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of distinct users seen.
    pub fn len(&self) -> usize {
        match &self.keys {
            Keys::Unset => 0,
            Keys::Int(v) => v.len(),
            Keys::UInt(v) => v.len(),
            Keys::Str(v) => v.len(),
        }
    }

    /// Whether no user has been seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key kind, or `None` for a dictionary that has never been given one.
    pub fn kind(&self) -> Option<KeyKind> {
        match &self.keys {
            Keys::Unset => None,
            Keys::Int(_) => Some(KeyKind::Int),
            Keys::UInt(_) => Some(KeyKind::UInt),
            Keys::Str(_) => Some(KeyKind::Str),
        }
    }

    /// Fixes the key kind; an error if the dictionary already holds another kind.
    pub fn set_kind(&mut self, kind: KeyKind) -> Result<()> {
        match (self.kind(), kind) {
            (None, KeyKind::Int) => self.keys = Keys::Int(Vec::new()),
            (None, KeyKind::UInt) => self.keys = Keys::UInt(Vec::new()),
            (None, KeyKind::Str) => self.keys = Keys::Str(Vec::new()),
            (Some(have), want) if have == want => {}
            (Some(have), want) => {
                return Err(UserOpsError::IncompatibleStates(format!(
                    "user ids are {} in one input and {} in another",
                    have.describe(),
                    want.describe()
                )))
            }
        }
        Ok(())
    }

    fn hash_key(hasher: &DefaultHashBuilder, key: KeyRef<'_>) -> u64 {
        match key {
            KeyRef::Int(v) => hasher.hash_one(v),
            KeyRef::UInt(v) => hasher.hash_one(v),
            KeyRef::Str(v) => hasher.hash_one(v),
        }
    }

    fn key_at(keys: &Keys, index: u32) -> KeyRef<'_> {
        match keys {
            Keys::Int(v) => KeyRef::Int(v[index as usize]),
            Keys::UInt(v) => KeyRef::UInt(v[index as usize]),
            Keys::Str(v) => KeyRef::Str(&v[index as usize]),
            Keys::Unset => unreachable!("a dictionary with entries has a kind"),
        }
    }

    /// The index of `key`, if seen.
    pub fn find(&self, key: KeyRef<'_>) -> Option<u32> {
        let hash = Self::hash_key(&self.hasher, key);
        self.table.find(hash, |&i| Self::key_at(&self.keys, i) == key).copied()
    }

    /// The index of `key`, adding it if new. The key must be of the dictionary's kind
    /// (the binder guarantees it; a mismatched key is an error).
    pub fn intern(&mut self, key: KeyRef<'_>) -> Result<u32> {
        let hash = Self::hash_key(&self.hasher, key);
        let Self { keys, table, hasher } = self;
        if let Some(&i) = table.find(hash, |&i| Self::key_at(keys, i) == key) {
            return Ok(i);
        }
        let index = u32::try_from(match keys {
            Keys::Unset => 0,
            Keys::Int(v) => v.len(),
            Keys::UInt(v) => v.len(),
            Keys::Str(v) => v.len(),
        })
        .map_err(|_| UserOpsError::InvalidOption {
            option: "user_id",
            message: "more than 4,294,967,295 distinct users".into(),
        })?;
        match (&mut *keys, key) {
            (Keys::Int(v), KeyRef::Int(k)) => v.push(k),
            (Keys::UInt(v), KeyRef::UInt(k)) => v.push(k),
            (Keys::Str(v), KeyRef::Str(k)) => v.push(k.into()),
            (keys, key) => {
                let have = match keys {
                    Keys::Unset => "unset",
                    Keys::Int(_) => "signed integer",
                    Keys::UInt(_) => "unsigned integer",
                    Keys::Str(_) => "string",
                };
                return Err(UserOpsError::IncompatibleStates(format!("a {key:?} key in a dictionary of {have} keys")));
            }
        }
        let keys = &*keys;
        table.insert_unique(hash, index, |&i| Self::hash_key(hasher, Self::key_at(keys, i)));
        Ok(index)
    }

    /// Adds every user of `other` and returns where each of its indices went.
    pub fn absorb(&mut self, other: &UserDict) -> Result<UserRemap> {
        if let Some(kind) = other.kind() {
            self.set_kind(kind)?;
        }
        let mut to = Vec::with_capacity(other.len());
        for i in 0..other.len() as u32 {
            to.push(self.intern(Self::key_at(&other.keys, i))?);
        }
        Ok(UserRemap { to, user_count: self.len() })
    }

    /// Orders two users by key (integers numerically, strings by bytes).
    pub fn compare(&self, a: u32, b: u32) -> Ordering {
        match &self.keys {
            Keys::Int(v) => v[a as usize].cmp(&v[b as usize]),
            Keys::UInt(v) => v[a as usize].cmp(&v[b as usize]),
            Keys::Str(v) => v[a as usize].cmp(&v[b as usize]),
            Keys::Unset => Ordering::Equal,
        }
    }

    /// Sorts user indices by key, so results never depend on which worker saw whom first.
    /// Integer keys sort as `(key, index)` pairs, far faster than comparing through the
    /// dictionary; keys are distinct, so the order is total.
    pub fn sort_by_key(&self, users: &mut [u32]) {
        fn by_pairs<K: Ord + Copy>(keys: &[K], users: &mut [u32]) {
            let mut pairs: Vec<(K, u32)> = users.iter().map(|&u| (keys[u as usize], u)).collect();
            pairs.sort_unstable();
            for (slot, (_, u)) in users.iter_mut().zip(pairs) {
                *slot = u;
            }
        }
        match &self.keys {
            Keys::Int(v) => by_pairs(v, users),
            Keys::UInt(v) => by_pairs(v, users),
            Keys::Str(v) => users.sort_unstable_by(|&a, &b| v[a as usize].cmp(&v[b as usize])),
            Keys::Unset => {}
        }
    }

    /// The keys of `users` as an Arrow array of the output type (Int64, UInt64 or Utf8).
    pub fn key_array(&self, users: &[u32]) -> ArrayRef {
        match &self.keys {
            Keys::Int(v) => Arc::new(Int64Array::from_iter_values(users.iter().map(|&u| v[u as usize]))),
            Keys::UInt(v) => Arc::new(UInt64Array::from_iter_values(users.iter().map(|&u| v[u as usize]))),
            Keys::Str(v) => Arc::new(StringArray::from_iter_values(users.iter().map(|&u| &*v[u as usize]))),
            Keys::Unset => Arc::new(Int64Array::from(Vec::<i64>::new())),
        }
    }

    /// Like [`UserDict::key_array`] for optional users (null where `None`).
    pub fn optional_key_array(&self, users: &[Option<u32>]) -> ArrayRef {
        match &self.keys {
            Keys::Int(v) => Arc::new(users.iter().map(|u| u.map(|u| v[u as usize])).collect::<Int64Array>()),
            Keys::UInt(v) => Arc::new(users.iter().map(|u| u.map(|u| v[u as usize])).collect::<UInt64Array>()),
            Keys::Str(v) => Arc::new(users.iter().map(|u| u.map(|u| &*v[u as usize])).collect::<StringArray>()),
            Keys::Unset => Arc::new(Int64Array::from(vec![None::<i64>; users.len()])),
        }
    }

    /// The Arrow type of [`UserDict::key_array`].
    pub fn output_type(&self) -> DataType {
        self.kind().unwrap_or(KeyKind::Int).output_type()
    }

    /// Serializes the keys (the hash table is rebuilt on reading).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        bincode::serialize(&self.keys).map_err(|e| UserOpsError::Decode(e.to_string()))
    }

    /// Reads a dictionary written by [`UserDict::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let keys: Keys =
            bincode::deserialize(bytes).map_err(|e| UserOpsError::Decode(format!("user dictionary: {e}")))?;
        let mut dict = UserDict::new();
        let n = match &keys {
            Keys::Unset => 0,
            Keys::Int(v) => v.len(),
            Keys::UInt(v) => v.len(),
            Keys::Str(v) => v.len(),
        };
        dict.keys = keys;
        dict.table.reserve(n, |_| 0);
        let UserDict { keys, table, hasher } = &mut dict;
        for i in 0..n as u32 {
            let hash = Self::hash_key(hasher, Self::key_at(keys, i));
            table.insert_unique(hash, i, |&j| Self::hash_key(hasher, Self::key_at(keys, j)));
        }
        Ok(dict)
    }
}

/// Calls `f(row, key)` for every row of a user-key array of an accepted type (`None`
/// for a null), and returns what `f` returns per row. Dictionary arrays call `f` once
/// per distinct value, which makes interning dictionary-encoded keys cheap.
pub fn map_keys<T: Copy>(array: &dyn Array, mut f: impl FnMut(KeyRef<'_>) -> Result<T>) -> Result<Vec<Option<T>>> {
    map_keys_dyn(array, &mut f)
}

fn map_keys_dyn<T: Copy>(array: &dyn Array, f: &mut dyn FnMut(KeyRef<'_>) -> Result<T>) -> Result<Vec<Option<T>>> {
    macro_rules! dict {
        ($kt:ty) => {{
            let dict: &DictionaryArray<$kt> = array.as_dictionary::<$kt>();
            let values = map_keys_dyn(dict.values().as_ref(), f)?;
            Ok(dict.keys().iter().map(|k| k.and_then(|k| values[k as usize])).collect())
        }};
    }
    match array.data_type() {
        DataType::Int64 => {
            array.as_primitive::<Int64Type>().iter().map(|v| v.map(|v| f(KeyRef::Int(v))).transpose()).collect()
        }
        DataType::Int32 => {
            array.as_primitive::<Int32Type>().iter().map(|v| v.map(|v| f(KeyRef::Int(v as i64))).transpose()).collect()
        }
        DataType::UInt64 => {
            array.as_primitive::<UInt64Type>().iter().map(|v| v.map(|v| f(KeyRef::UInt(v))).transpose()).collect()
        }
        DataType::Utf8 => array.as_string::<i32>().iter().map(|v| v.map(|v| f(KeyRef::Str(v))).transpose()).collect(),
        DataType::LargeUtf8 => {
            array.as_string::<i64>().iter().map(|v| v.map(|v| f(KeyRef::Str(v))).transpose()).collect()
        }
        DataType::Utf8View => array.as_string_view().iter().map(|v| v.map(|v| f(KeyRef::Str(v))).transpose()).collect(),
        DataType::Dictionary(key, _) => match key.as_ref() {
            DataType::Int8 => dict!(Int8Type),
            DataType::Int16 => dict!(Int16Type),
            DataType::Int32 => dict!(Int32Type),
            DataType::Int64 => dict!(Int64Type),
            DataType::UInt8 => dict!(UInt8Type),
            DataType::UInt16 => dict!(UInt16Type),
            DataType::UInt32 => dict!(UInt32Type),
            DataType::UInt64 => dict!(UInt64Type),
            other => {
                Err(UserOpsError::InvalidOption { option: "user_id", message: format!("dictionary key type {other}") })
            }
        },
        other => Err(UserOpsError::UnsupportedType {
            column: String::new(),
            role: "user_id",
            found: other.to_string(),
            accepted: ACCEPTED_KEY_TYPES,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_dense_and_stable() {
        let mut d = UserDict::new();
        d.set_kind(KeyKind::Int).unwrap();
        assert_eq!(d.intern(KeyRef::Int(42)).unwrap(), 0);
        assert_eq!(d.intern(KeyRef::Int(7)).unwrap(), 1);
        assert_eq!(d.intern(KeyRef::Int(42)).unwrap(), 0);
        assert_eq!(d.find(KeyRef::Int(7)), Some(1));
        assert_eq!(d.find(KeyRef::Int(8)), None);
        assert!(d.intern(KeyRef::Str("x")).is_err());
    }

    #[test]
    fn absorb_remaps_and_round_trips() {
        let mut a = UserDict::new();
        a.set_kind(KeyKind::Str).unwrap();
        a.intern(KeyRef::Str("ann")).unwrap();
        let mut b = UserDict::new();
        b.set_kind(KeyKind::Str).unwrap();
        b.intern(KeyRef::Str("bob")).unwrap();
        b.intern(KeyRef::Str("ann")).unwrap();
        let remap = a.absorb(&b).unwrap();
        assert_eq!(remap, UserRemap { to: vec![1, 0], user_count: 2 });
        let back = UserDict::from_bytes(&a.to_bytes().unwrap()).unwrap();
        assert_eq!(back.find(KeyRef::Str("bob")), Some(1));
        let mut ints = UserDict::new();
        ints.set_kind(KeyKind::Int).unwrap();
        assert!(ints.absorb(&b).is_err());
        for k in [30, -5, 12, 7] {
            ints.intern(KeyRef::Int(k)).unwrap();
        }
        let mut order = vec![0, 1, 2, 3];
        ints.sort_by_key(&mut order);
        assert_eq!(order, vec![1, 3, 2, 0]);
        let mut names = vec![1, 0];
        a.sort_by_key(&mut names);
        assert_eq!(names, vec![0, 1], "ann before bob");
    }
}
