"""``segue worker --processes N``: N worker processes side by side, one consumer group.

Python runs one core per process, so a machine's cores are used by processes, each a full
worker (its own consumer, producer and stores) under worker id ``<id>.<i>``; the consumer group
spreads the partitions over them as over workers on other hosts. This parent only starts them,
passes SIGTERM/SIGINT on, and waits. A child that fails ends the group: the others are stopped
(each checkpoints on SIGTERM) and the parent exits with the child's code, for the supervisor
that runs ``segue worker`` to restart it, as it would a single worker.

Metrics: child ``i`` serves them on the worker's port + ``i`` (9464, or ``SEGUE_METRICS_PORT``;
0 still disables); a port another process holds is replaced by a free one, which the child logs
(app/metrics_endpoint.py).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("segue.worker")

#: how long stopped children get to checkpoint and leave the group before they are killed
STOP_GRACE_S = 60.0


#: prctl(2) option: the signal a process gets when its parent ends
PR_SET_PDEATHSIG = 1


def child_id(worker_id: str, index: int) -> str:
    return f"{worker_id}.{index}"


def run_processes(
    count: int,
    worker_id: str,
    journeys: Path,
    policies: Path | None,
    metrics_port: int,
    create_topics: bool = True,
) -> int:
    """Run ``count`` workers until they stop or one fails; the exit code to end with."""
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    children: list[subprocess.Popen[bytes]] = []
    for index in range(count):
        args = [sys.executable, "-m", "app", "worker", "--processes", "1"]
        args += ["--worker-id", child_id(worker_id, index), "--journeys", str(journeys)]
        if policies is not None:
            args += ["--policies", str(policies)]
        if not create_topics:
            args.append("--no-create-topics")
        env = dict(os.environ)
        if metrics_port:
            env["SEGUE_METRICS_PORT"] = str(metrics_port + index)
        children.append(subprocess.Popen(args, env=env, preexec_fn=_end_with_parent))
    log.info("started %d worker processes: %s", count, ", ".join(str(c.pid) for c in children))
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    code = 0
    while not stopping:
        ended = [c for c in children if c.poll() is not None]
        if ended:
            code = next((c.returncode for c in ended if c.returncode), 0)
            if code:
                log.error(
                    "worker process %d exited with %d: stopping the others", ended[0].pid, code
                )
            break
        time.sleep(0.2)
    _stop(children)
    return code


def _end_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (even by SIGKILL), so no worker
    outlives its ``--processes`` parent and keeps partitions nobody supervises (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker process %d did not stop in %.0f s: killed", child.pid, STOP_GRACE_S)
            child.kill()
            child.wait()
