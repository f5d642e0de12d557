#!/usr/bin/env python3
"""Interleaved A/B of the 1,000-step fan-out (run.py's fanout DAG of `true` steps): for each
binary a server is started once; then, round by round, each server runs the DAG once and
the script reports the server's CPU per step (user + sys of the server process, from
/proc/<pid>/stat) and its reaped children's (the job shims and their `true`), with the
run's time. On a shared machine CPU per step is the figure to compare; wall time is noise.

  python3 bench/pipelines/fanout_cpu.py OLD/cairn NEW/cairn --rounds 4 [--steps 1000]
      [--perf /tmp/perf-]   # perf record (DWARF call graphs) of each server's first run
      [--perf-stat]         # counts per step of each run: perf stat -p SERVER, its threads
                            # only (--no-inherit): task-clock, system calls, WAL pwrite64,
                            # fcntl (SQLite's locks), mprotect, page faults, context switches
      [--env 1:GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864]  # for one server (0-based)

Each binary needs its cairn-job-shim beside it (copy both when keeping an old build).
"""
import argparse, os, subprocess, sys, tempfile, time
from pathlib import Path
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "pipelines"))
sys.path.insert(0, str(REPO / "python" / "tests"))
import run as bench  # noqa

TICK = os.sysconf("SC_CLK_TCK")
STAT_EVENTS = ["task-clock", "raw_syscalls:sys_enter", "syscalls:sys_enter_pwrite64",
               "syscalls:sys_enter_fcntl", "syscalls:sys_enter_mprotect", "page-faults",
               "context-switches"]
SHORT = {"task-clock": "task-clock ms", "raw_syscalls:sys_enter": "syscalls",
         "syscalls:sys_enter_pwrite64": "pwrite64", "syscalls:sys_enter_fcntl": "fcntl",
         "syscalls:sys_enter_mprotect": "mprotect", "page-faults": "faults",
         "context-switches": "cs"}

def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    u, s, cu, cs = (int(fields[i]) for i in (11, 12, 13, 14))
    return (u + s) / TICK, (cu + cs) / TICK

def main():
    p = argparse.ArgumentParser()
    p.add_argument("binaries", nargs="+")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--perf", default="")
    p.add_argument("--perf-stat", action="store_true")
    p.add_argument("--env", action="append", default=[])
    a = p.parse_args()
    envs = {}
    for item in a.env:
        index, assignment = item.split(":", 1)
        key, value = assignment.split("=", 1)
        envs.setdefault(int(index), {})[key] = value
    work = Path(tempfile.mkdtemp(prefix="fanout-cpu-"))
    sides = []
    for i, b in enumerate(a.binaries):
        saved = dict(os.environ)
        os.environ.update(envs.get(i, {}))
        try:
            c = bench.Cairn(Path(b).resolve(), work / f"data{i}")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        c.apply({"f.yaml": bench.fanout_yaml("bench-fanout", a.steps, [bench.TRUE])})
        c.run("bench-fanout")  # warm-up
        sides.append((b, c))
    labels = [f"{b}#{i}" if a.binaries.count(b) > 1 else b for i, b in enumerate(a.binaries)]
    sides = [(label, c) for label, (_, c) in zip(labels, sides)]
    results = {b: [] for b in labels}
    try:
        for r in range(a.rounds):
            for b, c in sides:
                pid = c.server.pid
                s0, c0 = cpu(pid)
                import subprocess
                prof = None
                if a.perf and r == 0:
                    prof = subprocess.Popen(
                        ["perf", "record", "-F", "1000", "--call-graph", "dwarf,16384",
                         "--no-inherit", "-p", str(pid), "-o", a.perf + Path(b).parent.name],
                        stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                stat = None
                if a.perf_stat:
                    stat_out = work / f"stat-{r}-{len(results[b])}-{os.getpid()}.csv"
                    stat = subprocess.Popen(
                        ["perf", "stat", "-x,", "--no-inherit", "-o", str(stat_out), "-e",
                         ",".join(STAT_EVENTS), "-p", str(pid)], stderr=subprocess.DEVNULL)
                    time.sleep(0.3)
                t0 = time.perf_counter()
                run = c.run("bench-fanout")
                if stat:
                    import signal as sg
                    stat.send_signal(sg.SIGINT); stat.wait()
                    counts = {}
                    for line in stat_out.read_text().splitlines():
                        parts = line.split(",")
                        if len(parts) > 2 and parts[2] in STAT_EVENTS:
                            try:
                                counts[parts[2]] = float(parts[0])
                            except ValueError:
                                pass
                    print(f"  perf stat {b}: " + ", ".join(
                        f"{SHORT[e]} {counts.get(e, float('nan')) / a.steps:.2f}"
                        for e in STAT_EVENTS) + " per step", flush=True)
                if prof:
                    import signal as sg
                    prof.send_signal(sg.SIGINT); prof.wait()
                wall = time.perf_counter() - t0
                s1, c1 = cpu(pid)
                srv = bench.server_s(run)
                res = ((s1 - s0) * 1000 / a.steps, (c1 - c0) * 1000 / a.steps, srv, wall)
                results[b].append(res)
                print(f"round {r} {b}: server {res[0]:.3f} ms/step, children {res[1]:.3f} "
                      f"ms/step, run {srv:.2f} s, client {wall:.2f} s, "
                      f"load {bench.load_average()}", flush=True)
    finally:
        for b, c in sides:
            c.stop()
    for b, rs in results.items():
        rs = sorted(rs)
        srv = sorted(x[0] for x in rs); ch = sorted(x[1] for x in rs); w = sorted(x[2] for x in rs)
        print(f"{b}: median server {srv[len(srv)//2]:.3f} ms/step, children {ch[len(ch)//2]:.3f} "
              f"ms/step, run {w[len(w)//2]:.2f} s")

main()
