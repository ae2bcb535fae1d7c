#!/usr/bin/env python3
"""tend's benchmark against daemontools, runit and s6, side by side.

Run through `bench/run` (which installs the peers and builds tend); see
bench/README.md for what each figure means. Every process this harness
starts is tracked by pid and killed (with its descendants) on the way out,
also on an exception or SIGINT/SIGTERM. Every wait has a deadline.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

NS = 1_000_000_000
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
PEER_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


def mono():
    return time.monotonic_ns()


# ---------------------------------------------------------------- /proc


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def children(pid):
    """Direct children of a (single-threaded) process, from /proc."""
    data = read(f"/proc/{pid}/task/{pid}/children")
    if not data:
        return []
    return [int(x) for x in data.split()]


def comm(pid):
    data = read(f"/proc/{pid}/comm")
    return data.strip().decode(errors="replace") if data else None


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children(p):
            out.append(c)
            todo.append(c)
    return out


def exec_child(sup, sup_comm, exclude=()):
    """The child of supervisor `sup` that has exec'd (its comm is no longer
    the supervisor's own, i.e. `./run` is running), or None."""
    for c in children(sup):
        if c in exclude:
            continue
        cc = comm(c)
        if cc is not None and cc != sup_comm:
            return c
    return None


def smaps_rollup(pid):
    data = read(f"/proc/{pid}/smaps_rollup")
    fields = {}
    if not data:
        return None
    for line in data.decode().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":"):
            fields[parts[0][:-1]] = int(parts[1])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"uss": uss, "rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0)}


def private_map(pid):
    """Private kB per mapping of one process: where its USS comes from."""
    data = read(f"/proc/{pid}/smaps")
    out, current = [], None
    for line in (data or b"").decode(errors="replace").splitlines():
        parts = line.split()
        if parts and "-" in parts[0] and not parts[0].endswith(":"):
            current = {"map": " ".join([parts[1]] + parts[5:]) or "anon", "kb": 0}
            out.append(current)
        elif current and parts and parts[0] in ("Private_Clean:", "Private_Dirty:"):
            current["kb"] += int(parts[1])
    return [m for m in out if m["kb"]]


def cpu_and_switches(pid):
    """(nanoseconds on a CPU, from /proc/PID/schedstat; voluntary +
    involuntary context switches, from /proc/PID/status)."""
    sched = read(f"/proc/{pid}/schedstat")
    status = read(f"/proc/{pid}/status")
    if not sched or not status:
        return None
    ticks = int(sched.split()[0])
    sw = 0
    for line in status.decode().splitlines():
        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
            sw += int(line.split()[1])
    return ticks, sw


# ------------------------------------------------------------ processes

STARTED = []  # pids of scanners we started
MOUNTS = []  # (mount point, image) of fresh_ext4, undone at the end


def set_subreaper():
    """Orphaned descendants come back to us, so cleanup can find and reap
    them even after their parent died."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


def start(argv, cwd, env):
    devnull = os.open("/dev/null", os.O_RDWR)
    try:
        p = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=devnull, stdout=devnull, stderr=devnull,
            start_new_session=True, close_fds=True,
        )
    finally:
        os.close(devnull)
    STARTED.append(p.pid)
    return p.pid


def kill_tree(root):
    """Stop the whole tree top-down (so nobody respawns), then kill every
    pid in it and reap what is ours. Only pids found under `root`."""
    try:
        os.kill(root, signal.SIGSTOP)
    except ProcessLookupError:
        pass
    tree = descendants(root)
    for p in tree:
        try:
            os.kill(p, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    tree = tree + [p for p in descendants(root) if p not in tree]
    for p in [root] + tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap_all(deadline_s=5, pids=[root] + tree)
    if root in STARTED:
        STARTED.remove(root)


def reap_all(deadline_s, pids=None):
    """Reap our children (orphans included, as their subreaper) until the
    given pids are gone (or, without pids, until we have no children)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if pids is not None and not any(os.path.exists(f"/proc/{p}") for p in pids):
            return
        time.sleep(0.005)


