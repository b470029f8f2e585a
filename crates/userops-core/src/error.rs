//! Errors as values: each variant names what went wrong and carries the column,
//! parameter or value that was wrong, so the message alone tells the user what to fix.

use arrow_schema::ArrowError;

/// Every failure the engine and its plugins report.
#[derive(Debug, thiserror::Error)]
pub enum UserOpsError {
    /// A column a requested metric needs is not in the input.
    #[error("column `{column}` (the {role} column) is missing from the input; columns present: {present}. Map your own name with columns={{\"{role}\": \"your_name\"}}")]
    MissingColumn {
        /// The caller's name for the column.
        column: String,
        /// The role it plays (`user_id`, `ts`, ...).
        role: &'static str,
        /// The input's column names, comma separated.
        present: String,
    },
    /// A column has an Arrow type userops cannot read for its role.
    #[error("column `{column}` has type {found}, which userops cannot read as the {role} column; accepted types: {accepted}")]
    UnsupportedType {
        /// The caller's name for the column.
        column: String,
        /// The role it plays.
        role: &'static str,
        /// The Arrow type found.
        found: String,
        /// The Arrow types accepted for the role.
        accepted: &'static str,
    },
    /// Amounts that are NaN or infinite: money must be finite.
    #[error("column `{column}` has {rows} NaN or infinite amount(s); amounts must be finite numbers (use null for an unknown amount)")]
    NonFiniteAmount {
        /// The caller's name for the amount column.
        column: String,
        /// How many rows had a non-finite amount.
        rows: u64,
    },
    /// A finite amount too large to be held exactly in micro-units.
    #[error("column `{column}` has an amount of {value} which is too large to hold exactly (limit ±9.2e12 per row)")]
    AmountOutOfRange {
        /// The caller's name for the amount column.
        column: String,
        /// The offending value, as text.
        value: String,
    },
    /// A plugin parameter is unknown or has a wrong value.
    #[error("plugin `{plugin}`: invalid parameter {parameter}: {message}")]
    InvalidParameter {
        /// The plugin name.
        plugin: String,
        /// The parameter name (or `(parameters)` when the whole object is wrong).
        parameter: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// An option of the run itself (time zone, as_of, threads) is wrong.
    #[error("invalid option `{option}`: {message}")]
    InvalidOption {
        /// The option name.
        option: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A plugin name that no linked crate registered.
    #[error("unknown plugin `{name}`; registered plugins: {known}")]
    UnknownPlugin {
        /// The name asked for.
        name: String,
        /// All registered names, sorted, comma separated.
        known: String,
    },
    /// Two registrations share one name.
    #[error("plugin name `{name}` is registered twice (by crates {first} and {second}); plugin names must be unique")]
    DuplicatePlugin {
        /// The duplicated name.
        name: String,
        /// The crate of the first registration.
        first: &'static str,
        /// The crate of the second registration.
        second: &'static str,
    },
    /// Two partial states that cannot be merged (different plugins, parameters, options or versions).
    #[error("cannot merge partial states: {0}")]
    IncompatibleStates(String),
    /// Bytes that are not a userops partial state of a supported version.
    #[error("cannot read partial state bytes: {0}")]
    Decode(String),
    /// The user id and referrer id columns are of different kinds (integer vs string).
    #[error("column `{column}` holds {found} ids but the user ids are {expected}; referrer ids must be of the same kind as user ids")]
    MismatchedKeyKind {
        /// The referrer column's name.
        column: String,
        /// The kind found.
        found: &'static str,
        /// The kind of the user ids.
        expected: &'static str,
    },
    /// A breakdown table that cannot be used.
    #[error("invalid breakdown: {0}")]
    InvalidBreakdown(String),
    /// A bug in userops (a worker panicked, a lock was poisoned): please report it.
    #[error("internal error, please report: {0}")]
    Internal(String),
    /// An error from Arrow itself (reading the input stream, building output).
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
}

/// The result type of every fallible userops function.
pub type Result<T, E = UserOpsError> = std::result::Result<T, E>;

impl UserOpsError {
    /// Shorthand for [`UserOpsError::InvalidParameter`].
    pub fn param(plugin: &str, parameter: &str, message: impl Into<String>) -> Self {
        UserOpsError::InvalidParameter {
            plugin: plugin.to_string(),
            parameter: parameter.to_string(),
            message: message.into(),
        }
    }
}
