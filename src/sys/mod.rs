//! The only place that holds `unsafe`: the few system facilities that have
//! no safe wrapper in `nix` or `std`, one module per facility. The crate
//! root denies `unsafe_code` everywhere else.

pub(crate) mod argv;
pub(crate) mod fd;
pub(crate) mod net;
pub(crate) mod poll;
pub(crate) mod proc;
pub(crate) mod signal;
pub(crate) mod spawn;
pub(crate) mod time;
