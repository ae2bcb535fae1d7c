//! `svscanboot [DIR]`: how svscan is started at boot (DIR defaults to
//! `/service`). As daemontools' script: detach from the terminal, stop
//! stale supervisors (`svc -dx DIR/* DIR/*/log`), then run `svscan DIR`
//! with its output piped into `readproctitle service errors: ....`, both
//! with an environment of `PATH` alone. See `docs/svscanboot.md`.

use std::ffi::{CString, OsString};
use std::fs::{self, File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::OFlag;

use crate::fail::{Context, Failure};
use crate::svdir::{self, ServiceDir};

const PATH: &str =
    "/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin";
/// The room `ps` shows svscan's recent errors in: 400 dots, as daemontools.
const DOTS: usize = 400;

pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let dir = match args.as_slice() {
        [] => PathBuf::from("/service"),
        [dir] => PathBuf::from(dir),
        _ => return Err(Failure::usage("svscanboot [dir]")),
    };
    let tend = std::env::current_exe().or_fail("find the tend binary")?;
    detach_stdio()?;
    stop_stale_supervisors(&dir);

    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).or_fail("create a pipe")?;
    let write_err = write.try_clone().or_fail("duplicate a pipe")?;
    Command::new(&tend)
        .arg0("svscan")
        .arg(&dir)
        .env_clear()
        .env("PATH", PATH)
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(write_err))
        .spawn()
        .or_fail("start svscan")?;

    nix::unistd::dup2_stdin(&read).or_fail("set up readproctitle's input")?;
    drop(read);
    let program = CString::new(tend.as_os_str().as_bytes())
        .map_err(|_| Failure::temporary("unable to run readproctitle: NUL in the binary's path"))?;
    let dots = ".".repeat(DOTS);
    let argv = [
        c"readproctitle".to_owned(),
        c"service".to_owned(),
        c"errors:".to_owned(),
        CString::new(dots).expect("no NUL"),
    ];
    let env = [CString::new(format!("PATH={PATH}")).expect("no NUL")];
    let err = nix::unistd::execve(&program, &argv, &env).unwrap_err();
    Err(Failure::sys("run readproctitle", &err.into()))
}

/// stdin, stdout and stderr to /dev/null: svscanboot runs from init.
fn detach_stdio() -> Result<(), Failure> {
    let null_in = File::open("/dev/null").or_fail("open /dev/null")?;
    let null_out = OpenOptions::new().write(true).open("/dev/null").or_fail("open /dev/null")?;
    nix::unistd::dup2_stdin(&null_in).or_fail("redirect stdin")?;
    nix::unistd::dup2_stdout(&null_out).or_fail("redirect stdout")?;
    nix::unistd::dup2_stderr(&null_out).or_fail("redirect stderr")?;
    Ok(())
}

/// `svc -dx DIR/* DIR/*/log`: supervisors left from before are told to
/// stop, so that the new svscan starts fresh ones.
fn stop_stale_supervisors(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().as_bytes().first() == Some(&b'.') {
            continue;
        }
        let service = entry.path();
        for target in [service.clone(), service.join("log")] {
            if let Ok(target) = ServiceDir::open(&target) {
                let _ = target.send(&[svdir::Command::Down, svdir::Command::Exit]);
            }
        }
    }
}
