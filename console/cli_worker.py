"""`opsdeck worker`: run durable runbooks (the runbook workflow and its activities).

Polls the context's task queue (``runbook-task-queue``, default opsdeck-runbooks) on
the context's temporal engine (``runbook-engine`` when it has several) until SIGINT or
SIGTERM. Several workers may poll one queue; a step runs on one of them at a time.
Each step's events are logged to stderr as ``RUN: text``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import timedelta
from pathlib import Path

from console.cli_common import output_format, session_for
from console.output import dump

# Let a running step finish on SIGTERM for this long; past it the step is cancelled and
# the next worker resumes it from the journal (nothing finished is repeated).
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# A workflow task waits this long for the worker that ran the previous one (its cached
# state) before any worker takes it. The SDK's 10 s is all stall after a worker was
# killed; replaying a runbook workflow's short history elsewhere costs milliseconds.
STICKY_TIMEOUT = timedelta(seconds=2)


def cmd_worker(args: argparse.Namespace) -> int:
    from console.cli_common import run as run_async
    from console.runbook.durable import client as durable

    session = session_for(args)
    host = durable.host_engine(session)
    queue = durable.task_queue(session.context, args.task_queue)
    config = Path(args.config) if getattr(args, "config", None) else None

    async def go() -> int:
        from temporalio.worker import Worker

        from console.runbook.durable.activities import RunbookActivities, log_line
        from console.runbook.durable.workflow import RunbookWorkflow

        client = await durable.client_for(session, host)
        activities = RunbookActivities(config, read_only=bool(getattr(args, "read_only", False)))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        worker = Worker(
            client,
            task_queue=queue,
            workflows=[RunbookWorkflow],
            activities=[activities.advance_step, activities.record_answer],
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
            sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        )
        async with worker:
            info = {
                "context": session.context.name,
                "engine": host,
                "namespace": client.namespace,
                "task_queue": queue,
            }
            if output_format(args) == "table":
                log_line(
                    f"opsdeck worker: context {info['context']}, namespace {info['namespace']}, "
                    f"task queue {queue} (ready)"
                )
            else:
                dump(info | {"ready": True}, output_format(args))
                sys.stdout.flush()
            await stop.wait()
        log_line("opsdeck worker: stopped")
        return 0

    return run_async(session, go())
