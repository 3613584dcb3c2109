//! Where a watcher's output goes (reference §7): `get` of `stdout_stream_conf` and
//! `stderr_stream_conf` answers each stream's file and rotation settings; `null` (added
//! without streams) or `{}` (an ini without that stream) means no file. Only those two
//! keys are ever asked for: `options` would answer the watcher's whole environment.
//!
//! A worker dynamo-ctl adds gets files of the same kind as its type's base watcher: the
//! base's directory pattern with the new watcher's name, the base's rotation settings.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};

use super::client::{Client, Result};
use crate::state::State;

/// Longest file name accepted from the arbiter.
const MAX_PATH: usize = 4096;
/// Largest `backup_count` accepted (circus keeps that many rotated files).
const MAX_BACKUPS: u64 = 10_000;

/// One stream's file, as the arbiter said.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamConf {
    pub filename: PathBuf,
    /// Rotate past this size (0 or absent: never).
    pub max_bytes: Option<u64>,
    /// Rotated files kept.
    pub backup_count: Option<u64>,
}

/// A stream's conf: `Ok(None)` when it has no file, `Err` when the answer makes no sense.
pub type Conf = std::result::Result<Option<StreamConf>, String>;

/// A number circus may give as a number or (from an ini) as a string.
fn number(v: Option<&Value>, key: &str, max: u64) -> std::result::Result<Option<u64>, String> {
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if s.len() <= 20 => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match n {
        Some(n) if n <= max => Ok(Some(n)),
        _ => Err(format!("{key} is not a number from 0 to {max}")),
    }
}

/// Checks one `*_stream_conf` answer (hostile: any JSON).
pub fn parse_conf(v: Option<&Value>) -> Conf {
    let m = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(_) => return Err("circus answered a stream conf that is not an object".into()),
    };
    // Another class (circus's StdoutStream, ...) writes no file we can read.
    if let Some(class) = m.get("class") {
        let c = class.as_str().unwrap_or("");
        if !c.to_ascii_lowercase().ends_with("filestream") {
            return Ok(None);
        }
    }
    let name = match m.get("filename") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(_) => return Err("circus answered a filename that is not a string".into()),
    };
    if name.len() > MAX_PATH || name.is_empty() || name.chars().any(|c| c.is_control()) {
        return Err(format!(
            "circus answered an unusable filename ({} bytes, empty or with control characters)",
            name.len()
        ));
    }
    let path = PathBuf::from(name);
    if !path.is_absolute() {
        return Err(format!(
            "the log file {} is relative to circusd's working directory, which dynamo-ctl cannot know",
            crate::text::safe(name)
        ));
    }
    Ok(Some(StreamConf {
        filename: path,
        max_bytes: number(m.get("max_bytes"), "max_bytes", i64::MAX as u64)?,
        backup_count: number(m.get("backup_count"), "backup_count", MAX_BACKUPS)?,
    }))
}

impl Client {
    /// Where watcher `name` writes its stdout and its stderr.
    pub fn stream_confs(&mut self, name: &str) -> Result<(Conf, Conf)> {
        let r = self.call(
            "get",
            json!({"name": name, "keys": ["stdout_stream_conf", "stderr_stream_conf"]}),
        )?;
        let opts = r.get("options").and_then(Value::as_object);
        let get = |k: &str| parse_conf(opts.and_then(|o| o.get(k)));
        Ok((get("stdout_stream_conf"), get("stderr_stream_conf")))
    }
}

/// The base's file for a new watcher: `<dir>/<base>/output.log` becomes
/// `<dir>/<new>/output.log` (Dynamo's layout; the directory keeps the watcher's case); a
/// file named after the base is renamed; else the new watcher gets a directory of its own
/// beside the base's file. None when `new` cannot be a directory name.
pub fn derive(base: &str, conf: &StreamConf, new: &str) -> Option<StreamConf> {
    let plain = Path::new(new).components().count() == 1
        && matches!(
            Path::new(new).components().next(),
            Some(Component::Normal(_))
        );
    if !plain || new.chars().any(|c| c.is_control()) {
        return None;
    }
    let file = &conf.filename;
    let dir = file.parent()?;
    let fname = file.file_name()?.to_str()?;
    let dir_name = dir.file_name().and_then(|d| d.to_str());
    let filename = if dir_name.is_some_and(|d| d.eq_ignore_ascii_case(base)) {
        dir.parent()?.join(new).join(fname)
    } else if !base.is_empty() && fname.contains(base) {
        dir.join(fname.replacen(base, new, 1))
    } else {
        dir.join(new).join(fname)
    };
    Some(StreamConf {
        filename,
        ..conf.clone()
    })
}

