//! Link-time choices that make a short run (`dynamo-ctl add NS TYPE`) cheap to start
//! (scripts/measure-startup.sh measures them):
//!
//! - libstdc++ linked statically. libzmq (built by zmq-sys) is C++; linked dynamically,
//!   libstdc++.so is loaded and relocated and ~1,700 of its symbols looked up at every start,
//!   for the few functions libzmq uses. zmq-sys asks for `-lstdc++`; a search directory
//!   holding only `libstdc++.a`, ahead of the compiler's own, makes the linker take the
//!   archive (and only the members libzmq needs). Skipped when the compiler has no
//!   `libstdc++.a`.
//! - Relative relocations packed (`-z pack-relative-relocs`, DT_RELR): the ~26,000
//!   relocations of a position-independent Rust binary (vtables, string and panic-location
//!   tables) become a few hundred bytes the loader applies in a tight loop, instead of a
//!   600 KB table it reads entry by entry. Used only when the C compiler links and runs a
//!   program with it here (binutils >= 2.38 and glibc >= 2.36).
//!
//! Both only for a native Linux glibc build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=CXX");
    let var = |k: &str| env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("TARGET") != var("HOST")
    {
        return;
    }
    let out = PathBuf::from(var("OUT_DIR"));
    static_libstdcxx(&out);
    if links_and_runs(&out, "-Wl,-z,pack-relative-relocs") {
        println!("cargo:rustc-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

fn static_libstdcxx(out: &Path) {
    let cxx = env::var("CXX").unwrap_or_else(|_| "c++".into());
    let Ok(o) = Command::new(&cxx)
        .arg("-print-file-name=libstdc++.a")
        .output()
    else {
        return;
    };
    let archive = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    // Without the file, the compiler prints the bare name back.
    if !o.status.success() || !archive.is_absolute() || !archive.is_file() {
        return;
    }
    let dir = out.join("static-libstdcxx");
    let link = dir.join("libstdc++.a");
    let _ = std::fs::remove_file(&link);
    if std::fs::create_dir_all(&dir).is_err()
        || std::os::unix::fs::symlink(&archive, &link).is_err()
    {
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rerun-if-changed={}", archive.display());
}

/// Whether the C compiler links a program with `flag` and the program runs.
fn links_and_runs(out: &Path, flag: &str) -> bool {
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let src = out.join("probe.c");
    let exe = out.join("probe");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let built = Command::new(&cc)
        .args(["-pie", "-fPIE", flag, "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .is_ok_and(|o| o.status.success() && o.stderr.is_empty());
    built && Command::new(&exe).status().is_ok_and(|s| s.success())
}
