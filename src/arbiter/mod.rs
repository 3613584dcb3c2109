//! The circus arbiter that runs a Dynamo 0.3.x deployment's processes: a client for its
//! control socket, and scaling that starts and stops real workers. No terminal in here.

pub mod client;
pub mod ops;
pub mod reply;
mod stop;
pub mod streams;
pub mod view;

pub use client::{ArbiterError, Client, Watcher};
pub use ops::{Expect, Kill, Mode, OpError, Options, Process, Step};
pub use view::Listing;
