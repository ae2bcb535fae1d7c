//! `svscanboot [DIR]`: how svscan is started at boot (DIR defaults to
//! `/service`). As daemontools' script: detach from the terminal, stop
//! stale supervisors (`svc -dx DIR/* DIR/*/log`), then run `svscan DIR`
//! with its output piped into `readproctitle service errors: ....`, both
//! with an environment of `PATH` alone. See `docs/svscanboot.md`.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;

use crate::fail::{Context, Failure};
use crate::spawn::{ChildSpec, EnvChanges, place_here};
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
    let mut path_only = EnvChanges::new();
    path_only.set(b"PATH", PATH.as_bytes());
    ChildSpec::with_argv(&tend, vec!["svscan".into(), dir.into_os_string()])
        .clear_env()
        .env(&path_only)
        .fd(write.as_fd(), 1)
        .fd(write.as_fd(), 2)
        .spawn()
        .or_fail("start svscan")?;
    drop(write);

    let dots = ".".repeat(DOTS);
    let argv = ["readproctitle", "service", "errors:", &dots].map(OsString::from).to_vec();
    let err =
        ChildSpec::with_argv(&tend, argv).clear_env().env(&path_only).fd(read.as_fd(), 0).exec();
    Err(Failure::sys("run readproctitle", &err))
}

/// stdin, stdout and stderr to /dev/null: svscanboot runs from init.
fn detach_stdio() -> Result<(), Failure> {
    let null_in = File::open("/dev/null").or_fail("open /dev/null")?;
    let null_out = OpenOptions::new().write(true).open("/dev/null").or_fail("open /dev/null")?;
    place_here(null_in.as_fd(), 0).or_fail("redirect stdin")?;
    place_here(null_out.as_fd(), 1).or_fail("redirect stdout")?;
    place_here(null_out.as_fd(), 2).or_fail("redirect stderr")?;
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
