//! The harness of tend's integration tests (a crate, so that each test
//! binary takes only what it uses): running processes and killing them
//! after ([`process`]), reading `/proc` ([`procfs`]), the one skip rule
//! ([`skip`]), accounts, files, service directories, the network tools'
//! fixtures, side-by-side comparison with Debian's programs, and the
//! logger torture rig ([`logger`]). Everything is re-exported here, so a
//! test says `use common::*;`.

pub mod accounts;
pub mod compare;
pub mod files;
pub mod logger;
pub mod net;
pub mod process;
pub mod procfs;
pub mod service;
pub mod skip;

pub use accounts::*;
pub use compare::*;
pub use files::*;
pub use logger::*;
pub use net::*;
pub use process::*;
pub use procfs::*;
pub use service::*;
pub use skip::*;
