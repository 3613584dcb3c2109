//! The worker command format, written and read in one place: POSIX shell quoting, the
//! command a new instance runs (the template's command, then `--worker-env` and
//! `--custom-component-name`), and reading a command back: its shell words, the value after
//! a flag, its `--worker-env` environment and the GPUs its `CUDA_VISIBLE_DEVICES` names.

use serde_json::{Map, Value};

use super::json::{JsonStyle, to_python_string};

/// The flag whose value is a worker's environment, as JSON.
pub const WORKER_ENV: &str = "--worker-env";

/// The flag whose value is the instance's component key.
pub const COMPONENT_NAME: &str = "--custom-component-name";

/// POSIX shell single-quoting: safe for any content, and what Python's `shlex.split` reads back.
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// A template's command up to `--worker-env`, cut where the planner cuts it (it splits the
/// text, not the shell words), so that it finds the same template in what we write.
pub fn base_command(cmd: &str) -> &str {
    cmd.split(WORKER_ENV).next().unwrap_or("").trim()
}

/// The command of a new instance: `base_cmd`, then `env` as its `--worker-env` (an object
/// in the older layout, else a list of one object) and `name` as its component name.
pub fn worker_command(
    base_cmd: &str,
    env: Map<String, Value>,
    env_as_object: bool,
    name: &str,
) -> String {
    let env_value = if env_as_object {
        Value::Object(env)
    } else {
        Value::Array(vec![Value::Object(env)])
    };
    let env_text = to_python_string(
        &env_value,
        JsonStyle {
            indent: None,
            trailing_newline: false,
        },
    );
    format!(
        "{base_cmd} {WORKER_ENV} {} {COMPONENT_NAME} {}",
        shell_quote(&env_text),
        shell_quote(name)
    )
}

/// The words of a POSIX command line (single and double quotes, backslashes), as
/// `shlex.split` would read them.
fn shell_words(cmd: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                if !matches!(n, '"' | '\\' | '$' | '`') {
                                    w.push('\\');
                                }
                                w.push(n);
                            }
                        }
                        c => w.push(c),
                    }
                }
            }
            '\\' => {
                let w = cur.get_or_insert_with(String::new);
                if let Some(n) = chars.next() {
                    w.push(n);
                }
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = cur {
        words.push(w);
    }
    words
}

/// The value of the shell word after `flag` in a command line, as `shlex.split` would read it.
pub fn shell_word_after(cmd: &str, flag: &str) -> Option<String> {
    let words = shell_words(cmd);
    let i = words.iter().position(|w| w == flag)?;
    words.get(i + 1).cloned()
}

/// The environment in a `--worker-env` value: the object itself (the older layout) or the
/// list's first object; `None` if it is neither.
pub fn env_object(text: &str) -> Option<Map<String, Value>> {
    let env = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(a)) => a.into_iter().next(),
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    };
    match env {
        Some(Value::Object(env)) => Some(env),
        _ => None,
    }
}

/// A variable's value as the process sees it: a string as it is, anything else as JSON.
pub fn env_value(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// Whether a command's `--worker-env` value is a JSON object (the older layout) rather
/// than a list.
pub fn worker_env_is_object(cmd: &str) -> bool {
    shell_word_after(cmd, WORKER_ENV).is_some_and(|env| env.trim_start().starts_with('{'))
}

/// How many ids a command's `--worker-env` sets in `CUDA_VISIBLE_DEVICES`, if any.
pub fn cuda_devices_in_cmd(cmd: &str) -> Option<usize> {
    let env = env_object(&shell_word_after(cmd, WORKER_ENV)?)?;
    let value = env_value(env.get("CUDA_VISIBLE_DEVICES")?);
    let ids: String = value
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == ' ')
        .collect();
    let n = ids.split(',').filter(|p| !p.trim().is_empty()).count();
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_read_what_the_planner_and_dynamo_ctl_write() {
        let cmd =
            r#"python3 -m x --worker-env '[{"A": "it'\''s"}]' --custom-component-name 'n_W_1'"#;
        assert_eq!(
            shell_word_after(cmd, "--worker-env").as_deref(),
            Some(r#"[{"A": "it's"}]"#)
        );
        assert_eq!(
            shell_word_after(cmd, "--custom-component-name").as_deref(),
            Some("n_W_1")
        );
        assert_eq!(
            shell_word_after(r#"a --k "x \"y\" \z""#, "--k").as_deref(),
            Some(r#"x "y" \z"#)
        );
        assert_eq!(shell_word_after("a b", "--worker-env"), None);
    }

    #[test]
    fn a_written_command_reads_back() {
        let mut env = Map::new();
        env.insert("CUDA_VISIBLE_DEVICES".into(), Value::String("3,6".into()));
        env.insert("X".into(), Value::String("it's".into()));
        for as_object in [false, true] {
            let cmd = worker_command("python3 -m w --k v", env.clone(), as_object, "n_W_2");
            assert_eq!(base_command(&cmd), "python3 -m w --k v");
            assert_eq!(worker_env_is_object(&cmd), as_object);
            assert_eq!(cuda_devices_in_cmd(&cmd), Some(2));
            let text = shell_word_after(&cmd, WORKER_ENV).unwrap();
            assert_eq!(env_object(&text), Some(env.clone()));
            assert_eq!(
                shell_word_after(&cmd, COMPONENT_NAME).as_deref(),
                Some("n_W_2")
            );
        }
    }

    #[test]
    fn cuda_devices_count_the_ids_of_the_first_environment() {
        let count =
            |env: &str| cuda_devices_in_cmd(&format!("w --worker-env {}", shell_quote(env)));
        assert_eq!(count(r#"[{"CUDA_VISIBLE_DEVICES": "0, 1,"}, {}]"#), Some(2));
        assert_eq!(count(r#"{"CUDA_VISIBLE_DEVICES": 4}"#), Some(1));
        assert_eq!(count(r#"[{"CUDA_VISIBLE_DEVICES": ""}]"#), None);
        assert_eq!(count(r#"[{"CUDA_VISIBLE_DEVICES": "GPU-1a2b"}]"#), None);
        assert_eq!(count(r#"[{}, {"CUDA_VISIBLE_DEVICES": "0"}]"#), None);
        assert_eq!(cuda_devices_in_cmd("CUDA_VISIBLE_DEVICES=0 w"), None);
    }
}
