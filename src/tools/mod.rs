//! The tools, one module each, and the table the dispatcher reads.

use std::ffi::OsString;
use std::io::Write;

use crate::fail::Failure;

pub mod install;
pub mod multilog;
pub mod readproctitle;
pub mod supervise;
pub mod svc;
pub mod svlogd;
pub mod svok;
pub mod svscan;
pub mod svscanboot;
pub mod svstat;
pub mod tai64n;
pub mod tai64nlocal;

/// A tool's entry point: the arguments after the program name.
pub type Main = fn(Vec<OsString>) -> Result<i32, Failure>;

/// One tool of the suite.
pub struct Tool {
    pub name: &'static str,
    pub main: Main,
    pub summary: &'static str,
}

/// Every tool, in the order `tend --help` lists them.
pub static TOOLS: &[Tool] = &[
    // Supervision.
    Tool { name: "svscan", main: svscan::main, summary: "supervise every service in a directory" },
    Tool { name: "supervise", main: supervise::main, summary: "start and watch one service" },
    Tool { name: "svc", main: svc::main, summary: "control supervised services" },
    Tool { name: "svstat", main: svstat::main, summary: "print the status of services" },
    Tool { name: "svok", main: svok::main, summary: "check whether supervise is running" },
    Tool {
        name: "svscanboot",
        main: svscanboot::main,
        summary: "start svscan at boot, errors to ps",
    },
    Tool { name: "readproctitle", main: readproctitle::main, summary: "show recent input in ps" },
    // Chain-loading tools.
    // Logging.
    Tool { name: "tai64n", main: tai64n::main, summary: "put a TAI64N time stamp on every line" },
    Tool {
        name: "tai64nlocal",
        main: tai64nlocal::main,
        summary: "turn TAI64N stamps into local time",
    },
    Tool { name: "multilog", main: multilog::main, summary: "write a log to rotated directories" },
    Tool {
        name: "svlogd",
        main: svlogd::main,
        summary: "runit's logger, configured per directory",
    },
];

/// The tool called `name`, if any.
pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|tool| tool.name == name)
}

/// Run a tool, report its failure, and return the exit code.
pub fn run(tool: &Tool, args: Vec<OsString>) -> i32 {
    match (tool.main)(args) {
        Ok(code) => code,
        Err(failure) => {
            failure.report(tool.name);
            failure.code
        }
    }
}

fn help() -> String {
    let mut text = String::from(
        "tend: process supervision, drop-in for daemontools\n\n\
         usage: tend TOOL [ARGS...]    run a tool (or call it through a link named TOOL)\n       \
         tend install [--force] DIR  create a link in DIR for every tool\n\ntools:\n",
    );
    for tool in TOOLS {
        text.push_str(&format!("  {:<14} {}\n", tool.name, tool.summary));
    }
    text
}

/// `tend ...`: a tool name, `install`, or `--help`.
pub fn tend_main(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        let _ = std::io::stderr().write_all(help().as_bytes());
        return 100;
    };
    let first = first.to_string_lossy().into_owned();
    match first.as_str() {
        "--help" | "-h" | "help" => {
            let _ = std::io::stdout().write_all(help().as_bytes());
            0
        }
        "--version" => {
            println!("tend {}", env!("CARGO_PKG_VERSION"));
            0
        }
        "install" => match install::main(args.collect()) {
            Ok(code) => code,
            Err(failure) => {
                failure.report("tend install");
                failure.code
            }
        },
        name => match find(name) {
            Some(tool) => run(tool, args.collect()),
            None => {
                Failure::usage(format!(
                    "tend TOOL [ARGS...]; unknown tool {name}; see tend --help"
                ))
                .report("tend");
                100
            }
        },
    }
}
