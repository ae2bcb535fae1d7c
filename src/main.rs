//! The `tend` binary: every tool, chosen by the name it is called by.
//!
//! `no_main`: the C runtime calls `main` below directly, skipping the Rust
//! runtime's start-up (reading `/proc/self/maps` for the stack guard, an
//! alternate signal stack with SIGSEGV/SIGBUS handlers, a `poll` of fds 0-2,
//! SIGPIPE set to ignored and then back): 14 system calls in every `svc`,
//! `svstat` and `supervise`. The arguments still come through
//! `std::env::args_os`, which glibc hands to std before `main`.
#![cfg_attr(not(test), no_main)]
#![deny(unsafe_code)]

/// The C entry point. `#[unsafe(no_mangle)]` is the only unsafe attribute
/// outside `src/sys/`: the entry point must live in the binary crate.
/// (The unit-test build of this file keeps the test harness's own `main`.)
#[cfg(not(test))]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    tend::dispatch(std::env::args_os().collect())
}
