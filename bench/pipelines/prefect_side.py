"""The Prefect 3 side of bench/pipelines: the same no-op DAGs as Cairn's, run locally.

Run by bench/pipelines/run.py with the benchmark virtualenv's Python (prefect from pip,
bench/pipelines/requirements.txt), once per measurement, as a fresh process:

  python prefect_side.py --scenario seq|fanout --steps N --variant subprocess|inprocess \
      [--repeats R]

Prefect runs against its local ephemeral server (no PREFECT_API_URL, PREFECT_HOME in a
fresh temporary directory set by the driver, PREFECT_SERVER_ALLOW_EPHEMERAL_MODE=true):
the flow and every task run are recorded in its SQLite database, as Cairn records its runs.
Tasks use Prefect's default task runner (ThreadPoolTaskRunner) and NO_CACHE (Cairn's side
runs with no_cache too).

  seq:    N tasks, each called after the previous one returned.
  fanout: 1 start task -> N-2 tasks submitted with wait_for=[start] -> 1 end task with
          wait_for=[all of them].
  variant subprocess: each task runs `true` as a child process (the same work as a Cairn
          step: one process per step); inprocess: the task body does nothing (favourable
          to Prefect: no process at all).

Prints one line `RESULT {json}`: import_s (importing prefect), warmup_s (a one-task flow
run first, which starts the ephemeral server), flows_s (the R measured flows, each from the
call to its return: the figures compared with Cairn's run time), extra_flows_s (the time
of flows 2..R, which the driver takes off the command's time so that it stands for one
flow), task_runs_recorded (completed task runs of the measured flow that
the server had recorded when it returned: every task's future has succeeded by then, but
Prefect records task runs asynchronously through events), count_s (the time spent
counting, which the driver takes off the command's time).
"""

import argparse
import json
import shutil
import subprocess
import sys
import time

T0 = time.perf_counter()
from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

IMPORT_S = time.perf_counter() - T0
TRUE = shutil.which("true") or "/bin/true"


@task(cache_policy=NO_CACHE, persist_result=False)
def step_subprocess(index: int) -> None:
    subprocess.run([TRUE], check=True)


@task(cache_policy=NO_CACHE, persist_result=False)
def step_noop(index: int) -> None:
    return None


@flow(persist_result=False)
def warmup() -> None:
    step_noop(0)


@flow(persist_result=False)
def sequential(steps: int, subprocess_steps: bool) -> int:
    body = step_subprocess if subprocess_steps else step_noop
    for index in range(steps):
        body(index)
    return steps


@flow(persist_result=False)
def fanout(steps: int, subprocess_steps: bool) -> int:
    body = step_subprocess if subprocess_steps else step_noop
    start = body.submit(0)
    middle = [body.submit(index, wait_for=[start]) for index in range(1, steps - 1)]
    end = body.submit(steps - 1, wait_for=middle)
    end.result()
    for future in middle:  # every task must have succeeded, not just the last
        future.result()
    return steps


def count_completed_task_runs(flow_run_id) -> int:
    """Completed task runs of the flow run that the server has recorded (read once, right
    after the flow returned: Prefect 3 records task runs through events, asynchronously)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterId,
                                                TaskRunFilter, TaskRunFilterState,
                                                TaskRunFilterStateType)
    from prefect.client.schemas.objects import StateType

    count, offset = 0, 0
    with get_client(sync_client=True) as client:
        while True:  # the API answers at most 200 rows a page
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                task_run_filter=TaskRunFilter(state=TaskRunFilterState(
                    type=TaskRunFilterStateType(any_=[StateType.COMPLETED]))),
                limit=200, offset=offset)
            count += len(page)
            offset += len(page)
            if len(page) < 200:
                return count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["seq", "fanout"], required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--variant", choices=["subprocess", "inprocess"], required=True)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    t = time.perf_counter()
    warmup()
    warmup_s = time.perf_counter() - t
    body = sequential if args.scenario == "seq" else fanout
    flows, recorded, count_s = [], [], 0.0
    for _ in range(args.repeats):
        t = time.perf_counter()
        state = body(args.steps, args.variant == "subprocess", return_state=True)
        flows.append(time.perf_counter() - t)
        if not state.is_completed():
            raise SystemExit(f"the measured flow ended {state.type}: {state.message}")
        t = time.perf_counter()
        recorded.append(count_completed_task_runs(state.state_details.flow_run_id))
        count_s += time.perf_counter() - t
    import prefect

    print("RESULT " + json.dumps({
        "system": "prefect", "version": prefect.__version__, "scenario": args.scenario,
        "steps": args.steps, "variant": args.variant, "import_s": IMPORT_S,
        "warmup_s": warmup_s, "flows_s": flows, "task_runs_recorded": recorded,
        "count_s": count_s, "extra_flows_s": sum(flows[1:]),
        "task_runner": "ThreadPoolTaskRunner (default)"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
