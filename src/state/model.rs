//! The typed view of a state file. Every key dynamo-ctl does not use is kept verbatim in the
//! `extra` maps; key order is restored from the original text on save (see `Document`).

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};

use super::json::{self, JsonStyle};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circus_endpoint: Option<String>,
    pub components: IndexMap<String, Component>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub watcher_name: String,
    pub cmd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Absent (`None`), `null` (`Some(None)`: a parked base entry) or an etcd lease id.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease: Option<Option<Number>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_gpus: Option<Vec<GpuId>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    #[serde(
        rename = "DYNAMO_SERVICE_CONFIG",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_config: Option<String>,
    #[serde(
        rename = "SYSTEM_RESOURCES",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_resources: Option<SystemResources>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_gpus: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_info: Option<Vec<GpuId>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A GPU id as written: `dynamo serve` writes ints, the planner strings. Kept as found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GpuId {
    Int(Number),
    Str(String),
}

impl GpuId {
    /// The id as a number, for comparing ints with strings ("2" == 2).
    pub fn numeric(&self) -> Option<u64> {
        match self {
            GpuId::Int(n) => n.as_u64(),
            GpuId::Str(s) => s.trim().parse().ok(),
        }
    }

    /// A key that identifies the GPU whatever its spelling.
    pub fn key(&self) -> String {
        match self.numeric() {
            Some(n) => n.to_string(),
            None => self.to_string(),
        }
    }
}

impl std::fmt::Display for GpuId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuId::Int(n) => write!(f, "{n}"),
            GpuId::Str(s) => f.write_str(s),
        }
    }
}

fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Number>>, D::Error> {
    Option::<Number>::deserialize(d).map(Some)
}

impl Component {
    /// The GPUs this entry holds (empty when none).
    pub fn gpus(&self) -> &[GpuId] {
        self.resources
            .as_ref()
            .and_then(|r| r.allocated_gpus.as_deref())
            .unwrap_or(&[])
    }

    /// A parked entry (`"lease": null` and no GPUs) is a template, not a running worker.
    pub fn is_parked(&self) -> bool {
        matches!(self.lease, Some(None)) && self.gpus().is_empty()
    }
}

impl State {
    pub fn gpu_info(&self) -> Option<&[GpuId]> {
        self.environment
            .as_ref()?
            .system_resources
            .as_ref()?
            .gpu_info
            .as_deref()
    }

    pub fn service_config(&self) -> Option<&str> {
        self.environment.as_ref()?.service_config.as_deref()
    }
}

/// A parsed state file: the typed state plus what is needed to write it back losslessly.
#[derive(Clone, Debug)]
pub struct Document {
    pub state: State,
    original: Value,
    pub style: JsonStyle,
    /// The length of the text read, to size the text written.
    size_hint: usize,
}

/// Why a text is not a usable state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseProblem {
    NonFinite,
    Invalid(String),
}

impl Document {
    pub fn parse(text: &str) -> Result<Document, ParseProblem> {
        let original: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                if json::has_non_finite_literal(text) {
                    return Err(ParseProblem::NonFinite);
                }
                return Err(ParseProblem::Invalid(e.to_string()));
            }
        };
        if !original.is_object() {
            return Err(ParseProblem::Invalid(
                "the top level is not a JSON object".into(),
            ));
        }
        // From the parsed tree; from the text only when that fails: a `Value` hands integers
        // beyond 64 bits to serde's buffering (flattened `extra` maps, untagged `GpuId`) as
        // u128/i128, which it rejects, while the text parser passes them on as exact strings.
        let state = match State::deserialize(&original) {
            Ok(s) => s,
            Err(_) => {
                serde_json::from_str(text).map_err(|e| ParseProblem::Invalid(e.to_string()))?
            }
        };
        Ok(Document {
            state,
            original,
            style: JsonStyle::detect(text),
            size_hint: text.len(),
        })
    }

    /// The state as a JSON value, in the original key order.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        let mut v = serde_json::to_value(&self.state)?;
        json::restore_layout(&mut v, &self.original);
        Ok(v)
    }

    /// The text to write: byte-identical to the input when nothing changed.
    pub fn render(&self) -> Result<String, serde_json::Error> {
        Ok(json::to_python_string_sized(
            &self.to_value()?,
            self.style,
            self.size_hint + 1024,
        ))
    }
}