def cleanup():
    for root in list(STARTED):
        kill_tree(root)
    # Orphans re-parented to us (we are their subreaper): kill by pid.
    for p in children(os.getpid()):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap_all(deadline_s=2)


def timed_run(argv, env, cwd):
    """Whole-process wall time (ns) of a command, spawned and waited for
    directly (posix_spawn, no shell), and its exit status."""
    devnull = os.open("/dev/null", os.O_RDWR)
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
          (os.POSIX_SPAWN_DUP2, devnull, 2)]
    old = os.getcwd()
    os.chdir(cwd)
    try:
        t0 = mono()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=fa)
        _, status, _ = os.wait4(pid, 0)
        t1 = mono()
    finally:
        os.chdir(old)
        os.close(devnull)
    return t1 - t0, os.waitstatus_to_exitcode(status)


class Poller:
    """Wait for a condition with a deadline: busy for the first 200 ms (for
    sub-millisecond resolution), then every millisecond."""

    def __init__(self, seconds):
        self.start = mono()
        self.end = self.start + int(seconds * NS)

    def wait(self, cond):
        while True:
            v = cond()
            now = mono()
            if v:
                return v, now
            if now > self.end:
                return None, now
            if now - self.start > 200_000_000:
                time.sleep(0.001)


# ---------------------------------------------------------------- suites


class Suite:
    def __init__(self, name, scanner, supervisor, svc_t, svstat, env, svstat_many=True):
        self.name = name
        self.scanner = scanner  # function(scandir) -> argv
        self.supervisor = supervisor  # name for reports
        self.svc_t = svc_t  # function(dir) -> argv
        self.svstat = svstat  # function(dirs) -> argv
        self.env = env
        self.svstat_many = svstat_many
        self.pid = None
        self.scandir = None


def make_suites(tend_bin):
    tenv = {"PATH": f"{tend_bin}:{PEER_PATH}"}
    penv = {"PATH": PEER_PATH}
    return [
        Suite("tend", lambda d: [f"{tend_bin}/svscan", d], "supervise (tend)",
              lambda d: [f"{tend_bin}/svc", "-t", d], lambda ds: [f"{tend_bin}/svstat"] + ds, tenv),
        Suite("daemontools", lambda d: ["/usr/bin/svscan", d], "supervise",
              lambda d: ["/usr/bin/svc", "-t", d], lambda ds: ["/usr/bin/svstat"] + ds, penv),
        Suite("runit", lambda d: ["/usr/bin/runsvdir", d], "runsv",
              lambda d: ["/usr/bin/sv", "term", d], lambda ds: ["/usr/bin/sv", "status"] + ds, penv),
        Suite("s6", lambda d: ["/usr/bin/s6-svscan", "-c", "4096", d], "s6-supervise",
              lambda d: ["/usr/bin/s6-svc", "-t", d], lambda ds: ["/usr/bin/s6-svstat"] + ds, penv,
              svstat_many=False),
    ]


RUN_SCRIPT = "#!/bin/sh\nexec sleep 86400\n"