/// The `add` options that give watcher `new` files like those of `base` (its type's base
/// watcher), with their directories made: `stdout_stream` / `stderr_stream`, empty when
/// the base writes no file (or circus cannot say). What could not be set up is said on
/// `note`.
pub fn for_new_watcher(
    client: &mut Client,
    base: &str,
    new: &str,
    note: &mut dyn FnMut(&str),
) -> Map<String, Value> {
    let mut out = Map::new();
    let Ok((o, e)) = client.stream_confs(base) else {
        return out;
    };
    for (key, conf) in [("stdout_stream", o), ("stderr_stream", e)] {
        let Ok(Some(conf)) = conf else { continue };
        let Some(c) = derive(base, &conf, new) else {
            continue;
        };
        if let Some(dir) = c.filename.parent()
            && let Err(err) = std::fs::create_dir_all(dir)
        {
            note(&format!(
                "cannot make {} for {new}'s {key}: {err}; its output goes to circusd's stdout",
                dir.display()
            ));
            continue;
        }
        let mut s = json!({"class": "FileStream", "filename": c.filename});
        if let Some(b) = c.max_bytes {
            s["max_bytes"] = json!(b);
        }
        if let Some(b) = c.backup_count {
            s["backup_count"] = json!(b);
        }
        out.insert(key.into(), s);
    }
    out
}

/// The base watcher of `ty` for a new instance `new`: the type's template (its entry
/// without a number, else the lowest-numbered one), never `new` itself.
pub fn base_watcher(state: &State, ty: &str, new: &str) -> Option<String> {
    let s = crate::state::scale::summarize(state);
    let t = s.types.iter().find(|t| t.ty == ty)?;
    t.instances
        .iter()
        .filter(|i| i.name != new)
        .min_by_key(|i| i.suffix.map_or(0, |n| n.saturating_add(1)))
        .map(|i| i.watcher_name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(name: &str) -> StreamConf {
        StreamConf {
            filename: PathBuf::from(name),
            max_bytes: Some(100),
            backup_count: Some(10),
        }
    }

    #[test]
    fn parses_what_circus_answers_and_refuses_nonsense() {
        assert_eq!(parse_conf(None), Ok(None));
        assert_eq!(parse_conf(Some(&Value::Null)), Ok(None));
        assert_eq!(parse_conf(Some(&json!({}))), Ok(None));
        assert_eq!(
            parse_conf(Some(
                &json!({"filename": "/l/W/output.log", "backup_count": "10", "max_bytes": 100})
            )),
            Ok(Some(conf("/l/W/output.log")))
        );
        assert_eq!(
            parse_conf(Some(&json!({"class": "StdoutStream"}))),
            Ok(None)
        );
        for bad in [
            json!([1]),
            json!({"filename": 5}),
            json!({"filename": "relative/output.log"}),
            json!({"filename": "/a\u{1b}[2J/output.log"}),
            json!({"filename": "/x".repeat(3000)}),
            json!({"filename": "/a", "backup_count": -1}),
            json!({"filename": "/a", "backup_count": "1e9"}),
            json!({"filename": "/a", "max_bytes": {"a": 1}}),
        ] {
            assert!(parse_conf(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_watcher_gets_the_bases_pattern() {
        let c = conf("/logs/dynamo_VllmWorker/output.log");
        assert_eq!(
            derive("dynamo_VllmWorker", &c, "dynamo_VllmWorker_2").unwrap(),
            conf("/logs/dynamo_VllmWorker_2/output.log")
        );
        // circus lower-cases names: the directory still matches.
        assert_eq!(
            derive("dynamo_vllmworker", &c, "dynamo_VllmWorker_2")
                .unwrap()
                .filename,
            PathBuf::from("/logs/dynamo_VllmWorker_2/output.log")
        );
        assert_eq!(
            derive("w", &conf("/logs/w.out"), "w_1").unwrap().filename,
            PathBuf::from("/logs/w_1.out")
        );
        assert_eq!(
            derive("w", &conf("/logs/all.out"), "w_1").unwrap().filename,
            PathBuf::from("/logs/w_1/all.out")
        );
        for bad in ["..", "a/b", "", "."] {
            assert_eq!(derive("w", &c, bad), None, "{bad}");
        }
    }
}
