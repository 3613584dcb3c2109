//! The terminal UI (being written).
use crate::args::Global;
use crate::state::Store;

pub fn run(_g: &Global, _s: Store) -> i32 {
    eprintln!("dynamo-ctl: the TUI is not built yet");
    2
}
