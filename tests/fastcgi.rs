//! End to end, as root: examples/fastcgi supervised by tend's svscan
//! (spawn-fcgi -n under softlimit and setuidgid, logged by multilog as
//! another account), behind a real nginx, driven with svc and checked with
//! curl, svstat, the log and /proc.

mod common;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Create a system account unless it exists.
fn ensure_account(name: &str) -> nix::unistd::User {
    if let Ok(Some(user)) = nix::unistd::User::from_name(name) {
        return user;
    }
    let status = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
        .status()
        .expect("useradd");
    assert!(status.success(), "useradd {name}");
    nix::unistd::User::from_name(name).unwrap().expect("account just created")
}

/// The body curl gets from `url`, or None if the request fails.
fn curl(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "-m", "5", url])
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The pid in `hello from pid N`.
fn served_pid(url: &str) -> Option<u32> {
    curl(url)?.trim().strip_prefix("hello from pid ")?.parse().ok()
}

fn svc(flag: &str, dir: &Path) {
    let out = run_tool("svc", [flag.as_ref(), dir.as_os_str()]);
    assert!(out.status.success(), "svc {flag}: {out:?}");
}

fn svstat(dir: &Path) -> String {
    String::from_utf8_lossy(&run_tool("svstat", [dir]).stdout).into_owned()
}

/// The pid svstat reports for a service that is up.
fn up_pid(dir: &Path) -> Option<u32> {
    let text = svstat(dir);
    let rest = text.split_once(": up (pid ")?.1;
    rest.split(')').next()?.parse().ok()
}

/// Copy a directory tree (files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn nginx_config(dir: &Path, port: u16, app_port: u16) -> PathBuf {
    let d = dir.display();
    let conf = format!(
        "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  \
         access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  proxy_temp_path {d}/proxy;\n  \
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  server {{\n    \
         listen 127.0.0.1:{port};\n    location / {{\n      fastcgi_pass 127.0.0.1:{app_port};\n      \
         include /etc/nginx/fastcgi_params;\n    }}\n  }}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    fs::write(&path, conf).unwrap();
    path
}

/// The soft limit on a /proc/PID/limits line starting with `name`.
fn soft_limit(pid: u32, name: &str) -> String {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with(name)).unwrap().to_string();
    line[name.len()..].split_whitespace().next().unwrap().to_string()
}

#[test]
fn fastcgi_example_behind_nginx() {
    require_root!();
    let nginx = require_debian!("nginx");
    let _curl = require_debian!("curl");
    if !Path::new("/usr/bin/python3").exists() {
        eprintln!("skipped: /usr/bin/python3 is missing");
        return;
    }
    let web = ensure_account("web");
    let applog = ensure_account("applog");

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    let bin = root.join("bin");
    let out = output_within(
        {
            let mut cmd = Command::new(tend_bin());
            cmd.arg("install").arg("--force").arg(&bin);
            cmd
        },
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "tend install: {out:?}");

    // The service, with free ports instead of 12000.
    let app_port = free_port();
    let scan = root.join("service");
    let service = scan.join("fastcgi");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fastcgi"), &service);
    let run = fs::read_to_string(service.join("run")).unwrap();
    assert!(run.contains("-p 12000"));
    write_script(&service.join("run"), &run.replace("-p 12000", &format!("-p {app_port}")));
    for script in ["log/run", "app.fcgi"] {
        fs::set_permissions(service.join(script), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let main = service.join("log/main");
    fs::create_dir(&main).unwrap();
    nix::unistd::chown(&main, Some(applog.uid), Some(applog.gid)).unwrap();

    // nginx in front.
    let nginx_dir = root.join("nginx");
    fs::create_dir(&nginx_dir).unwrap();
    let port = free_port();
    let conf = nginx_config(&nginx_dir, port, app_port);
    let mut cmd = Command::new(nginx);
    cmd.arg("-c").arg(&conf).arg("-p").arg(&nginx_dir);
    cmd.arg("-e").arg(nginx_dir.join("error.log"));
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let _nginx = Spawned::start(cmd);

    // svscan, finding tend's tools first, then Debian's.
    let mut cmd = tool("svscan");
    cmd.arg(&scan).env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let _svscan = Spawned::start(cmd);
    let log_service = service.join("log");
    let cleanup = Cleanup(vec![service.clone(), log_service.clone()]);

    let url = format!("http://127.0.0.1:{port}/");
    let mut pid = None;
    wait_for(Duration::from_secs(30), "the application to answer through nginx", || {
        pid = served_pid(&url);
        pid.is_some()
    });
    let pid = pid.unwrap();
    assert_eq!(up_pid(&service), Some(pid), "supervise runs the application itself");
    assert!(up_pid(&log_service).is_some(), "{}", svstat(&log_service));

    // setuidgid web, softlimit -m 100000000 -o 300.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid_line.split_whitespace().nth(1), Some(web.uid.as_raw().to_string().as_str()));
    assert_eq!(soft_limit(pid, "Max data size"), "100000000");
    assert_eq!(soft_limit(pid, "Max address space"), "100000000");
    assert_eq!(soft_limit(pid, "Max open files"), "300");

    // svc -h: the application logs it, through multilog, as applog.
    svc("-h", &service);
    let current = main.join("current");
    wait_for(Duration::from_secs(20), "got SIGHUP in the log", || {
        fs::read_to_string(&current).map(|t| t.contains("got SIGHUP")).unwrap_or(false)
    });
    let text = fs::read_to_string(&current).unwrap();
    for line in text.lines() {
        assert!(line.starts_with("@4000") && line.len() > 26, "time-stamped: {line:?}");
    }
    assert!(text.contains(&format!("app.fcgi: pid {pid} serving")), "{text}");
    assert_eq!(fs::metadata(&current).unwrap().uid(), applog.uid.as_raw());

    // svc -t: a new process serves.
    svc("-t", &service);
    let mut second = None;
    wait_for(Duration::from_secs(30), "a new pid after svc -t", || {
        second = served_pid(&url).filter(|p| *p != pid);
        second.is_some()
    });
    let second = second.unwrap();

    // svc -k: restarted again.
    svc("-k", &service);
    wait_for(Duration::from_secs(30), "a new pid after svc -k", || {
        served_pid(&url).is_some_and(|p| p != second)
    });

    // svc -d: down, nginx cannot reach it.
    svc("-d", &service);
    wait_for(Duration::from_secs(30), "svstat to say down", || {
        svstat(&service).contains(": down ")
    });
    assert_eq!(curl(&url), None, "no answer while down");

    // svc -u: up and serving.
    svc("-u", &service);
    wait_for(Duration::from_secs(30), "answers after svc -u", || served_pid(&url).is_some());
    drop(cleanup);
}

/// Take the services down and stop their supervise processes on drop.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = run_tool("svc", [Path::new("-dx"), dir.as_path()]);
        }
    }
}
