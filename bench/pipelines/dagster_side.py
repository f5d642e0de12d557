"""The Dagster side of bench/pipelines: the same no-op DAGs as Cairn's, run locally.

Run by bench/pipelines/run.py with the benchmark virtualenv's Python (dagster from pip,
bench/pipelines/requirements.txt), once per measurement, as a fresh process:

  python dagster_side.py --scenario seq|fanout --steps N --variant subprocess|inprocess \
      [--repeats R]

  variant subprocess: the job runs on Dagster's multiprocess executor (its default
          executor for jobs: every op in its own process, at most max_concurrent = the
          machine's CPU count at a time; start_method forkserver, see START below) and every op runs `true` as a child process. This
          is the like-for-like comparison: Cairn's local executor also runs one process per
          step and, with the default 1 CPU per step, as many at a time as the machine has
          CPUs. Runs through execute_job(reconstructable(job)) against a DagsterInstance in
          DAGSTER_HOME (a fresh temporary directory set by the driver), as
          `dagster job execute` does; run and step events are stored in its SQLite files.
  variant inprocess: `job.execute_in_process()` (the in-process executor: ops run one after
          the other in this Python process, an ephemeral in-memory instance) and the op body
          does nothing. Favourable to Dagster: no processes, no storage on disk.

  seq:    N ops, each depending on the previous one (In(Nothing)).
  fanout: 1 start op -> N-2 ops depending on it -> 1 end op depending on all of them.

The number of ops comes from the BENCH_STEPS environment variable (the multiprocess
executor re-imports this module in every op's process, so the jobs are built at import).
Prints one line `RESULT {json}`: import_s, warmup_s (a one-op job first, in process),
flows_s (the R measured jobs, each from the call to its return), extra_flows_s (jobs
2..R, taken off the command's time by the driver), task_runs (ops that succeeded per job,
counted from the result's events).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

T0 = time.perf_counter()
from dagster import (DagsterInstance, In, Nothing, execute_job, in_process_executor,  # noqa: E402
                     job, multiprocess_executor, op, reconstructable)

IMPORT_S = time.perf_counter() - T0
TRUE = shutil.which("true") or "/bin/true"
STEPS = int(os.environ.get("BENCH_STEPS", "10"))
SUBPROCESS = os.environ.get("BENCH_VARIANT", "subprocess") == "subprocess"


def make_op(name: str, upstream: list[str]):
    @op(name=name, ins={u: In(Nothing) for u in upstream})
    def step() -> None:
        if SUBPROCESS:
            subprocess.run([TRUE], check=True)

    return step


def build_seq():
    ops = [make_op(f"s{i}", [] if i == 0 else [f"s{i - 1}"]) for i in range(STEPS)]

    def body():
        previous = None
        for index, step in enumerate(ops):
            previous = step() if index == 0 else step(**{f"s{index - 1}": previous})

    return body


def build_fanout():
    start = make_op("start", [])
    middle = [make_op(f"m{i}", ["start"]) for i in range(STEPS - 2)]
    end = make_op("end", [f"m{i}" for i in range(STEPS - 2)])

    def body():
        s = start()
        outs = [m(start=s) for m in middle]
        end(**{f"m{i}": o for i, o in enumerate(outs)})

    return body


# forkserver (preloading dagster): Dagster's fastest documented start method; its default,
# spawn, starts a fresh interpreter that imports dagster for every op (about 5 s per op on
# the 2-core benchmark machine; BENCH_DAGSTER_START=spawn measures it).
START = os.environ.get("BENCH_DAGSTER_START", "forkserver")
executor = (multiprocess_executor.configured({"start_method": {START: {}}}, name="mp")
            if SUBPROCESS else in_process_executor)
seq_job = job(name="seq", executor_def=executor)(build_seq())
fanout_job = job(name="fanout", executor_def=executor)(build_fanout())


@op
def warm_op() -> None:
    return None


@job
def warmup_job():
    warm_op()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["seq", "fanout"], required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--variant", choices=["subprocess", "inprocess"], required=True)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.steps != STEPS or (args.variant == "subprocess") != SUBPROCESS:
        raise SystemExit("set BENCH_STEPS and BENCH_VARIANT to --steps and --variant")
    t = time.perf_counter()
    warmup_job.execute_in_process()
    warmup_s = time.perf_counter() - t
    target = seq_job if args.scenario == "seq" else fanout_job
    flows, done = [], []
    for _ in range(args.repeats):
        if SUBPROCESS:
            instance = DagsterInstance.get()  # DAGSTER_HOME
            t = time.perf_counter()
            with execute_job(reconstructable(_seq if args.scenario == "seq" else _fanout),
                             instance=instance) as result:
                flows.append(time.perf_counter() - t)
                ok = result.success
                events = result.all_events
        else:
            t = time.perf_counter()
            result = target.execute_in_process()
            flows.append(time.perf_counter() - t)
            ok = result.success
            events = result.all_events
        if not ok:
            raise SystemExit("the measured job failed")
        done.append(len([e for e in events if e.event_type_value == "STEP_SUCCESS"]))
    import dagster

    print("RESULT " + json.dumps({
        "system": "dagster", "version": dagster.__version__, "scenario": args.scenario,
        "steps": args.steps, "variant": args.variant, "import_s": IMPORT_S,
        "warmup_s": warmup_s, "flows_s": flows, "task_runs": done,
        "extra_flows_s": sum(flows[1:]),
        "executor": (f"multiprocess, start_method {START}, max_concurrent = CPU count"
                     if SUBPROCESS
                     else "in_process (execute_in_process)")}), flush=True)
    return 0


def _seq():
    return seq_job


def _fanout():
    return fanout_job


if __name__ == "__main__":
    sys.exit(main())
