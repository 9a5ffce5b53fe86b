"""Fill a Temporal namespace with many executions, fast, through the SDK (issue 13).

    python bench/gen_namespace.py --address 127.0.0.1:7233 --running 20000
    python bench/gen_namespace.py --healthy 10000 --retrying-activities 5 \
        --failing-tasks 5 --completed 100 --failed 100 --hold

Kinds (each its own workflow type and task queue, ids ``gen-<kind>-<prefix>-<n>``):
  --running N     open on a queue nobody polls (a backlog: no_pollers finds them);
  --healthy N     open, delayed start (no task pending until --healthy-delay), on a queue
                  this process's worker polls: nothing wrong with them while it runs;
  --completed N / --failed N   closed by a small worker in this process;
  --failing-tasks N            workflow code raises: the workflow task fails on every try;
  --retrying-activities N      an activity fails forever, retried every second;
  --waiting N     open, waiting for a signal after one workflow task (served queue).
Starts are concurrent ``start_workflow`` calls under a semaphore (``--concurrency``),
spread over ``--connections`` client connections; the rate is printed. ``--budget S``
stops starting after S seconds (what was started is reported). ``--running-delay S``
starts the running kind with a start delay: no workflow task is dispatched (nor
written to the unpolled queue's backlog) until then, which makes each start cheaper.
``FAST_START`` is the dynamic config of a dev server tuned for mass starts. Failing
tasks and retrying activities are held until their attempts reach ``--min-attempts``
(the worker must run for that). ``--hold`` keeps the worker polling until Ctrl-C
(benches that need "healthy" queues to have live pollers use ``generate`` and
``worker`` from Python instead).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import Worker

NO_WORKER_QUEUE = "gen-no-worker"
SERVED_QUEUE = "gen-served"
_FOREVER = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=1.0, maximum_attempts=0
)


@activity.defn(name="gen_flaky_call")
async def flaky_call(n: int) -> None:
    raise ApplicationError(f"downstream refused call {n}", type="GenDownstream")


@workflow.defn(name="GenIdle")
class GenIdle:
    """Never runs (nobody polls its queue) or starts later (healthy): no code needed."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn(name="GenCompleted")
class GenCompleted:
    @workflow.run
    async def run(self) -> str:
        return "done"


@workflow.defn(name="GenFailed")
class GenFailed:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("generated failure", type="GenFailure", non_retryable=True)


@workflow.defn(name="GenBrokenTask")
class GenBrokenTask:
    @workflow.run
    async def run(self) -> None:
        # Not an ApplicationError: the SDK fails the workflow task, not the workflow.
        raise RuntimeError("generated bug in workflow code")


@workflow.defn(name="GenRetryingActivity")
class GenRetryingActivity:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            flaky_call, 1, start_to_close_timeout=timedelta(seconds=5), retry_policy=_FOREVER
        )


@workflow.defn(name="GenWaiting")
class GenWaiting:
    def __init__(self) -> None:
        self.released = False

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.released)


# kind -> (workflow type, task queue); served queues need this process's worker.
KINDS: dict[str, tuple[str, str]] = {
    "running": ("GenIdle", NO_WORKER_QUEUE),
    "healthy": ("GenIdle", SERVED_QUEUE),
    "completed": ("GenCompleted", SERVED_QUEUE),
    "failed": ("GenFailed", SERVED_QUEUE),
    "failing_tasks": ("GenBrokenTask", SERVED_QUEUE),
    "retrying_activities": ("GenRetryingActivity", SERVED_QUEUE),
    "waiting": ("GenWaiting", SERVED_QUEUE),
}
WORKFLOWS = [GenIdle, GenCompleted, GenFailed, GenBrokenTask, GenRetryingActivity, GenWaiting]


# The CLI's dev server turns the search attribute cache off (re-read on every request,
# temporalio/cli devserver defaults: system.forceSearchAttributesCacheRefreshOnRead),
# i.e. one more persistence read per start. Nothing generated here changes search
# attributes, so the cache can stay on (bench/RESULTS.md, issue 13).
FAST_START = ("system.forceSearchAttributesCacheRefreshOnRead=false",)


