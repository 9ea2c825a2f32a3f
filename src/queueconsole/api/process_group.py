"""Several processes serving one port: ``queueconsole api --workers N``.

One Python process spends about 0.8 ms of CPU on a submit (framework, validation,
the database round trip, the broker's confirm), so it tops out well below what
PostgreSQL and RabbitMQ can take on a machine with several cores. More processes
on the same port lift that ceiling without a proxy in front: each binds the port
with ``SO_REUSEPORT`` and the kernel spreads new connections over them.

The process started by the operator serves too and supervises the others
(children). A child that dies is started again after a pause, so one that cannot
start does not spin; the children stop when the parent stops, and notice within
a second when it died without stopping them. What the children must agree on —
the settings, the port, whose turn it is to count events for ``/metrics`` — they
get from the parent's command line and environment, never from a file they might
read differently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from engine.errors import UserError

log = logging.getLogger(__name__)

READY_LINE = "queueconsole-api-ready"
"""What a child prints on its standard output once it accepts connections."""
START_TIMEOUT_S = 60.0  # seconds a child may take to accept connections
RESTART_PAUSE_S = 1.0  # seconds before a child that died is started again
STOP_TIMEOUT_S = 20.0  # seconds a child gets to finish its requests before SIGKILL
PARENT_CHECK_S = 1.0  # seconds between a child's checks that its parent is alive


class ApiChildren:
    """The ``count`` processes that serve the port beside the parent.

    Args:
        argv: the command that starts one child (it must print :data:`READY_LINE`).
        env: the children's whole environment.
        count: how many to keep running.
    """

    def __init__(self, argv: Sequence[str], env: dict[str, str], count: int) -> None:
        self.argv = list(argv)
        self.env = env
        self.count = count
        self.restarts = 0
        """Children started again after they died (a figure for logs and tests)."""
        self.pids: list[int] = []
        """The children running now."""
        self._tasks: list[asyncio.Task[None]] = []
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._stopping = False

    async def start(self) -> None:
        """Start every child and wait until each accepts connections; a child that
        exits first is a start-up failure, reported as such."""
        try:
            for slot in range(self.count):
                proc = await self._spawn(slot)
                self._tasks.append(asyncio.create_task(self._keep(slot, proc), name=f"api:{slot}"))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Ask every child to finish its requests and exit; kill those that do not."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        procs = list(self._procs.values())
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning(
                    "API process %d did not stop in %.0f s; killed", proc.pid, STOP_TIMEOUT_S
                )
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self._procs.clear()
        self.pids = []

    async def _spawn(self, slot: int) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        self._procs[slot] = proc
        self.pids = [p.pid for p in self._procs.values()]
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while True:
                    line = await proc.stdout.readline()
                    if not line:
                        code = await proc.wait()
                        raise UserError(
                            f"API process {slot + 2} exited with code {code} while starting; "
                            "its log above says why"
                        )
                    if line.decode(errors="replace").strip() == READY_LINE:
                        return proc
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # hung while starting: never left behind by the next attempt
            await proc.wait()
            raise UserError(
                f"API process {slot + 2} did not start within {START_TIMEOUT_S:.0f} s"
            ) from None

    async def _keep(self, slot: int, proc: asyncio.subprocess.Process) -> None:
        """Drain the child's output and start it again whenever it dies."""
        while True:
            assert proc.stdout is not None
            while await proc.stdout.read(4096):
                pass
            code = await proc.wait()
            if self._stopping:
                return
            log.warning(
                "API process %d (pid %d) exited with code %d; starting it again in %.0f s",
                slot + 2,
                proc.pid,
                code,
                RESTART_PAUSE_S,
            )
            while True:
                await asyncio.sleep(RESTART_PAUSE_S)
                try:
                    proc = await self._spawn(slot)
                    break
                except UserError as exc:
                    log.error("%s; trying again", exc)
            self.restarts += 1


def child_argv(
    *,
    host: str,
    port: int,
    no_auth: bool,
    max_body_bytes: int,
) -> list[str]:
    """The command that starts one child of this process."""
    argv = [
        sys.executable,
        "-m",
        "queueconsole",
        "api",
        "--host",
        host,
        "--port",
        str(port),
        "--max-body-bytes",
        str(max_body_bytes),
        "--child-of",
        str(os.getpid()),
    ]
    if no_auth:
        argv.append("--no-auth")
    return argv


async def watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once the parent is gone (this child was re-parented)."""
    while True:  # no event to wait on: re-parenting is only seen by asking
        await asyncio.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            break
    log.warning("API process: its parent (pid %d) is gone; stopping", parent_pid)
    stop.set()
