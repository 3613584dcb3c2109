//! `~/.config/dynamo-ctl/config.toml` (`$XDG_CONFIG_HOME/dynamo-ctl/config.toml`): the
//! default state directory, how often the TUI asks circus and the metrics sources, colour
//! overrides, key rebinding, and the load thresholds. Every key is optional; an unknown key, a bad value or a key bound twice is an
//! error that names the line.
//!
//! ```toml
//! state_dir = "/var/run/dynamo/state"   # after --state-dir and $DYN_LOCAL_STATE_DIR
//! refresh = 2.0                          # seconds between arbiter and metrics polls (>= 0.5)
//! log_lines = 10000                      # lines a log panel keeps (100 to 1,000,000)
//!
//! [theme]                                # truecolor terminals: "#rrggbb"
//! cyan = "#00f0ff"
//!
//! [keys]                                 # action = key: "A", "ctrl-r", "f5", "enter", ...
//! add = "+"
//! remove = "-"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::tui::keys::{self, Key};

/// Files larger than this are not configuration.
const MAX_SIZE: u64 = 1 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub state_dir: Option<PathBuf>,
    pub refresh: Option<f64>,
    /// Lines a log panel keeps (default 10,000).
    pub log_lines: Option<usize>,
    #[serde(default)]
    pub theme: ThemeOverrides,
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Where load numbers turn orange (`*_warn`) and red (`*_crit`).
    #[serde(default)]
    pub thresholds: ThresholdOverrides,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdOverrides {
    pub p95_warn: Option<f64>,
    pub p95_crit: Option<f64>,
    pub errors_warn: Option<f64>,
    pub errors_crit: Option<f64>,
    pub queue_warn: Option<f64>,
    pub queue_crit: Option<f64>,
    pub kv_warn: Option<f64>,
    pub kv_crit: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThemeOverrides {
    pub bg: Option<String>,
    pub panel: Option<String>,
    pub cyan: Option<String>,
    pub magenta: Option<String>,
    pub orange: Option<String>,
    pub green: Option<String>,
    pub red: Option<String>,
    pub text: Option<String>,
    pub dim: Option<String>,
}

/// Where the configuration is read from.
pub fn path() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".config")))
        .map(|d| d.join("dynamo-ctl").join("config.toml"))
}

/// The line (1-based) of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// A key spec from the config: one character, `ctrl-<c>`, or a named key.
pub fn parse_key(spec: &str) -> Result<Key, String> {
    use crossterm::event::KeyCode;
    let lower = spec.to_ascii_lowercase();
    if let Some(c) = lower.strip_prefix("ctrl-")
        && let [c] = c.chars().collect::<Vec<_>>()[..]
        && c.is_ascii_alphanumeric()
    {
        return Ok(Key::Ctrl(c));
    }
    let named = match lower.as_str() {
        "enter" => Some(KeyCode::Enter),
        "esc" => Some(KeyCode::Esc),
        "tab" => Some(KeyCode::Tab),
        "backspace" => Some(KeyCode::Backspace),
        "up" => Some(KeyCode::Up),
        "down" => Some(KeyCode::Down),
        "left" => Some(KeyCode::Left),
        "right" => Some(KeyCode::Right),
        "home" => Some(KeyCode::Home),
        "end" => Some(KeyCode::End),
        "pgup" => Some(KeyCode::PageUp),
        "pgdn" => Some(KeyCode::PageDown),
        "delete" => Some(KeyCode::Delete),
        "insert" => Some(KeyCode::Insert),
        _ => lower
            .strip_prefix('f')
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=12).contains(n))
            .map(KeyCode::F),
    };
    if let Some(code) = named {
        return Ok(Key::Code(code));
    }
    match spec.chars().collect::<Vec<_>>()[..] {
        [c] if !c.is_control() && c != ' ' => Ok(Key::Char(c)),
        _ => Err(format!(
            "{spec:?} is not a key (one character, ctrl-<c>, f1-f12, enter, esc, tab, up, down, left, right, home, end, pgup, pgdn)"
        )),
    }
}

impl Config {
    /// The load thresholds: the defaults with the file's overrides.
    pub fn thresholds(&self) -> crate::tui::load::Thresholds {
        let mut t = crate::tui::load::Thresholds::default();
        let o = &self.thresholds;
        for (dst, src) in [
            (&mut t.p95_warn, o.p95_warn),
            (&mut t.p95_crit, o.p95_crit),
            (&mut t.errors_warn, o.errors_warn),
            (&mut t.errors_crit, o.errors_crit),
            (&mut t.queue_warn, o.queue_warn),
            (&mut t.queue_crit, o.queue_crit),
            (&mut t.kv_warn, o.kv_warn),
            (&mut t.kv_crit, o.kv_crit),
        ] {
            if let Some(v) = src {
                *dst = v;
            }
        }
        t
    }

