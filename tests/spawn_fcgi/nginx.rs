//! The web deployment of examples/fastcgi, end to end with real
//! components: nginx (Debian) in front on loopback, the FastCGI app under
//! tend's svscan through spawn-fcgi, softlimit and setuidgid, logged by
//! multilog as its own user; curl (Debian) as the client. Then the svc
//! controls: -t, -h, -k, -d, -u.
//!
//! Runs as root; creates the system accounts `web` and `applog` (no home)
//! if they are missing.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// GET `url` with curl: (HTTP code, body); code 0 when nothing answered.
fn get(curl: &Path, url: &str) -> (u32, String) {
    let mut cmd = Command::new(curl);
    cmd.args(["-s", "--max-time", "5", "-w", "\n%{http_code}", url]);
    let out = output_within(cmd, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The pid a page reports.
fn page_pid(body: &str) -> Option<u32> {
    body.lines().find_map(|l| l.strip_prefix("pid ")).and_then(|p| p.parse().ok())
}

/// A value of a row of /proc/PID/limits: (soft, hard).
fn limit(pid: u32, row: &str) -> (String, String) {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with(row)).expect(row);
    let fields: Vec<&str> = line[row.len()..].split_whitespace().collect();
    (fields[0].to_owned(), fields[1].to_owned())
}

fn nginx_conf(root: &Path, port: u16, app_port: u16) -> PathBuf {
    let r = root.display();
    let conf = format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\npid {r}/nginx.pid;\nerror_log {r}/nginx-error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log {r}/nginx-access.log;\n  client_body_temp_path {r}/tmp/body;\n  \
         fastcgi_temp_path {r}/tmp/fastcgi;\n  proxy_temp_path {r}/tmp/proxy;\n  uwsgi_temp_path {r}/tmp/uwsgi;\n  \
         scgi_temp_path {r}/tmp/scgi;\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      \
         include /etc/nginx/fastcgi_params;\n      fastcgi_pass 127.0.0.1:{app_port};\n    }}\n  }}\n}}\n"
    );
    fs::create_dir_all(root.join("tmp")).unwrap();
    let path = root.join("nginx.conf");
    fs::write(&path, conf).unwrap();
    path
}

#[test]
fn fastcgi_app_behind_nginx_under_svscan() {
    require_root!();
    let nginx = require_debian!("nginx");
    let curl = require_debian!("curl");
    let _python = require_debian!("python3");
    let (web, web_gid) = ensure_account("web", &[]);
    let (applog, _) = ensure_account("applog", &[]);

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // The services run as web and applog: they must reach their files.
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    let bin = tend_links(root);
    let scan = root.join("service");
    let service = scan.join("fastcgi");
    copy_tree(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fastcgi").as_path(), &service);
    let app_port = free_port();
    let run = fs::read_to_string(service.join("run")).unwrap();
    assert!(run.contains("-p 12000"), "the example's run script names port 12000");
    fs::write(service.join("run"), run.replace("-p 12000", &format!("-p {app_port}"))).unwrap();
    fs::create_dir_all(service.join("log/main")).unwrap();
    nix::unistd::chown(&service.join("log/main"), Some(nix::unistd::Uid::from_raw(applog)), None)
        .unwrap();

    let port = free_port();
    let conf = nginx_conf(root, port, app_port);
    let mut cmd = Command::new(&nginx);
    cmd.arg("-c").arg(&conf).arg("-p").arg(root);
    cmd.stderr(fs::File::create(root.join("nginx.stderr")).unwrap());
    let _nginx = Spawned::start(cmd);

    let mut cmd = tool("svscan");
    cmd.arg(&scan).env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    let _svscan = Spawned::start(cmd);

    let url = format!("http://127.0.0.1:{port}/hello");
    let mut last = (0, String::new());
    assert!(
        wait_until(LONG, || {
            last = get(&curl, &url);
            last.0 == 200
        }),
        "no page through nginx: {last:?}; svstat: {}; nginx: {}",
        svstat(&service),
        fs::read_to_string(root.join("nginx-error.log")).unwrap_or_default()
    );
    let body = &last.1;
    assert!(body.contains("hello from tend's FastCGI example"), "{body}");
    let pid = page_pid(body).expect("pid on the page");
    assert_eq!(service_pid(&service), Some(pid), "supervise runs the app itself");

    // The app runs as web, with web's groups, under the limits.
    assert_eq!(status_field(pid, "Uid:").split_whitespace().next(), Some(web.to_string().as_str()));
    assert_eq!(
        status_field(pid, "Gid:").split_whitespace().next(),
        Some(web_gid.to_string().as_str())
    );
    assert_eq!(limit(pid, "Max open files").0, "300");
    assert_eq!(limit(pid, "Max data size").0, "200000000");
    // The socket is the app's descriptor 0.
    let fd0 = fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    assert!(fd0.to_string_lossy().starts_with("socket:"), "{fd0:?}");

    // svc -t: a new process, and requests succeed again.
    svc(&service, "-t");
    let mut new_pid = None;
    wait_for(LONG, "a new app after svc -t", || {
        let (code, body) = get(&curl, &url);
        new_pid = page_pid(&body).filter(|&p| code == 200 && p != pid);
        new_pid.is_some()
    });
    let pid = new_pid.unwrap();

    // svc -h: the app sees SIGHUP, and keeps its pid.
    svc(&service, "-h");
    wait_for(LONG, "the app counting the SIGHUP", || {
        let (code, body) = get(&curl, &url);
        code == 200 && body.contains("hups 1") && page_pid(&body) == Some(pid)
    });

    // svc -k: killed, restarted.
    svc(&service, "-k");
    wait_for(LONG, "a new app after svc -k", || {
        let (code, body) = get(&curl, &url);
        code == 200 && page_pid(&body).is_some_and(|p| p != pid)
    });

    // svc -d: down; nginx answers 502, svstat says down.
    svc(&service, "-d");
    wait_for(LONG, "svstat saying down", || svstat(&service).contains(": down "));
    wait_for(LONG, "requests failing", || get(&curl, &url).0 == 502);
    // svc -u: up again.
    svc(&service, "-u");
    wait_for(LONG, "requests succeeding after svc -u", || get(&curl, &url).0 == 200);

    // The log: TAI64N-stamped lines, written by applog.
    let current = service.join("log/main/current");
    wait_for(LONG, "the log lines", || {
        fs::read_to_string(&current)
            .is_ok_and(|t| t.contains("got SIGHUP") && t.contains("request GET /hello"))
    });
    assert_eq!(fs::metadata(&current).unwrap().uid(), applog, "current belongs to applog");
    let text = fs::read_to_string(&current).unwrap();
    for line in text.lines() {
        let stamp = &line[..25.min(line.len())];
        assert!(
            stamp.len() == 25
                && stamp.starts_with('@')
                && stamp[1..].bytes().all(|b| b.is_ascii_hexdigit())
                && line.as_bytes().get(25) == Some(&b' '),
            "not a TAI64N-stamped line: {line:?}"
        );
    }
    let logger = fs::read_to_string(service.join("log/supervise/pid")).unwrap_or_default();
    if let Ok(logger) = logger.trim().parse::<u32>() {
        assert_eq!(
            status_field(logger, "Uid:").split_whitespace().next(),
            Some(applog.to_string().as_str())
        );
    }
}
