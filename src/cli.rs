//! The scripting subcommands (being written).
use crate::args::{Command, Global};
use crate::state::Store;

pub fn run(_g: &Global, _s: &Store, _c: Command) -> i32 {
    eprintln!("dynamo-ctl: subcommands are not built yet");
    1
}
