//! The domain: Dynamo local state files, the planner's scaling rules, and the store that
//! reads and writes them under the planner's lock. Knows nothing of terminals.

pub mod change;
pub mod command;
pub mod document;
pub mod error;
pub mod json;
pub mod model;
mod parse;
pub mod scale;
pub mod sink;
pub mod store;
pub mod summary;

pub use change::Change;
pub use error::{Result, RuleError, StateError};
pub use model::{Component, Document, GpuId, State};
pub use scale::{add, remove, scale};
pub use store::{NamespaceEntry, Store};
pub use summary::{Summary, summarize};
