//! What one row of a request is conditioned on: the engine prepares it, scoring names it.

/// What a row is conditioned on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowCond {
    None,
    Label(i64),
    Source(Vec<i64>),
}