@dataclass
class Plan:
    counts: dict[str, int]
    prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    concurrency: int = 200
    healthy_delay: timedelta = timedelta(hours=1)
    min_attempts: int = 5
    running_delay: timedelta | None = None  # the running kind: start delay (cheaper)
    budget: float | None = None  # seconds after which no more starts are made

    def ids(self, kind: str) -> list[str]:
        stem = f"gen-{kind.replace('_', '-')}-{self.prefix}"
        return [f"{stem}-{i:07d}" for i in range(self.counts.get(kind, 0))]


@dataclass
class Report:
    started: dict[str, int]
    seconds: float
    failed: int = 0  # starts the server did not answer in time (counted, not retried)

    @property
    def total(self) -> int:
        return sum(self.started.values())

    @property
    def rate_per_minute(self) -> float:
        return self.total / self.seconds * 60 if self.seconds else 0.0


@dataclass(frozen=True)
class Server:
    address: str
    http_address: str
    pid: int


@contextlib.contextmanager
def memory_server(*dynamic_config: str) -> Iterator[Server]:
    """A dev server keeping its state in memory: starts run ~3x faster than on the
    SQLite file the fixtures use (SQLite's single writer is the bottleneck)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from console.sandbox.devserver import free_port, temporal_binary

    grpc, http = free_port(), free_port()
    args = [temporal_binary(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(grpc), "--http-port", str(http), "--metrics-port", str(free_port()),
            "--log-level", "error"]  # fmt: skip
    for value in dynamic_config:
        args += ["--dynamic-config-value", value]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{http}/api/v1/namespaces/default"
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the dev server did not start") from None
                time.sleep(0.2)
        yield Server(f"127.0.0.1:{grpc}", f"127.0.0.1:{http}", proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@contextlib.asynccontextmanager
async def worker(client: Client, task_queue: str = SERVED_QUEUE) -> AsyncIterator[Worker]:
    """Poll the served queue (completes/fails/breaks the generated workflows) while inside."""
    w = Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[flaky_call],
        max_concurrent_workflow_tasks=100,
    )
    async with w:
        yield w


async def start_all(client: Client, plan: Plan, more: Sequence[Client] = ()) -> Report:
    """Start every execution of the plan concurrently (round robin over ``client`` and
    ``more`` connections); returns counts and elapsed time. With ``plan.budget`` the
    starts not begun by then are skipped (the report counts what was started)."""
    sem = asyncio.Semaphore(plan.concurrency)
    clients = [client, *more]
    started = dict.fromkeys(plan.counts, 0)
    failures: list[str] = []
    t0 = time.perf_counter()

    async def start(n: int, kind: str, workflow_id: str) -> None:
        wf_type, queue = KINDS[kind]
        delay = plan.healthy_delay if kind == "healthy" else None
        if kind == "running":
            delay = plan.running_delay
        async with sem:
            if plan.budget is not None and time.perf_counter() - t0 > plan.budget:
                return
            try:
                await clients[n % len(clients)].start_workflow(
                    wf_type, id=workflow_id, task_queue=queue, start_delay=delay
                )
            except RPCError:
                # An overloaded dev server times a start out now and then: one lost
                # start must not end a fill of 100,000 (a 20-minute fill died so).
                failures.append(workflow_id)
                return
            started[kind] += 1

    work = [(kind, wid) for kind in plan.counts for wid in plan.ids(kind)]
    await asyncio.gather(*(start(n, kind, wid) for n, (kind, wid) in enumerate(work)))
    seconds = time.perf_counter() - t0
    return Report({k: n for k, n in started.items() if n}, seconds, len(failures))


async def wait_settled(client: Client, plan: Plan, timeout: float = 120.0) -> None:
    """Until closed kinds are closed and stuck kinds reached ``min_attempts``."""
    deadline = time.monotonic() + timeout
    describes = asyncio.Semaphore(plan.concurrency)  # 1,000 at once time out on a busy box

    async def settled(kind: str, wid: str) -> bool:
        async with describes:
            desc = await client.get_workflow_handle(wid).describe()
        raw = desc.raw_description
        if kind in ("completed", "failed"):
            return desc.status is not None and desc.status.value != 1
        if kind == "failing_tasks":
            task = raw.pending_workflow_task
            return raw.HasField("pending_workflow_task") and task.attempt >= plan.min_attempts
        if kind == "retrying_activities":
            return any(a.attempt >= plan.min_attempts for a in raw.pending_activities)
        if kind == "waiting":
            return raw.workflow_execution_info.history_length >= 4  # first task completed
        return True

    for kind in ("completed", "failed", "failing_tasks", "retrying_activities", "waiting"):
        pending = plan.ids(kind)
        while pending:
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(pending)} {kind} executions not settled in {timeout:.0f}s")
            # Closed kinds: the newest id settles last; check it before all the others.
            closed = kind in ("completed", "failed")
            sample = pending[-1:] if closed and len(pending) > 1 else pending
            checks = await asyncio.gather(*(settled(kind, w) for w in sample))
            if all(checks) and sample is not pending:
                checks = await asyncio.gather(*(settled(kind, w) for w in pending))
            pending = [w for w, ok in zip(pending, checks, strict=False) if not ok]
            if pending:
                await asyncio.sleep(0.5)


async def generate(client: Client, plan: Plan) -> Report:
    """Start the plan with the worker running and wait until everything has settled."""
    async with worker(client):
        report = await start_all(client, plan)
        await wait_settled(client, plan)
    return report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--address", default="127.0.0.1:7233")
    p.add_argument("--namespace", default="default")
    for kind in KINDS:
        p.add_argument(f"--{kind.replace('_', '-')}", type=int, default=0, metavar="N")
    p.add_argument("--concurrency", type=int, default=200, help="starts in flight at once")
    p.add_argument("--connections", type=int, default=1, help="client connections to use")
    p.add_argument("--budget", type=float, help="stop starting after this many seconds")
    p.add_argument("--running-delay", type=float, help="running kind: start delay, seconds")
    p.add_argument("--prefix", help="id prefix (default: random, so runs never collide)")
    p.add_argument("--min-attempts", type=int, default=5)
    p.add_argument("--hold", action="store_true", help="keep the worker polling until Ctrl-C")
    return p


def quiet() -> None:
    """The generated failures are on purpose: no worker tracebacks for each of them
    (Python's logger, and the SDK core's own, which writes WARN lines to stdout)."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    logging.getLogger("temporalio").setLevel(logging.CRITICAL)
    only_errors = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=only_errors)))
    Runtime.set_default(runtime, error_if_already_set=False)


