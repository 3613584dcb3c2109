//! Shared helpers for the state tests: fixture paths and texts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn fixture_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

pub fn text(rel: &str) -> String {
    std::fs::read_to_string(fixture_path(rel)).unwrap()
}
