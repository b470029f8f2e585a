//! User labels for breakdowns (DESIGN "Finish"): one optional label per dense user
//! index, made from a segmenter's output or any `user_id, segment` table.

use arrow_array::RecordBatch;

use crate::bind::code_strings;
use crate::error::{Result, UserOpsError};
use crate::events::NULL_CODE;
use crate::users::{map_keys, UserDict};

/// One label per user, as codes into `names`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserLabels {
    /// The distinct labels, sorted.
    pub names: Vec<String>,
    /// `of_user[u]` is the code of user `u`'s label, [`NULL_CODE`] for none.
    pub of_user: Vec<u32>,
}

impl UserLabels {
    /// The label of user `u`, if any.
    pub fn label(&self, user: u32) -> Option<&str> {
        match self.of_user.get(user as usize) {
            Some(&code) if code != NULL_CODE => Some(&self.names[code as usize]),
            _ => None,
        }
    }

    /// Labels from a table with a user key column `user_column` and a string label column
    /// `label_column` (a segmenter's output: `user_id`, `segment`). Users of the table
    /// that `users` has never seen are ignored; a user listed twice is an error.
    pub fn from_batches(
        batches: &[RecordBatch],
        user_column: &str,
        label_column: &str,
        users: &UserDict,
    ) -> Result<Self> {
        let mut names: Vec<String> = Vec::new();
        let mut of_user = vec![NULL_CODE; users.len()];
        let mut seen = vec![false; users.len()];
        for batch in batches {
            let column = |name: &str| {
                batch.column_by_name(name).cloned().ok_or_else(|| {
                    UserOpsError::InvalidBreakdown(format!("the breakdown table has no column `{name}`"))
                })
            };
            let keys = map_keys(column(user_column)?.as_ref(), |k| Ok(users.find(k)))?;
            let labels = code_strings(&column(label_column)?)
                .map_err(|_| UserOpsError::InvalidBreakdown(format!("column `{label_column}` must hold strings")))?;
            let global: Vec<u32> = labels
                .names
                .iter()
                .map(|n| match names.iter().position(|m| m == n) {
                    Some(i) => i as u32,
                    None => {
                        names.push(n.clone());
                        (names.len() - 1) as u32
                    }
                })
                .collect();
            for (row, key) in keys.iter().enumerate() {
                if let Some(Some(user)) = key {
                    let code = labels.codes[row];
                    if std::mem::replace(&mut seen[*user as usize], true) {
                        return Err(UserOpsError::InvalidBreakdown(format!(
                            "a user is listed twice in the breakdown table (row {row})"
                        )));
                    }
                    of_user[*user as usize] = if code == NULL_CODE { NULL_CODE } else { global[code as usize] };
                }
            }
        }
        // Sort label names so codes do not depend on row order.
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|a, b| names[*a].cmp(&names[*b]));
        let mut rank = vec![0u32; names.len()];
        for (new, old) in order.iter().enumerate() {
            rank[*old] = new as u32;
        }
        let of_user = of_user.into_iter().map(|c| if c == NULL_CODE { c } else { rank[c as usize] }).collect();
        let names = order.into_iter().map(|i| names[i].clone()).collect();
        Ok(UserLabels { names, of_user })
    }
}
