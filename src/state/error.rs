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
    #[error(
        "{path}: is {kind}, not a regular file; a state file must be a regular file, so it is not read, locked or written"
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{path}: {size} bytes is more than the {} MiB a state file may hold; it is not read, locked or written",
        super::store::MAX_STATE_FILE_BYTES / (1024 * 1024)
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path}: contains NaN or Infinity, which is not JSON; the file is left untouched")]
    NonFinite { path: PathBuf },
    #[error("{path}: malformed state file: {message}; the file is left untouched")]
    Parse { path: PathBuf, message: String },
    #[error(
        "{path}: locked by another process for more than {}s ({}); try again or raise --lock-timeout",
        timeout.as_secs_f64(),
        holder.as_deref().map_or_else(|| "the planner or another dynamo-ctl?".to_string(), |h| format!("held by {h}"))
    )]
    LockTimeout {
        path: PathBuf,
        timeout: Duration,
        /// "pid 25951 (python3 -m dynamo.planner ...)" when `/proc/locks` tells.
        holder: Option<String>,
    },
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("cannot write to stdout: {0}")]
    Stdout(#[source] std::io::Error),
}

/// A scaling request that the planner's rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error(
        "no component of type {ty:?} in namespace {namespace:?}{} (known types: {known})",
        suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_default()
    )]
    UnknownType {
        ty: String,
        namespace: String,
        known: String,
        /// A known type that differs only in case (or starts the same way).
        suggestion: Option<String>,
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
        "{ty}: {} need{} {} GPU{}; only {free} of {total} are free",
        plural(*instances, "more instance"),
        if *instances == 1 { "s" } else { "" },
        need,
        if *need == 1 { "" } else { "s" }
    )]
    NotEnoughGpusFor {
        ty: String,
        /// New instances wanted.
        instances: usize,
        /// GPUs they need together.
        need: usize,
        free: usize,
        total: usize,
    },
    #[error(
        "{ty}: {replicas} instances is more than the {} a scale may aim for",
        super::scale::MAX_REPLICAS
    )]
    TooManyReplicas { ty: String, replicas: usize },
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

/// "1 more instance", "7 more instances".
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;
