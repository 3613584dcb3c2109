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
//! - The unwinder (libgcc_eh) linked statically instead of libgcc_s.so: one shared library
//!   fewer to find, map and relocate at every start, and no run of its constructor, which
//!   asks the CPU for its features with a dozen `cpuid` instructions (each a trap to the
//!   hypervisor on a virtual machine). Rust asks for `-lgcc_s`; a search directory holding a
//!   `libgcc_s.a` that is a linker script naming `libgcc_eh.a` and `libgcc.a` makes the
//!   linker take those archives. All C++ code (libzmq, libstdc++) is inside the binary
//!   already, so there is one unwinder. Skipped when the compiler has no `libgcc_eh.a`.
//! - Opt-in only, `DYNAMO_CTL_NO_PIE=1` at build time: the executable not
//!   position-independent (`-no-pie`, for the `dynamo-ctl` binary only): nothing of its own
//!   to relocate at start, so its relocated data pages (vtables, string tables: ~60 pages)
//!   are never written, i.e. never copied by the kernel, and stay shared with the page
//!   cache. Of all the start-up costs this is the largest left (see
//!   scripts/measure-startup.sh). It is not the default because of what it costs: the
//!   program's own code and data would load at a fixed address (ASLR of the executable
//!   lost; the heap, stack, mmaps and libraries stay randomized), for a tool that parses
//!   what other processes write.
//!
//! All only for a native Linux glibc build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=CXX");
    println!("cargo:rerun-if-env-changed=DYNAMO_CTL_NO_PIE");
    let var = |k: &str| env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("TARGET") != var("HOST")
    {
        return;
    }
    let out = PathBuf::from(var("OUT_DIR"));
    static_libstdcxx(&out);
    static_libgcc(&out);
    if links_and_runs(&out, &["-Wl,-z,pack-relative-relocs"]) {
        println!("cargo:rustc-link-arg=-Wl,-z,pack-relative-relocs");
    }
    if var("DYNAMO_CTL_NO_PIE") == "1" && links_and_runs(&out, &["-no-pie"]) {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}

/// The path of a file the C compiler links with (`libgcc_eh.a`, ...), if it has it.
fn compiler_file(compiler: &str, name: &str) -> Option<PathBuf> {
    let o = Command::new(compiler)
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    // Without the file, the compiler prints the bare name back.
    (o.status.success() && path.is_absolute() && path.is_file()).then_some(path)
}

fn static_libgcc(out: &Path) {
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let (Some(eh), Some(gcc)) = (
        compiler_file(&cc, "libgcc_eh.a"),
        compiler_file(&cc, "libgcc.a"),
    ) else {
        return;
    };
    let dir = out.join("static-libgcc");
    let script = format!("GROUP ( {} {} )\n", eh.display(), gcc.display());
    if eh.display().to_string().contains([' ', '(', ')'])
        || gcc.display().to_string().contains([' ', '(', ')'])
        || std::fs::create_dir_all(&dir).is_err()
        || std::fs::write(dir.join("libgcc_s.a"), script).is_err()
    {
        return;
    }
    // Only when a program links and runs that way here.
    let search = format!("-L{}", dir.display());
    if !links_and_runs(out, &["-nodefaultlibs", &search, "-lgcc_s", "-lc"]) {
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rerun-if-changed={}", eh.display());
}

fn static_libstdcxx(out: &Path) {
    let cxx = env::var("CXX").unwrap_or_else(|_| "c++".into());
    let Some(archive) = compiler_file(&cxx, "libstdc++.a") else {
        return;
    };
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

/// Whether the C compiler links a program with `flags` and the program runs.
fn links_and_runs(out: &Path, flags: &[&str]) -> bool {
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let src = out.join("probe.c");
    let exe = out.join("probe");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let built = Command::new(&cc)
        .args(["-pie", "-fPIE", "-o"])
        .arg(&exe)
        .arg(&src)
        .args(flags)
        .output()
        .is_ok_and(|o| o.status.success() && o.stderr.is_empty());
    built && Command::new(&exe).status().is_ok_and(|s| s.success())
}
