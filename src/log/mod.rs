//! tend's logger engine, shared by `multilog` and `svlogd`.
//!
//! `script` is the pure half (parsing, matching, stamping, rotation
//! decisions), `dir` the I/O of one log directory, `engine` the main loop
//! with its exactly-once reading from a pipe.

pub mod dir;
pub mod engine;
pub mod script;