# A `run` with no shell: a static C program, compiled at bench time and
# hard-linked as every such service's `run`, so that the figure is the
# supervisor's own spawn and nothing else. Its first act is to read
# CLOCK_MONOTONIC: it has no C library (`-nostdlib`, system calls made
# directly), so nothing runs between the end of its `execve` and that
# stamp, the moment a new `run` "has exec'd" (where glibc's start-up would
# add its own time, the same under every suite, which only blurs the
# ratio: in a VM its `cpuid` calls alone cost tenths of a millisecond). It
# writes the stamp (ns) to `started` in its working directory (the service
# directory, for every suite), then waits forever. The harness reads that
# file at leisure instead of polling /proc busily, so on a 2-core machine
# its polling does not compete for the CPU with the supervisor it measures.
# Elsewhere than on x86-64 (whose system calls it makes by hand), the same
# program is built on glibc.
STATIC_RUN_BARE_C = r"""
#include <fcntl.h>
#include <time.h>
#include <sys/syscall.h>
static long sys(long n, long a, long b, long c, long d) {
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
}
__attribute__((force_align_arg_pointer, noreturn)) void _start(void) {
    struct timespec ts;
    sys(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0);
    unsigned long long ns = (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
    char buf[24];
    int i = sizeof buf;
    buf[--i] = '\n';
    do { buf[--i] = '0' + ns % 10; ns /= 10; } while (ns);
    long fd = sys(SYS_openat, AT_FDCWD, (long)"started.new", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        sys(SYS_write, fd, (long)(buf + i), sizeof buf - i, 0);
        sys(SYS_close, fd, 0, 0, 0);
        sys(SYS_renameat, AT_FDCWD, (long)"started.new", AT_FDCWD, (long)"started");
    }
    for (;;) sys(SYS_pause, 0, 0, 0, 0);
}
"""
STATIC_RUN_LIBC_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    struct timespec ts;
    char buf[32];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int n = snprintf(buf, sizeof buf, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    int fd = open("started.new", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        write(fd, buf, n);
        close(fd);
        rename("started.new", "started");
    }
    for (;;) pause();
}
"""
STATIC_RUN = None  # path of the compiled program, set by build_static_run


def build_static_run(root):
    global STATIC_RUN
    src = os.path.join(root, "pause.c")
    exe = os.path.join(root, "pause")
    with open(src, "w") as f:
        bare = platform.machine() == "x86_64"
        f.write(STATIC_RUN_BARE_C if bare else STATIC_RUN_LIBC_C)
    bare = ["-nostdlib", "-fno-stack-protector"] if bare else []
    subprocess.run(["gcc", "-static", "-O2", *bare, "-o", exe, src], check=True, timeout=120)
    STATIC_RUN = exe
    return exe


# The static `run` started alone, from a minimal C launcher (vfork and
# execve, as a supervisor's spawn at its leanest): the part of the static
# figures that is the program's own exec and start-up, the same under every
# suite.
LAUNCHER_C = r"""
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    fflush(stdout);
    pid_t pid = vfork();
    if (pid == 0) {
        execl(argv[1], "run", (char *)0);
        _exit(127);
    }
    printf("%d\n", (int)pid);
    return 0;
}
"""


def measure_exec_alone(root, trials):
    """ms from just before vfork to the static `run`'s own stamp, started by
    the minimal launcher; `trials` times."""
    src = os.path.join(root, "launch.c")
    exe = os.path.join(root, "launch")
    with open(src, "w") as f:
        f.write(LAUNCHER_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", exe, src], check=True, timeout=120)
    d = os.path.join(root, "alone")
    os.makedirs(d, exist_ok=True)
    out = []
    for _ in range(trials):
        before = started_at(d)
        # Its output to a file: the paused child keeps the launcher's stdout.
        with open(os.path.join(root, "launch.out"), "w+") as o:
            subprocess.run([exe, STATIC_RUN], cwd=d, stdout=o, stdin=subprocess.DEVNULL,
                           timeout=10, check=True)
            o.seek(0)
            t0, pid = (int(x) for x in o.read().split())
        t1 = wait_started(d, before, 5)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reap_all(deadline_s=2, pids=[pid])
        if t1:
            out.append((t1 - t0) / 1e6)
        time.sleep(0.05)
    return summary(out)


def wait_started(service_dir, before, seconds):
    """The static `run`'s stamp once it differs from `before`, looking every
    2 ms (sleeping in between); None after `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = started_at(service_dir)
        if now and now != before:
            return now
        time.sleep(0.002)
    return None


def started_at(service_dir):
    """When the static `run` of a service last started (monotonic ns), or
    None."""
    data = read(os.path.join(service_dir, "started"))
    try:
        return int(data) if data else None
    except ValueError:
        return None


def make_service(path, static=False, static_run=None):
    os.makedirs(path)
    run = os.path.join(path, "run")
    if static:
        os.link(static_run or STATIC_RUN, run)
        return
    with open(run, "w") as f:
        f.write(RUN_SCRIPT)
    os.chmod(run, 0o755)


def service_name(i):
    return f"svc{i:04d}"


def start_suite(suite, root, n, static=(), all_static=False, static_run=None):
    """n services under a new scanner; those numbered in `static` (or all,
    with all_static) get the static `run` (`static_run`: a copy of it on
    root's file system)."""
    suite.scandir = os.path.join(root, suite.name, "service")
    os.makedirs(suite.scandir)
    for i in range(n):
        make_service(os.path.join(suite.scandir, service_name(i)),
                     static=all_static or i in static, static_run=static_run)
    suite.t_start = mono()
    suite.pid = start(suite.scanner(suite.scandir), suite.scandir, suite.env)


def supervisors(suite):
    """{supervisor pid: its comm} under the scanner."""
    out = {}
    for c in children(suite.pid):
        cc = comm(c)
        if cc is not None:
            out[c] = cc
    return out


def running_children(suite):
    """{supervisor pid: its running (exec'd) child pid}."""
    out = {}
    for sup, sc in supervisors(suite).items():
        c = exec_child(sup, sc)
        if c:
            out[sup] = c
    return out


def supervisor_of(suite, name):
    """The supervisor pid whose cwd or argv names service `name`."""
    want = os.path.join(suite.scandir, name)
    for sup in children(suite.pid):
        try:
            if os.readlink(f"/proc/{sup}/cwd") == want:
                return sup
        except OSError:
            pass
        args = read(f"/proc/{sup}/cmdline") or b""
        if any(a.decode(errors="replace").rstrip("/").endswith("/" + name) or
               a.decode(errors="replace").rstrip("/") == name for a in args.split(b"\0")[1:] if a):
            return sup
    return None


def wait_all_running(suite, n, seconds):
    got, t = Poller(seconds).wait(lambda: len(running_children(suite)) >= n)
    return got, t


# --------------------------------------------------------------- stats


def summary(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------- measurements


def phase_small(suites, root, args, results):
    """50 services each, all four suites at once: memory, respawn, control,
    pick-up."""
    n = 50
    # svc0002 runs the static program: respawn without a shell.
    static_svc = 2
    for s in suites:
        start_suite(s, os.path.join(root, "small"), n, static=(static_svc,))
    for s in suites:
        got, _ = wait_all_running(s, n, 30)
        if not got:
            raise RuntimeError(f"{s.name}: {n} services not running within 30 s")
    log("50 services running under each suite")

    # 1. Memory.
    time.sleep(1)
    for s in suites:
        sups = list(supervisors(s))
        mems = [m for m in (smaps_rollup(p) for p in sups) if m]
        scan = smaps_rollup(s.pid)
        results["memory"][s.name] = {
            "uss": summary([m["uss"] for m in mems]),
            "rss": summary([m["rss"] for m in mems]),
            "pss": summary([m["pss"] for m in mems]),
            "scanner": scan,
            "supervisors": len(mems),
            "map": private_map(sups[0]) if sups else [],
        }
    log("memory measured")
    if args.only == "memory":
        for s in suites:
            kill_tree(s.pid)
        return

    # 2. Respawn (SIGKILL) and 5a. svc -t, interleaved across suites; each
    # service has been up > 2 s before it is hit.
    kill_svc, ctl_svc, static_name = service_name(0), service_name(1), service_name(static_svc)
    targets = {}
    static_targets = {}
    for s in suites:
        ks, cs = supervisor_of(s, kill_svc), supervisor_of(s, ctl_svc)
        ss = supervisor_of(s, static_name)
        if not ks or not cs or not ss:
            raise RuntimeError(f"{s.name}: cannot find the supervisors of {kill_svc}/{ctl_svc}/"
                               f"{static_name}")
        targets[s.name] = (ks, comm(ks), cs, comm(cs))
        static_targets[s.name] = (ss, comm(ss))
        results["respawn"][s.name] = []
        results["respawn_static"][s.name] = []
        results["svc_t"][s.name] = []
        results["svc_t_cmd"][s.name] = []
    last_start = {}
    for trial in range(args.trials):
        round_start = time.monotonic()
        # Rotate the order each round: no suite is always first after a sleep.
        k = trial % len(suites)
        for s in suites[k:] + suites[:k]:
            ks, kc, cs, cc = targets[s.name]
            # SIGKILL the child; wait for a new exec'd child.
            old = exec_child(ks, kc)
            wait_up = last_start.get((s.name, 0), 0) + 2.1 - time.monotonic()
            if wait_up > 0:
                time.sleep(wait_up)
            t0 = mono()
            os.kill(old, signal.SIGKILL)
            new, t1 = Poller(5).wait(lambda: exec_child(ks, kc, exclude=(old,)))
            last_start[(s.name, 0)] = time.monotonic()
            if new:
                results["respawn"][s.name].append((t1 - t0) / 1e6)
            # svc -t: from spawning the control command to the new child.
            old = exec_child(cs, cc)
            wait_up = last_start.get((s.name, 1), 0) + 2.1 - time.monotonic()
            if wait_up > 0:
                time.sleep(wait_up)
            t0 = mono()
            cmd_ns, _ = timed_run(s.svc_t(os.path.join(s.scandir, ctl_svc)), s.env, s.scandir)
            new, t1 = Poller(5).wait(lambda: exec_child(cs, cc, exclude=(old,)))
            last_start[(s.name, 1)] = time.monotonic()
            if new:
                results["svc_t"][s.name].append((t1 - t0) / 1e6)
            results["svc_t_cmd"][s.name].append(cmd_ns / 1e6)
            # The same SIGKILL, on the service whose `run` is the static
            # program; the new one tells when it started.
            ss, sc = static_targets[s.name]
            sdir = os.path.join(s.scandir, static_name)
            old = exec_child(ss, sc)
            before = started_at(sdir)
            wait_up = last_start.get((s.name, 2), 0) + 2.1 - time.monotonic()
            if wait_up > 0:
                time.sleep(wait_up)
            t0 = mono()
            os.kill(old, signal.SIGKILL)
            t1 = wait_started(sdir, before, 5)
            last_start[(s.name, 2)] = time.monotonic()
            if t1:
                results["respawn_static"][s.name].append((t1 - t0) / 1e6)
        rest = 2.15 - (time.monotonic() - round_start)
        if rest > 0 and trial + 1 < args.trials:
            time.sleep(rest)
    for key in ("respawn", "respawn_static", "svc_t", "svc_t_cmd"):
        for s in suites:
            results[key][s.name] = summary(results[key][s.name])
    log("respawn and svc -t measured")

    # 5b. svstat of one service, whole-process time.
    times = {s.name: [] for s in suites}
    for _ in range(args.trials):
        for s in suites:  # interleaved, so a busy moment hits every suite
            ns, _ = timed_run(s.svstat([os.path.join(s.scandir, ctl_svc)]), s.env, s.scandir)
            times[s.name].append(ns / 1e6)
    for s in suites:
        results["svstat1"][s.name] = summary(times[s.name])

    # 3. Pick-up: rename a ready service directory into the scan directory.
    stage = os.path.join(root, "stage")
    os.makedirs(stage, exist_ok=True)
    for s in suites:
        times, missed = [], 0
        for trial in range(args.pickup_trials):
            name = f"new{trial:02d}"
            src = os.path.join(stage, f"{s.name}-{name}")
            make_service(src)
            before = set(children(s.pid))
            t0 = mono()
            os.rename(src, os.path.join(s.scandir, name))

            def picked():
                for sup in children(s.pid):
                    if sup in before:
                        continue
                    sc = comm(sup)
                    if sc and exec_child(sup, sc):
                        return True
                return False

            ok, t1 = Poller(args.pickup_timeout).wait(picked)
            if ok:
                times.append((t1 - t0) / 1e6)
            else:
                missed += 1
                break  # no periodic scan: more trials would only wait again
        results["pickup"][s.name] = {"summary": summary(times), "missed": missed,
                                     "timeout_s": args.pickup_timeout}
        log(f"pick-up {s.name}: {results['pickup'][s.name]}")

    for s in suites:
        kill_tree(s.pid)


def phase_scale(suites, root, args, results):
    """1000 services, one suite at a time: start-up, idle cost, svstat."""
    n = args.scale
    for s in suites:
        start_suite(s, os.path.join(root, "scale"), n)
        got, t1 = wait_all_running(s, n, args.scale_timeout)
        entry = {"n": n}
        if got:
            entry["start_s"] = (t1 - s.t_start) / 1e9
        else:
            entry["start_s"] = None
            entry["running_at_timeout"] = len(running_children(s))
        log(f"scale {s.name}: {entry}")
        if got:
            # CPU spent starting: scanner + supervisors, since each began.
            cpu = [cpu_and_switches(p) for p in [s.pid] + list(supervisors(s))]
            entry["start_cpu_ms"] = sum(c[0] for c in cpu if c) / 1e6
            entry["start_cpu_scanner_ms"] = cpu[0][0] / 1e6 if cpu[0] else None
            entry["start_cpu_supervisor_us"] = summary([c[0] / 1e3 for c in cpu[1:] if c])
            # Idle: CPU time and context switches of scanner + supervisors.
            time.sleep(1)
            pids = [s.pid] + list(supervisors(s))
            before = {p: cpu_and_switches(p) for p in pids}
            time.sleep(args.idle)
            after = {p: cpu_and_switches(p) for p in pids}
            ticks = sw = woke = 0
            scan_sw = None
            for p in pids:
                if before[p] and after[p]:
                    dt = after[p][0] - before[p][0]
                    ds = after[p][1] - before[p][1]
                    ticks += dt
                    sw += ds
                    woke += 1 if ds else 0
                    if p == s.pid:
                        scan_sw = ds
            entry["idle"] = {"seconds": args.idle, "cpu_ms": ticks / 1e6,
                             "switches": sw, "scanner_switches": scan_sw,
                             "processes_woken": woke, "processes": len(pids)}
            # svstat over all services (whole-process time).
            dirs = [os.path.join(s.scandir, service_name(i)) for i in range(n)]
            if s.svstat_many:
                times = []
                for _ in range(args.svstat_trials):
                    ns, _ = timed_run(s.svstat(dirs), s.env, s.scandir)
                    times.append(ns / 1e6)
                entry["svstat_all_ms"] = summary(times)
            log(f"idle/svstat {s.name}: {entry.get('idle')} {entry.get('svstat_all_ms')}")
        results["scale"][s.name] = entry
        kill_tree(s.pid)
        shutil.rmtree(os.path.join(root, "scale", s.name), ignore_errors=True)


def fresh_ext4(path):
    """A new, empty ext4 mounted at `path` (a loop device on an image file
    beside it), or None when that cannot be done (not root, no loop
    device). Every mount is recorded in MOUNTS, for the clean-up."""
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        return None
    image = path + ".img"
    try:
        os.makedirs(path)
        with open(image, "wb") as f:
            f.truncate(256 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-N", "32768", image], check=True,
                       timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["mount", "-o", "loop", image, path], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        try:
            os.unlink(image)
        except OSError:
            pass
        return None
    MOUNTS.append((path, image))
    return path


def unmount(path):
    """Undo fresh_ext4(path) once nothing runs in it."""
    for entry in [m for m in MOUNTS if m[0] == path]:
        subprocess.run(["umount", path], timeout=60, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        try:
            os.unlink(entry[1])
        except OSError:
            pass
        MOUNTS.remove(entry)


def phase_scale_static(suites, root, args, results):
    """1000 services whose `run` is the static program, one suite at a time,
    `--static-rounds` rounds with the order rotated: only the start-up time
    (the idle cost is the same as with the shell's `run`).

    Each start is on a file system of its own, made fresh for it (ext4 on a
    loop device, as root): a machine booting its services has not just
    created and deleted tens of thousands of files, and by this phase the
    run has. On the bench's own ext4, the file system then scans its
    recently deleted inodes at every new one (`find_inode_bit`,
    `recently_deleted`: a quarter of all CPU time of a 1000-service start,
    by `perf record -a -g`), which makes the figure grow from round to round
    and weighs on each suite by how many files its supervisor creates. When
    no loop device can be had, the services go in the bench's directory, and
    RESULTS.md says so."""
    n = args.scale
    times = {s.name: [] for s in suites}
    cpus = {s.name: [] for s in suites}
    results["scale_static_fs"] = "a fresh ext4 (loop device) for each start"
    for r in range(args.static_rounds):
        k = r % len(suites)
        for s in suites[k:] + suites[:k]:
            base = os.path.join(root, f"scale-static-{r}-{s.name}")
            fresh = fresh_ext4(base)
            if fresh is None:
                results["scale_static_fs"] = "the bench's directory (no loop device)"
                os.makedirs(base, exist_ok=True)
            static_run = os.path.join(base, "run-static")
            shutil.copy2(STATIC_RUN, static_run)
            try:
                measure_static_start(s, base, n, args, static_run, times, cpus)
            finally:
                if fresh:
                    unmount(fresh)
    for s in suites:
        results["scale_static"][s.name] = {"n": n, "start_s": summary(times[s.name]),
                                           "start_cpu_ms": summary(cpus[s.name])}


def measure_static_start(s, base, n, args, static_run, times, cpus):
    """One start of n static-run services under suite s."""
    start_suite(s, base, n, all_static=True, static_run=static_run)
    # Wait without polling busily; each `run` tells when it started.
    end = time.monotonic() + args.scale_timeout
    starts = []
    while time.monotonic() < end:
        starts = [started_at(os.path.join(s.scandir, service_name(i))) for i in range(n)]
        if all(starts):
            break
        time.sleep(0.2)
    took = (max(starts) - s.t_start) / 1e9 if starts and all(starts) else None
    if took is not None:
        times[s.name].append(took)
        cpu = [cpu_and_switches(p) for p in [s.pid] + list(supervisors(s))]
        cpus[s.name].append(sum(c[0] for c in cpu if c) / 1e6)
    log(f"scale (static run) {s.name}: {took} s, "
        f"CPU {cpus[s.name][-1] if took is not None else None} ms")
    kill_tree(s.pid)
    shutil.rmtree(os.path.join(base, s.name), ignore_errors=True)


def phase_logging(results, tend):
    script = os.path.join(BENCH_DIR, "log_throughput")
    if os.access(script, os.X_OK):
        try:
            # The report carries its table: it must not rewrite RESULTS.md.
            out = subprocess.run([script, "--no-write", "--tend", tend], capture_output=True,
                                 text=True, timeout=180)
            results["logging"] = {"status": out.returncode, "output": out.stdout.strip(),
                                  "stderr": out.stderr.strip()[-2000:]}
        except subprocess.TimeoutExpired:
            results["logging"] = {"status": "timeout after 180 s"}
    else:
        results["logging"] = {"status": "pending: bench/log_throughput is not there yet"}


# --------------------------------------------------------------- report


def machine():
    cpu = "?"
    for line in (read("/proc/cpuinfo") or b"").decode().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in (read("/proc/meminfo") or b"").decode().splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) // 1024} MiB"
    return {"uname": " ".join(platform.uname()), "cpu": cpu, "cores": os.cpu_count(),
            "memory": mem}


def output(argv):
    """A command's stripped standard output, or "?" if it cannot run."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return r.stdout.strip() or "?"


def versions(tend_exe):
    out = {}
    for pkg in ("daemontools", "runit", "s6"):
        out[pkg] = output(["dpkg-query", "-W", "-f=${Version}", pkg])
    out["tend"] = output(["git", "-C", REPO, "describe", "--always", "--dirty"])
    out["rustc"] = output(["rustc", "--version"])
    out["tend_binary"] = output(["file", "-L", tend_exe]).split(":", 1)[-1].strip()
    out["tend_size"] = os.path.getsize(tend_exe)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tend", required=True, help="the tend binary (release build)")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--pickup-trials", type=int, default=5)
    ap.add_argument("--pickup-timeout", type=float, default=7.0)
    ap.add_argument("--scale", type=int, default=1000)
    ap.add_argument("--scale-timeout", type=float, default=60.0)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--svstat-trials", type=int, default=11)
    ap.add_argument("--static-rounds", type=int, default=5,
                    help="rounds of starting 1000 services with the static run")
    ap.add_argument("--only", choices=["small", "scale", "static", "memory"], default=None)
    ap.add_argument("--suites", default="tend,daemontools,runit,s6")
    ap.add_argument("--json", required=True, help="write raw results here")
    args = ap.parse_args()

    set_subreaper()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass

    root = tempfile.mkdtemp(prefix="tend-bench-")
    tend_bin = os.path.join(root, "bin")
    os.makedirs(tend_bin)
    subprocess.run([args.tend, "install", tend_bin], check=True)
    build_static_run(root)
    wanted = args.suites.split(",")
    suites = [s for s in make_suites(tend_bin) if s.name in wanted]
    results = {k: {} for k in ("memory", "respawn", "respawn_static", "svc_t", "svc_t_cmd",
                               "svstat1", "pickup", "scale", "scale_static")}
    results["started"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results["machine"] = machine()
    results["load_before"] = (read("/proc/loadavg") or b"?").decode().split()[:3]
    results["versions"] = versions(args.tend)
    def shown(argv):  # tend's links live in the run's temporary directory
        return " ".join(argv).replace(tend_bin + "/", "TENDBIN/")

    results["commands"] = {s.name: {"scanner": shown(s.scanner("SCANDIR")),
                                    "svc_t": shown(s.svc_t("DIR")),
                                    "svstat": shown(s.svstat(["DIR..."]))} for s in suites}
    results["args"] = vars(args)
    t0 = time.monotonic()
    try:
        if args.only in (None, "small", "memory"):
            phase_small(suites, root, args, results)
        if args.only in (None, "small"):
            results["static_exec_alone"] = measure_exec_alone(root, args.trials)
        if args.only in (None, "scale"):
            phase_scale(suites, root, args, results)
        if args.only in (None, "static"):
            phase_scale_static(suites, root, args, results)
        if args.only is None:
            phase_logging(results, args.tend)
    except KeyboardInterrupt as e:
        log(f"interrupted: {e}")
        results["error"] = f"interrupted: {e}"
    except Exception as e:  # report what we have, clean up, fail
        log(f"error: {e!r}")
        results["error"] = repr(e)
    finally:
        cleanup()
        for path, _ in list(MOUNTS):
            unmount(path)
        shutil.rmtree(root, ignore_errors=True)
    # A run cut short leaves raw lists of trials: summarise them too.
    for key in ("respawn", "respawn_static", "svc_t", "svc_t_cmd", "svstat1"):
        for name, v in list(results[key].items()):
            if isinstance(v, list):
                results[key][name] = summary(v)
    results["elapsed_s"] = round(time.monotonic() - t0, 1)
    results["load_after"] = (read("/proc/loadavg") or b"?").decode().split()[:3]
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    log(f"done in {results['elapsed_s']} s; raw results in {args.json}")
    return 1 if "error" in results else 0


if __name__ == "__main__":
    sys.exit(main())
