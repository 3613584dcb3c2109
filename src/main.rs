//! The program's entry point.
//!
//! `main` is the C entry point, not Rust's (`#![no_main]`): the Rust runtime's start-up
//! (`lang_start`) asks glibc for the main thread's stack bounds to place a stack-overflow
//! guard, and glibc finds them by reading and `sscanf`-ing all of `/proc/self/maps`: a tenth
//! of the instructions of a short run such as `dynamo-ctl add NS TYPE` (and the kernel's work
//! of printing the map), for a message on stack overflow (which is still a crash without
//! it: a SIGSEGV instead of an abort). What else that start-up does and this program
//! relies on is done here: the standard descriptors made safe to write, SIGPIPE ignored,
//! stdout flushed at exit, and a panic's exit code 101. `std::env::args` needs nothing:
//! glibc hands the arguments to std's own initializer.
// The test harness has its own `main` (`cargo test` builds this file as a test too).
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    sanitize_standard_fds();
    // A reader that went away is an EPIPE error the writers handle (`dynamo-ctl man |
    // head -1` exits 0), not a silent death.
    // SAFETY: setting a signal's disposition to SIG_IGN, before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let code = std::panic::catch_unwind(dynamo_ctl::run).unwrap_or(101);
    // Flushes stdout (std's runtime clean-up) and exits.
    std::process::exit(code)
}

/// A closed stdin, stdout or stderr is reopened on /dev/null, as Rust's start-up does: else
/// the next file opened (a state file's temporary copy) would take its number, and a line
/// printed would be written into it.
#[cfg_attr(test, allow(dead_code))]
fn sanitize_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll on a local array of three pollfd, length passed with it.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for p in fds {
        if p.revents & libc::POLLNVAL != 0 {
            // SAFETY: open of a NUL-terminated constant path. The descriptor is the lowest
            // free one, the closed standard one, and stays open for the process's life.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}
