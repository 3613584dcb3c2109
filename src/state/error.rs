use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong reading, changing or saving a state file. Each message is
/// meant to be shown to an operator as it is.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid namespace name {name:?}: {reason}")]
    BadNamespace { name: String, reason: &'static str },
    #[error(
        "state directory {dir} does not exist (is a deployment running? `dynamo serve` with a local planner creates it; try --demo)"
    )]
    DirMissing { dir: PathBuf },
    #[error("namespace {name:?} not found: no {path}")]
    NotFound { name: String, path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: contains NaN or Infinity, which is not JSON; the file is left untouched")]
    NonFinite { path: PathBuf },
    #[error("{path}: malformed state file: {message}; the file is left untouched")]
    Parse { path: PathBuf, message: String },
    #[error(
        "{path}: locked by another process (the planner or another dynamo-ctl?) for more than {}s; try again or raise --lock-timeout",
        timeout.as_secs_f64()
    )]
    LockTimeout { path: PathBuf, timeout: Duration },
    #[error("{0}")]
    Rule(#[from] RuleError),
}

/// A scaling request that the planner's rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("no component of type {ty:?} in namespace {namespace:?} (known types: {known})")]
    UnknownType {
        ty: String,
        namespace: String,
        known: String,
    },
    #[error("invalid component type {ty:?}: {reason}")]
    BadType { ty: String, reason: &'static str },
    #[error("{ty} needs {need} GPU(s) but only {free} of {total} are free")]
    NotEnoughGpus {
        ty: String,
        need: usize,
        free: usize,
        total: usize,
    },
    #[error(
        "{ty} needs GPUs but the state file lists none (environment.SYSTEM_RESOURCES.gpu_info is missing)"
    )]
    NoGpuInfo { ty: String },
    #[error("no suffix left for a new {ty}: the highest one is already the largest number")]
    SuffixExhausted { ty: String },
    #[error("no running instance of {ty} to remove")]
    NothingRunning { ty: String },
    #[error("cannot serialize the state: {0}")]
    Serialize(String),
    #[error("no running entry {name} in the state file")]
    NoSuchEntry { name: String },
    /// The file moved on since the change was planned: it would now do something else.
    #[error(
        "the state file changed meanwhile: the change would now be \"{actual}\", not the expected \"{expected}\"; nothing done"
    )]
    Moved {
        expected: String,
        actual: Box<super::scale::Change>,
    },
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;
