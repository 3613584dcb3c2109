//! The bundled demo namespaces (`--demo`), compiled into the binary.

use std::path::PathBuf;

/// (file name, contents) of every demo file.
pub const FILES: &[(&str, &str)] = &[
    ("dynamo.json", include_str!("../fixtures/demo/dynamo.json")),
    ("agg.json", include_str!("../fixtures/demo/agg.json")),
    ("full.json", include_str!("../fixtures/demo/full.json")),
    ("broken.json", include_str!("../fixtures/demo/broken.json")),
];

/// Copies the demo namespaces into a fresh temporary directory and returns its path; the
/// caller removes it on exit unless `--keep` (see [`cleanup`]).
pub fn prepare() -> std::io::Result<PathBuf> {
    let dir = tempfile::Builder::new()
        .prefix("dynamo-ctl-demo-")
        .tempdir()?
        .keep();
    for (name, text) in FILES {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(dir)
}

/// Removes a directory [`prepare`] made: only its own files, then the directory (so a
/// path that is not a demo directory is never emptied).
pub fn cleanup(dir: &std::path::Path) {
    let ours = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("dynamo-ctl-demo-"));
    if ours {
        let _ = std::fs::remove_dir_all(dir);
    }
}
