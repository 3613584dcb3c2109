//! The bundled demo namespaces (`--demo`), compiled into the binary.

use std::path::PathBuf;

/// (file name, contents) of every demo file.
pub const FILES: &[(&str, &str)] = &[
    ("dynamo.json", include_str!("../fixtures/demo/dynamo.json")),
    ("agg.json", include_str!("../fixtures/demo/agg.json")),
    ("full.json", include_str!("../fixtures/demo/full.json")),
    ("broken.json", include_str!("../fixtures/demo/broken.json")),
];

/// Copies the demo namespaces into a fresh temporary directory, which is kept after exit
/// so the files can be inspected, and returns its path.
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
