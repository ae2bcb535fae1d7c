//! The log engine shared by `multilog` and `svlogd`: the script,
//! pattern matching and line handling without I/O ([`script`], [`pattern`],
//! [`engine`]), and the log directories on disk ([`dir`]).

pub mod dir;
pub mod engine;
pub mod once;
pub mod pattern;
pub mod run;
pub mod script;
pub mod svlogd_config;
