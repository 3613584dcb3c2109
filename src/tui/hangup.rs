//! The TUI never outlives its terminal, and a quit signal ends it even when the UI thread
//! is stuck.
//!
//! crossterm's reader does not end on a hung-up terminal (it loops on `read() = 0`), and
//! tokio's signal streams are only seen when the event loop comes round. So a watchdog
//! thread of its own waits, with `poll(2)`, for two things:
//! - the terminal hanging up (`POLLHUP`/`POLLERR` on the tty: the pty's other end closed,
//!   `tmux kill-server`, a dropped ssh session): it asks the loop to quit
//!   ([`Action::Hangup`]) and, if the process is still there after [`GRACE`], ends it with
//!   129 without touching the terminal (there is none);
//! - SIGHUP or SIGTERM (a self-pipe written by a signal-hook-registry action, beside tokio's
//!   own): the loop normally quits on them at once; if it has not after [`GRACE`], the
//!   watchdog puts the terminal's saved modes back, leaves the alternate screen and ends the
//!   process with the conventional 128 + signal.

use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::app::Action;

/// How long the event loop gets to quit on its own before the watchdog ends the process.
pub const GRACE: Duration = Duration::from_millis(500);

/// The terminal and its modes before raw mode, for the watchdog's last-resort restore.
static SAVED: OnceLock<(RawFd, libc::termios)> = OnceLock::new();
/// The write end of the self-pipe the signal actions write to.
static PIPE_W: OnceLock<RawFd> = OnceLock::new();

/// The terminal the UI reads keys from: stdin when it is one, else the controlling tty
/// (as crossterm does).
fn tty_fd() -> Option<RawFd> {
    // SAFETY: isatty and open take no pointers we keep; the path is a valid C string.
    unsafe {
        if libc::isatty(0) == 1 {
            return Some(0);
        }
        let fd = libc::open(
            c"/dev/tty".as_ptr(),
            libc::O_RDONLY | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        (fd >= 0).then_some(fd)
    }
}

/// Saves the terminal's modes; call before the terminal goes into raw mode.
pub fn save_modes() {
    let Some(fd) = tty_fd() else { return };
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut t) } == 0 {
        let _ = SAVED.set((fd, t));
    }
}

/// Starts the watchdog; actions for the loop go to `tx`.
pub fn spawn(tx: UnboundedSender<Action>) {
    let Some(tty) = SAVED.get().map(|(fd, _)| *fd).or_else(tty_fd) else {
        return;
    };
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return;
    }
    let (r, w) = (fds[0], fds[1]);
    if PIPE_W.set(w).is_err() {
        return;
    }
    for sig in [libc::SIGHUP, libc::SIGTERM] {
        // SAFETY: the action only calls write(2) on a pipe, which is async-signal-safe.
        let _ = unsafe { signal_hook_registry::register(sig, move || note_signal(sig)) };
    }
    let _ = std::thread::Builder::new()
        .name("terminal-watchdog".into())
        .spawn(move || watch(tty, r, tx));
}

fn note_signal(sig: libc::c_int) {
    if let Some(w) = PIPE_W.get() {
        let b = sig as u8;
        // SAFETY: write(2) of one byte from the stack; async-signal-safe.
        unsafe { libc::write(*w, (&b as *const u8).cast(), 1) };
    }
}

fn watch(tty: RawFd, pipe: RawFd, tx: UnboundedSender<Action>) {
    loop {
        let mut p = [
            libc::pollfd {
                fd: tty,
                events: 0,
                revents: 0,
            },
            libc::pollfd {
                fd: pipe,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfd structs.
        let n = unsafe { libc::poll(p.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if p[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            let _ = tx.send(Action::Hangup);
            std::thread::sleep(GRACE);
            // SAFETY: ends the process at once; nothing is left to restore.
            unsafe { libc::_exit(128 + libc::SIGHUP) };
        }
        if p[1].revents & libc::POLLIN != 0 {
            let mut b = 0u8;
            // SAFETY: reads one byte into the stack variable.
            let got = unsafe { libc::read(pipe, (&mut b as *mut u8).cast(), 1) };
            if got == 1 {
                std::thread::sleep(GRACE);
                last_resort_restore();
                // SAFETY: ends the process; the loop did not quit within the grace.
                unsafe { libc::_exit(128 + libc::c_int::from(b)) };
            }
        }
    }
}

/// Puts the saved modes back and leaves the alternate screen, without the event loop.
fn last_resort_restore() {
    if let Some((fd, t)) = SAVED.get() {
        // SAFETY: t was filled by tcgetattr on this fd.
        unsafe { libc::tcsetattr(*fd, libc::TCSANOW, t) };
    }
    const LEAVE: &[u8] = b"\x1b[?1049l\x1b[?25h";
    // SAFETY: writes a static buffer to stdout.
    unsafe { libc::write(1, LEAVE.as_ptr().cast(), LEAVE.len()) };
}