    /// Reads the file at `path`; a missing file is the default configuration.
    pub fn load(path: &Path) -> Result<Config, String> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if !meta.is_file() || meta.len() > MAX_SIZE {
            return Err(format!(
                "{}: not a regular file of at most 1 MiB",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// For the commands, which use only `state_dir`: the whole file checked as for the
    /// TUI, but a mistake elsewhere (a key bound twice, a bad colour, a typo in a section)
    /// is a warning, not a failure: a cron job's `list` does not stop over a key binding.
    /// Only a file that does not say its `state_dir` plainly is an error.
    pub fn load_for_commands(path: &Path) -> Result<(Config, Option<String>), String> {
        match Config::load(path) {
            Ok(c) => Ok((c, None)),
            Err(e) => {
                let text = match std::fs::read_to_string(path) {
                    Ok(t) if t.len() as u64 <= MAX_SIZE => t,
                    _ => return Err(e),
                };
                #[derive(Deserialize)]
                struct StateDirOnly {
                    state_dir: Option<PathBuf>,
                }
                match toml::from_str::<StateDirOnly>(&text) {
                    Ok(s) => Ok((
                        Config {
                            state_dir: s.state_dir,
                            ..Config::default()
                        },
                        Some(e),
                    )),
                    Err(_) => Err(e),
                }
            }
        }
    }

    /// Parses and checks a configuration; errors name the line.
    pub fn parse(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let msg = e.message().trim().to_string();
            match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            }
        })?;
        let line_with = |needle: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(needle))
                .map_or(0, |i| i + 1)
        };
        if let Some(r) = cfg.refresh
            && (!r.is_finite() || !(0.5..=3600.0).contains(&r))
        {
            return Err(format!(
                "line {}: refresh = {r}: between 0.5 and 3600 seconds",
                line_with("refresh")
            ));
        }
        if let Some(n) = cfg.log_lines
            && !(100..=1_000_000).contains(&n)
        {
            return Err(format!(
                "line {}: log_lines = {n}: between 100 and 1000000",
                line_with("log_lines")
            ));
        }
        let th = &cfg.thresholds;
        for (name, value) in [
            ("p95_warn", th.p95_warn),
            ("p95_crit", th.p95_crit),
            ("errors_warn", th.errors_warn),
            ("errors_crit", th.errors_crit),
            ("queue_warn", th.queue_warn),
            ("queue_crit", th.queue_crit),
            ("kv_warn", th.kv_warn),
            ("kv_crit", th.kv_crit),
        ] {
            if let Some(v) = value
                && (!v.is_finite() || v < 0.0)
            {
                return Err(format!(
                    "line {}: thresholds.{name} = {v}: a number of at least 0",
                    line_with(name)
                ));
            }
        }
        for (name, value) in [
            ("bg", &cfg.theme.bg),
            ("panel", &cfg.theme.panel),
            ("cyan", &cfg.theme.cyan),
            ("magenta", &cfg.theme.magenta),
            ("orange", &cfg.theme.orange),
            ("green", &cfg.theme.green),
            ("red", &cfg.theme.red),
            ("text", &cfg.theme.text),
            ("dim", &cfg.theme.dim),
        ] {
            if let Some(v) = value
                && parse_rgb(v).is_none()
            {
                return Err(format!(
                    "line {}: theme.{name} = {v:?}: expected \"#rrggbb\"",
                    line_with(name)
                ));
            }
        }
        cfg.keymap()
            .map_err(|(action, e)| format!("line {}: keys.{action}: {e}", line_with(&action)))?;
        Ok(cfg)
    }

    /// The `[keys]` section as overrides for the key registry: (action, key), checked
    /// against the actions there are and against keys that are taken.
    pub fn keymap(&self) -> Result<Vec<(&'static str, Key)>, (String, String)> {
        let mut out = Vec::new();
        for (action, spec) in &self.keys {
            let Some(name) = keys::ACTIONS.iter().find(|a| a.name == action) else {
                let known: Vec<&str> = keys::ACTIONS.iter().map(|a| a.name).collect();
                return Err((
                    action.clone(),
                    format!("unknown action (known: {})", known.join(", ")),
                ));
            };
            let key = parse_key(spec).map_err(|e| (action.clone(), e))?;
            out.push((name.name, key));
        }
        keys::check_overrides(&out).map_err(|(a, e)| (a.to_string(), e))?;
        Ok(out)
    }
}

/// "#rrggbb" as red, green, blue.
pub fn parse_rgb(s: &str) -> Option<(u8, u8, u8)> {
    let h = s.strip_prefix('#')?;
    if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((v(0)?, v(2)?, v(4)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let c = Config::parse(
            "state_dir = \"/x\"\nrefresh = 1.5\n[theme]\ncyan = \"#112233\"\n[keys]\nadd = \"+\"\nrefresh = \"f5\"\nquit = \"ctrl-x\"\n",
        )
        .unwrap();
        assert_eq!(c.state_dir.as_deref(), Some(Path::new("/x")));
        assert_eq!(c.refresh, Some(1.5));
        let map = c.keymap().unwrap();
        assert!(map.contains(&("add", Key::Char('+'))));
        assert!(map.contains(&("quit", Key::Ctrl('x'))));
    }

    #[test]
    fn thresholds_override_the_defaults_and_bad_ones_name_the_line() {
        let c = Config::parse("[thresholds]\np95_warn = 0.5\nqueue_crit = 50\n").unwrap();
        let t = c.thresholds();
        assert_eq!((t.p95_warn, t.p95_crit), (0.5, 5.0));
        assert_eq!(t.queue_crit, 50.0);
        let e = Config::parse("[thresholds]\n\nkv_warn = -1\n").unwrap_err();
        assert!(e.starts_with("line 3: thresholds.kv_warn = -1"), "{e}");
        let e = Config::parse("[thresholds]\nlatency = 1\n").unwrap_err();
        assert!(e.starts_with("line 2: unknown field `latency`"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            ("refresh = 1\nbogus = 2\n", "line 2: unknown field `bogus`"),
            ("[theme]\ncyan = \"#12\"\n", "line 2: theme.cyan"),
            ("[keys]\nfly = \"f\"\n", "line 2: keys.fly: unknown action"),
            (
                "[keys]\n\nadd = \"nope\"\n",
                "line 3: keys.add: \"nope\" is not a key",
            ),
            (
                "[keys]\nadd = \"r\"\n",
                "line 2: keys.add: r is already bound",
            ),
            ("refresh = 0.1\n", "line 1: refresh = 0.1"),
            (
                "[theme]\nbogus = \"#000000\"\n",
                "line 2: unknown field `bogus`",
            ),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }
}
