//! The domain: Dynamo local state files, the planner's scaling rules, and the store that
//! reads and writes them under the planner's lock. Knows nothing of terminals.

pub mod error;
pub mod json;
pub mod model;
pub mod scale;
pub mod store;

pub use error::{Result, RuleError, StateError};
pub use model::{Component, Document, GpuId, State};
pub use scale::{Change, Summary, add, remove, scale, summarize};
pub use store::{NamespaceEntry, Store};