async def _main(args: argparse.Namespace) -> int:
    quiet()
    counts = {kind: getattr(args, kind) for kind in KINDS}
    for kind, n in counts.items():
        if n < 0:
            raise SystemExit(f"--{kind.replace('_', '-')} must be 0 or more")
    if args.concurrency < 1 or args.min_attempts < 1:
        raise SystemExit("--concurrency and --min-attempts must be 1 or more")
    if not any(counts.values()):
        raise SystemExit("nothing to generate: give --running N, --healthy N, ...")
    plan = Plan(counts, concurrency=args.concurrency, min_attempts=args.min_attempts)
    plan.budget = args.budget
    if args.running_delay:
        plan.running_delay = timedelta(seconds=args.running_delay)
    if args.prefix:
        plan.prefix = args.prefix
    client = await Client.connect(args.address, namespace=args.namespace)
    more = [
        await Client.connect(args.address, namespace=args.namespace)
        for _ in range(max(args.connections, 1) - 1)
    ]
    async with worker(client):
        report = await start_all(client, plan, more)
        print(
            f"started {report.total} executions in {report.seconds:.1f} s "
            f"({report.rate_per_minute:,.0f}/min): "
            + ", ".join(f"{k} {n}" for k, n in report.started.items())
            + f"; prefix {plan.prefix}",
            flush=True,
        )
        t0 = time.perf_counter()
        await wait_settled(client, plan)
        print(f"settled in {time.perf_counter() - t0:.1f} s", flush=True)
        if args.hold:
            print("worker polling; Ctrl-C to stop", flush=True)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(_main(_parser().parse_args())))
    except KeyboardInterrupt:
        sys.exit(130)
