//! `Change`, what one add or remove did, and its wording for the CLI and TUI.

use serde::Serialize;

/// What one operation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    Added {
        #[serde(rename = "type")]
        ty: String,
        name: String,
        gpus: Vec<String>,
    },
    Removed {
        #[serde(rename = "type")]
        ty: String,
        name: String,
        gpus: Vec<String>,
        /// The entry was the type's template and was parked, not deleted.
        parked: bool,
        /// How many instances of the type still run.
        remaining: usize,
    },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Added { name, .. } | Change::Removed { name, .. } => name,
        }
    }

    pub fn gpus(&self) -> &[String] {
        match self {
            Change::Added { gpus, .. } | Change::Removed { gpus, .. } => gpus,
        }
    }

    /// Whether two changes have the same effect as a confirm popup states it: the same
    /// entry, the same GPUs, parked or deleted alike, and "the last one" alike. (How many
    /// others remain may move on without changing what this change does.)
    pub fn same_effect(&self, other: &Change) -> bool {
        match (self, other) {
            (
                Change::Added { ty, name, gpus },
                Change::Added {
                    ty: t2,
                    name: n2,
                    gpus: g2,
                },
            ) => ty == t2 && name == n2 && gpus == g2,
            (
                Change::Removed {
                    ty,
                    name,
                    gpus,
                    parked,
                    remaining,
                },
                Change::Removed {
                    ty: t2,
                    name: n2,
                    gpus: g2,
                    parked: p2,
                    remaining: r2,
                },
            ) => {
                ty == t2
                    && name == n2
                    && gpus == g2
                    && parked == p2
                    && (*remaining == 0) == (*r2 == 0)
            }
            _ => false,
        }
    }
}

/// "GPU 3" / "GPUs 3, 4"; `None` for no GPU.
pub fn gpu_phrase(gpus: &[String]) -> Option<String> {
    match gpus.len() {
        0 => None,
        1 => Some(format!("GPU {}", gpus[0])),
        _ => Some(format!("GPUs {}", gpus.join(", "))),
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added { name, gpus, .. } => {
                write!(f, "added {name}")?;
                if let Some(g) = gpu_phrase(gpus) {
                    write!(f, " on {g}")?;
                }
                Ok(())
            }
            Change::Removed {
                ty,
                name,
                gpus,
                parked,
                remaining,
            } => {
                write!(f, "removed {name}")?;
                if *parked {
                    write!(f, " (parked as template)")?;
                }
                if let Some(g) = gpu_phrase(gpus) {
                    write!(f, ", freed {g}")?;
                }
                if *remaining == 0 {
                    write!(f, "; no {ty} is running now")?;
                }
                Ok(())
            }
        }
    }
}
