//! Side by side with the peers' programs: the same command line to ours
//! and to Debian's, and output with the numbers that must differ (pids,
//! ports, seconds) made alike.

use std::path::Path;
use std::process::Output;

use crate::{run_program, run_tool, text};

/// Run tool `name` with `args` and Debian's `program` with the same
/// arguments (both called `name`): the exit codes, stdout and stderr must
/// be the same. Ours is returned, to look at further.
#[track_caller]
pub fn assert_same(name: &str, program: &Path, args: &[&str]) -> Output {
    let ours = run_tool(name, args);
    let theirs = run_program(program, name, args);
    assert_eq!(ours.status.code(), theirs.status.code(), "{name} {args:?}: {}", text(&ours.stderr));
    assert_eq!(text(&ours.stdout), text(&theirs.stdout), "{name} {args:?}: stdout");
    assert_eq!(text(&ours.stderr), text(&theirs.stderr), "{name} {args:?}: stderr");
    ours
}

/// `text` with every run of digits replaced by one `N`.
pub fn numbers_as_n(text: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}
