//! svscanboot with real processes: stale supervisors stopped, svscan
//! started under readproctitle.

use std::fs;
use std::time::Duration;

use common::*;

#[test]
fn svscanboot_stops_stale_supervisors_and_starts_svscan_under_readproctitle() {
    let tmp = tempfile::tempdir().unwrap();
    let service = tmp.path().join("service");
    let svc = service.join("web");
    write_script(&svc.join("run"), "#!/bin/sh\necho 'web says hi' >&2\nexec sleep 1000\n");

    // A supervise left over from before boot: svscanboot must stop it.
    let mut stale = {
        let mut c = tool("supervise");
        c.arg(&svc);
        Spawned::start(c)
    };
    let stale_service = wait_up(&svc);

    let mut c = tool("svscanboot");
    c.arg(&service);
    let boot = Spawned::start(c);
    let status = stale
        .wait_within(Duration::from_secs(10))
        .expect("the stale supervise exits after svc -dx");
    assert!(status.success());
    wait_for(Duration::from_secs(5), "the stale service to stop", || !alive(stale_service));

    // The new tree: readproctitle (the svscanboot process itself, exec'd)
    // showing svscan's errors; svscan starts the service again.
    wait_for(Duration::from_secs(10), "the service under the new svscan", || {
        service_pid(&svc).is_some_and(|pid| pid != stale_service && alive(pid))
    });
    wait_for(Duration::from_secs(10), "the service's stderr in ps", || {
        let title = cmdline(boot.pid());
        title.starts_with("readproctitle\0service\0errors:\0") && title.contains("web says hi")
    });
    let environ = fs::read(format!("/proc/{}/environ", boot.pid())).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.starts_with("PATH=/command:"), "only PATH is passed on: {environ:?}");
    assert_eq!(environ.matches('\0').count(), 1, "only PATH is passed on: {environ:?}");
}
