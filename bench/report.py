#!/usr/bin/env python3
"""Turn bench.py's raw JSON into bench/RESULTS.md.

usage: report.py RESULTS.json RESULTS.md
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = ("daemontools", "runit", "s6")


def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def cell(s, digits=2):
    """median (min-max) of a summary."""
    if not s:
        return "-"
    return f"{fmt(s['median'], digits)} ({fmt(s['min'], digits)}-{fmt(s['max'], digits)})"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.3g}x"


def med(s):
    return s["median"] if s else None


def ratios(section, key=med):
    """tend's median over each peer's, as 'daemontools 0.50x, runit ...'."""
    t = key(section.get("tend"))
    parts = []
    for p in PEERS:
        if p in section:
            parts.append(f"{p} {ratio(t, key(section.get(p)))}")
    return ", ".join(parts)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def verdict(ok):
    return "met" if ok else "**missed**"


def main():
    src, dst = sys.argv[1], sys.argv[2]
    r = json.load(open(src))
    suites = list(r["commands"])
    L = []
    w = L.append
    w("# tend benchmark results\n")
    w(f"Written by `bench/run` (see [README.md](README.md) for what each figure means and how it "
      f"is measured). Run started {r['started']}, took {r.get('elapsed_s')} s "
      f"(build and package installation not included).\n")
    if r.get("error"):
        w(f"**The run stopped early: {r['error']}**\n")
    m, v = r["machine"], r["versions"]
    w("## Machine and versions\n")
    w(f"- machine: `{m['uname']}`")
    w(f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM (shared with other work: "
      f"figures of a few milliseconds carry scheduling noise; compare within one run)")
    if r.get("load_before"):
        w(f"- load average (1, 5, 15 min) at the start: {' '.join(r['load_before'])}, "
          f"at the end: {' '.join(r.get('load_after', ['?']))} (other work on the machine "
          f"slows every suite, and not always equally)")
    w(f"- tend {v['tend']} ({v['rustc']}), binary: {v['tend_binary']}, {v['tend_size']} bytes")
    w(f"- Debian packages: daemontools {v['daemontools']}, runit {v['runit']}, s6 {v['s6']}\n")
    a = r["args"]
    w("## Commands\n")
    w(f"`bench/run` ran `python3 bench/bench.py --tend target/release/tend --json ... "
      f"--trials {a['trials']} --pickup-trials {a['pickup_trials']} --scale {a['scale']} "
      f"--idle {a['idle']:g}`. Every service's `run` is `#!/bin/sh` + `exec sleep 86400`, "
      "except where a static `run` is named (a static C program that pauses forever). "
      "`TENDBIN` is a directory of links to the release binary made by `tend install`.\n")
    w(table(["suite", "scanner", "svc -t", "status"],
            [[s, f"`{c['scanner']}`", f"`{c['svc_t']}`", f"`{c['svstat']}`"]
             for s, c in r["commands"].items()]))
    w("")

    mem, resp, svct, cmd, st1 = (r["memory"], r["respawn"], r["svc_t"], r["svc_t_cmd"],
                                 r["svstat1"])
    pick, scale = r["pickup"], r["scale"]
    resp_static = r.get("respawn_static", {})
    scale_static = r.get("scale_static", {})

    # Targets.
    w("## Targets\n")
    rows = []

    def peer_meds(section, key=med):
        return [key(section.get(p)) for p in PEERS if section.get(p) and key(section.get(p))]

    if mem.get("tend") and mem.get("daemontools"):
        t, d = mem["tend"]["uss"]["median"], mem["daemontools"]["uss"]["median"]
        rows.append(["1. private memory per supervisor", "<= daemontools'",
                     f"{t:g} kB vs {d:g} kB ({ratio(t, d)})", verdict(t <= d)])
    if resp.get("tend"):
        t = med(resp["tend"])
        peers = peer_meds(resp)
        rows.append(["2. respawn after SIGKILL", "median < 5 ms and below every peer",
                     f"{t:.2f} ms; peers {', '.join(f'{x:.2f}' for x in peers)} ms",
                     verdict(t < 5 and all(t < x for x in peers))])
    if resp_static.get("tend") and resp_static.get("daemontools"):
        t, d = med(resp_static["tend"]), med(resp_static["daemontools"])
        rows.append(["2s. respawn after SIGKILL, static `run`", "<= 0.5x daemontools'",
                     f"{t:.3f} ms vs {d:.3f} ms ({ratio(t, d)})", verdict(t <= 0.5 * d)])
    if pick.get("tend") and pick["tend"]["summary"]:
        t = med(pick["tend"]["summary"])
        rows.append(["3. pick-up of a new service", "median < 100 ms", f"{t:.1f} ms",
                     verdict(t < 100)])
    if scale.get("tend") and scale["tend"].get("start_s") is not None:
        t = scale["tend"]["start_s"]
        peers = [scale[p]["start_s"] for p in PEERS if scale.get(p) and scale[p].get("start_s")]
        rows.append([f"4a. start {a['scale']} services", "as fast as the fastest peer",
                     f"{t:.2f} s; fastest peer {min(peers):.2f} s" if peers else f"{t:.2f} s",
                     verdict(not peers or t <= min(peers))])
        idle = scale["tend"].get("idle")
        if idle:
            rows.append([f"4b. {idle['seconds']:g} s idle, {a['scale']} services",
                         "no wake-ups", f"{idle['switches']} context switches, "
                         f"{idle['cpu_ms']:g} ms CPU", verdict(idle["switches"] == 0)])
    if (scale_static.get("tend", {}).get("start_s")
            and scale_static.get("daemontools", {}).get("start_s")):
        t = med(scale_static["tend"]["start_s"])
        d = med(scale_static["daemontools"]["start_s"])
        rows.append([f"4s. start {a['scale']} services, static `run`", "<= 0.8x daemontools'",
                     f"{t:.2f} s vs {d:.2f} s ({ratio(t, d)})", verdict(t <= 0.8 * d)])
    if svct.get("tend") and svct.get("daemontools"):
        t, d = med(svct["tend"]), med(svct["daemontools"])
        rows.append(["5a. `svc -t` to new pid", "<= 1.2x daemontools'",
                     f"{t:.3f} ms vs {d:.3f} ms ({ratio(t, d)})", verdict(t <= 1.2 * d)])
    if cmd.get("tend") and cmd.get("daemontools"):
        t, d = med(cmd["tend"]), med(cmd["daemontools"])
        rows.append(["5b. `svc -t` whole process", "<= 1.2x daemontools'",
                     f"{t:.3f} ms vs {d:.3f} ms ({ratio(t, d)})", verdict(t <= 1.2 * d)])
    if st1.get("tend") and st1.get("daemontools"):
        t, d = med(st1["tend"]), med(st1["daemontools"])
        rows.append(["5c. `svstat` one service, whole process", "<= 1.2x daemontools'",
                     f"{t:.3f} ms vs {d:.3f} ms ({ratio(t, d)})", verdict(t <= 1.2 * d)])
    if scale.get("tend", {}).get("svstat_all_ms") and scale.get("daemontools", {}).get(
            "svstat_all_ms"):
        t = med(scale["tend"]["svstat_all_ms"])
        d = med(scale["daemontools"]["svstat_all_ms"])
        rows.append([f"5d. `svstat` over {a['scale']} services", "<= 1.2x daemontools'",
                     f"{t:.2f} ms vs {d:.2f} ms ({ratio(t, d)})", verdict(t <= 1.2 * d)])
    w(table(["measurement", "target", "tend", "verdict"], rows))
    w("")

    # 1. Memory.
    w("## 1. Memory per supervisor, 50 services\n")
    w("kB, median (min-max) over the 50 supervisor processes of each suite; USS = "
      "Private_Clean + Private_Dirty of `/proc/PID/smaps_rollup`.\n")
    rows = []
    for s in suites:
        e = mem.get(s)
        if not e:
            continue
        sc = e["scanner"] or {}
        rows.append([s, cell(e["uss"], 0), cell(e["rss"], 0), cell(e["pss"], 0),
                     f"{sc.get('uss', '-')} / {sc.get('rss', '-')}"])
    w(table(["suite", "USS", "RSS", "PSS", "scanner USS / RSS"], rows))
    w(f"\ntend's median USS against each peer: {ratios({k: x['uss'] for k, x in mem.items()})}; "
      f"RSS: {ratios({k: x['rss'] for k, x in mem.items()})}.\n")
    if mem.get("tend", {}).get("map"):
        w("Where one tend supervisor's private memory is (kB per mapping):\n")
        w(table(["kB", "mapping"], [[x["kb"], f"`{x['map']}`"] for x in mem["tend"]["map"]]))
        w("")

    # 2 and 5a.
    w(f"## 2. Respawn after SIGKILL\n")
    w("ms from `kill(child, SIGKILL)` until a new child of the supervisor has exec'd `./run`; "
      f"the service was up for more than 2 s each time; {a['trials']} trials, interleaved "
      "across suites.\n")
    w(table(["suite", "median (min-max) ms"], [[s, cell(resp.get(s), 3)] for s in suites]))
    w(f"\ntend's ratio: {ratios(resp)}.\n")
    if resp_static:
        w("With a `run` that is a static C program (built with `gcc -static` at bench time: it "
          "stamps its start and pauses), so no shell: the supervisor's own path. Same trials, "
          "another service of the same scanner; ms from the kill until the new `run`'s own "
          "time stamp, read without polling busily.\n")
        w(table(["suite", "median (min-max) ms"],
                [[s, cell(resp_static.get(s), 3)] for s in suites]))
        w(f"\ntend's ratio: {ratios(resp_static)}.\n")
        alone = r.get("static_exec_alone")
        if alone:
            w(f"Of that, the program's own exec and start-up, started alone by a minimal C "
              f"launcher (`vfork`, `execve`): {cell(alone, 3)} ms, the same under every "
              f"suite. Less that, tend's part: "
              + ", ".join(f"{p} {ratio(med(resp_static.get('tend')) - med(alone), med(resp_static.get(p)) - med(alone))}"
                          for p in PEERS if resp_static.get(p) and resp_static.get("tend"))
              + ".\n")
    w("## 5. Control latency\n")
    w("`svc -t` (or the peer's equivalent) to new pid: ms from spawning the control command "
      "until the new child has exec'd `./run`. Whole-process time: ms from `posix_spawn` to "
      "`wait4` of the command alone. Same trials as respawn.\n")
    rows = []
    for s in suites:
        rows.append([s, cell(svct.get(s), 3), cell(cmd.get(s), 3), cell(st1.get(s), 3),
                     cell(scale.get(s, {}).get("svstat_all_ms"), 2)
                     if scale.get(s, {}).get("svstat_all_ms") else "n/a"])
    w(table(["suite", "svc -t to new pid", "svc -t command", "status of 1 service",
             f"status of {a['scale']} services"], rows))
    w(f"\ntend's ratio, svc -t to new pid: {ratios(svct)}; svc command: {ratios(cmd)}; "
      f"status of one service: {ratios(st1)}.")
    w("s6-svstat takes one service directory only, hence no figure over all services.\n")

    # 3. Pick-up.
    w("## 3. Pick-up of a new service\n")
    w("ms from `rename()` of a ready service directory into the scan directory until its "
      "supervisor's child has exec'd `./run`. A suite that has not picked up the service within "
      "the timeout is not tried again.\n")
    rows = []
    for s in suites:
        e = pick.get(s)
        if not e:
            continue
        missed = f"not within {e['timeout_s']:g} s" if e["missed"] else ""
        rows.append([s, cell(e["summary"], 1), missed])
    w(table(["suite", "median (min-max) ms", "missed"], rows))
    w("")

    # 4. Scale.
    w(f"## 4. Scale: {a['scale']} services\n")
    w(f"Start: s from starting the scanner until all {a['scale']} children have exec'd `./run`. "
      f"Idle: over the following {a['idle']:g} s (after 1 s of settling), the CPU time and "
      "context switches (voluntary + involuntary) of the scanner and every supervisor summed. "
      "CPU to start: the CPU time the scanner and all supervisors had used when all children "
      "ran (not counting the children).\n")
    rows = []
    for s in suites:
        e = scale.get(s)
        if not e:
            continue
        idle = e.get("idle") or {}
        start = fmt(e.get("start_s"), 2) if e.get("start_s") is not None else (
            f"not all within timeout ({e.get('running_at_timeout')} running)")
        rows.append([s, start, fmt(e.get("start_cpu_ms"), 0), fmt(idle.get("cpu_ms"), 1),
                     idle.get("switches", "-"),
                     idle.get("scanner_switches", "-"),
                     f"{idle.get('processes_woken', '-')} / {idle.get('processes', '-')}"])
    w(table(["suite", "start (s)", "CPU to start (ms)", "idle CPU (ms)", "idle context switches",
             "of which scanner", "processes woken / all"], rows))
    t = scale.get("tend", {}).get("start_s")
    parts = [f"{p} {ratio(t, scale[p].get('start_s'))}" for p in PEERS if p in scale]
    w(f"\ntend's start-up time against each peer: {', '.join(parts)}.\n")
    if scale_static:
        w(f"With the static `run` in every service (seconds until the last of all {a['scale']} "
          f"has started, by their own time stamps; median (min-max) of "
          f"{a.get('static_rounds', '?')} rounds, the suites one at a time, the order rotated "
          f"each round; the services on {r.get('scale_static_fs', '?')}, see README.md):\n")
        w(table(["suite", "start (s)", "CPU to start (ms)"],
                [[s, cell(scale_static.get(s, {}).get("start_s"), 2),
                  cell(scale_static.get(s, {}).get("start_cpu_ms"), 0)] for s in suites
                 if s in scale_static]))
        t = med(scale_static.get("tend", {}).get("start_s"))
        parts = [f"{p} {ratio(t, med(scale_static[p].get('start_s')))}" for p in PEERS
                 if p in scale_static]
        w(f"\ntend's start-up time against each peer: {', '.join(parts)}.\n")

    # 6. Logging.
    w("## 6. Logging throughput\n")
    lg = r.get("logging", {})
    if lg.get("output"):
        w("Output of `bench/log_throughput`:\n")
        w("```\n" + lg["output"] + "\n```\n")
    else:
        w(f"{lg.get('status', 'not run')}\n")

    steps = os.path.join(HERE, "optimisations.md")
    if os.path.exists(steps):
        w(open(steps).read().strip() + "\n")
    with open(dst, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
