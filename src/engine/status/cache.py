"""The Redis status cache: written after every commit, read by every live view.

Redis holds status, never truth. After each commit one pipeline writes, for
the change set: each job's status hash (only if the carried row ``version`` is
newer, so a late writer cannot go backwards), the counters per (queue, state),
a per-second ring of completions and failures for the last hour, the recent
events list, and one PUBLISH per batch of events on ``{ns}:events``.

Any key may vanish (``FLUSHALL``, ``allkeys-lru`` eviction, a restart), and
writes are lost while Redis is down. Readers therefore check before they
trust: the counters only with their ``~base`` marker (see
:mod:`engine.status.keys`), job hashes only when they carry the current epoch
token. A process whose writes were lost rotates the epoch and drops the
marker, the ring and the recent list on its first write after recovery, so
readers fall back to PostgreSQL until the data is whole again. A circuit
breaker keeps a dead Redis from slowing the job path: after one failure,
writes are skipped (and counted as lost) until a trial call succeeds.

Change sets committed while a write is under way (a worker's claims and its
recorded outcomes, many submitters of one client) are written together in
the next pipeline; each ``after_commit`` still returns only once its own
changes are written (or lost). A submission of more than
:data:`SUBMITTED_HASHES_MAX` jobs writes no status hash for them: a reader
finds none, asks PostgreSQL and writes back the page it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline, PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from engine.config import Settings, mask_url
from engine.errors import ServiceUnavailable
from engine.snapshots import EventView, MemorySample, Worker, WorkerBeat, epoch_to_datetime
from engine.states import TERMINAL, State
from engine.status import events as codec
from engine.status.breaker import RETRY_AFTER_S, CircuitBreaker
from engine.status.keys import BASE_FIELD, Keys, count_field, parse_count_field
from engine.store.changes import ChangeSet, Transition

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE = "Redis"
CONNECT_TIMEOUT_S = 0.5  # seconds; a dead Redis is noticed at once, then the breaker skips it
COMMAND_TIMEOUT_S = 2.0  # seconds a command may take before Redis counts as down
JOB_TTL_LIVE_S = 7 * 24 * 3600  # seconds a live job's hash is kept without a transition
JOB_TTL_FINISHED_S = 3600  # seconds a finished job's hash is kept
RING_SECONDS = 3600  # the throughput ring covers the last hour, one slot per second
RECENT_EVENTS_KEPT = 200  # newest events kept in the recent list
PUBLISH_BATCH = 500  # events per pub/sub message
SCRIPT_BATCH = 1000  # job hashes per Lua call, so one call never blocks Redis for long
SUBMITTED_HASHES_MAX = 1000  # new jobs in one change set beyond which none gets a status hash
BEAT_TTL_S = 30.0  # seconds a worker's beat lives; several heartbeat periods
MEMORY_SAMPLES_KEPT = 360  # memory history per worker (an hour at one beat per 10 s)
MEMORY_HISTORY_TTL_S = 3600  # seconds a stopped worker's history is kept
RECOVERY_POLL_S = 0.2  # seconds between recovery attempts when the breaker retries at once
COALESCE_S = 0.005  # seconds a client's background lane gathers submissions per write

_JOB_FIELDS = ("state", "version", "epoch", "queue", "type", "attempt", "worker")
_ARGS_PER_JOB = 7

# KEYS[1] epoch, KEYS[2..] job hashes. ARGV[1] live TTL, ARGV[2] finished TTL, then per
# job: version, state, queue, type, attempt, worker, finished (0/1). A hash is written
# when it is missing, older, or of the same version but an old epoch (revalidated);
# a newer hash is never overwritten, whatever its epoch.
_SET_JOBS = """
local epoch = redis.call('GET', KEYS[1]) or ''
local written = 0
for i = 2, #KEYS do
  local b = 2 + (i - 2) * 7
  local v = tonumber(ARGV[b + 1])
  local cur = redis.call('HMGET', KEYS[i], 'version', 'epoch')
  local cv = tonumber(cur[1])
  if cv == nil or cv < v or (cv == v and cur[2] ~= epoch) then
    redis.call('HSET', KEYS[i], 'version', ARGV[b + 1], 'state', ARGV[b + 2],
      'queue', ARGV[b + 3], 'type', ARGV[b + 4], 'attempt', ARGV[b + 5],
      'worker', ARGV[b + 6], 'epoch', epoch)
    if ARGV[b + 7] == '1' then
      redis.call('EXPIRE', KEYS[i], ARGV[2])
    else
      redis.call('EXPIRE', KEYS[i], ARGV[1])
    end
    written = written + 1
  end
end
return written
"""

# KEYS[1] ring hash. ARGV: second, completed, failed, ring size. Slot = second mod size;
# a slot holding an older second is reset first. 'since' records when the ring began.
_RING_ADD = """
local sec = tonumber(ARGV[1])
local slot = tostring(sec % tonumber(ARGV[4]))
if redis.call('HEXISTS', KEYS[1], 'since') == 0 then
  redis.call('HSET', KEYS[1], 'since', sec)
end
local c, f = 0, 0
local cur = redis.call('HGET', KEYS[1], slot)
if cur then
  local s, cc, ff = string.match(cur, '^(%d+) (%d+) (%d+)$')
  if tonumber(s) == sec then
    c = tonumber(cc)
    f = tonumber(ff)
  end
end
redis.call('HSET', KEYS[1], slot, sec .. ' ' .. (c + tonumber(ARGV[2])) .. ' '
  .. (f + tonumber(ARGV[3])))
return 1
"""


@dataclass(frozen=True, slots=True)
class CachedJob:
    """A job's status as the cache holds it (also what a reader writes back)."""

    job_id: int
    state: State
    version: int
    queue: str
    type: str
    attempt: int
    worker_id: str | None = None


@dataclass(frozen=True, slots=True)
class Ring:
    """The throughput ring: (second, completed, failed) per second, and since when."""

    since: int
    seconds: tuple[tuple[int, int, int], ...]


class StatusCache:
    """Redis status for one installation (``Settings.namespace``, the URL's database).

    An :class:`~engine.hooks.AfterCommit` hook: give it to a
    :class:`~engine.client.Client` or a worker. ``after_commit`` and
    ``heartbeat`` never raise; the read methods raise
    :class:`~engine.errors.ServiceUnavailable` so a reader can fall back.

    Args:
        settings: where Redis is and the key namespace.
        retry_after_s: how long a tripped breaker skips Redis before trying again.
        beat_ttl_s: how long a worker's beat outlives its last heartbeat.
        connect_timeout_s: how long a connection attempt may take.
        command_timeout_s: how long one command (or pipeline) may take.
    """

    coalesce_s = COALESCE_S
    """Read by :class:`~engine.hooks.BackgroundHooks`: how long its lane for this cache
    waits to gather change sets into one pipeline (a live view refreshes every second;
    a one-at-a-time producer would otherwise pay a pipeline per submit)."""

    def __init__(
        self,
        settings: Settings,
        *,
        retry_after_s: float = RETRY_AFTER_S,
        beat_ttl_s: float = BEAT_TTL_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.keys = Keys(settings.namespace)
        self.masked_url = mask_url(settings.redis_url)
        self.beat_ttl_s = beat_ttl_s
        self.breaker = CircuitBreaker(retry_after_s)
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=command_timeout_s,
            # One immediate retry: after a Redis restart every pooled connection is dead
            # and fails its first command; a retry on a fresh connection hides that.
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
            client_name=f"queueconsole-status-{settings.namespace}",
        )
        self._recovery_task: asyncio.Task[None] | None = None
        self._recovery_lock = asyncio.Lock()
        self._lost = 0
        """Change sets whose writes were skipped or failed, ever."""
        self._recovered = 0
        """Value of ``_lost`` when the last recovery (epoch rotation) was written."""
        self._warned = False
        self._waiting: list[Transition] = []
        """Transitions committed while a write was under way, for the next pipeline."""
        self._waiting_done: asyncio.Future[None] | None = None
        """Resolved once ``_waiting`` is written (or lost)."""
        self._writer: asyncio.Task[None] | None = None

    # -- state ----------------------------------------------------------------

    @property
    def stale(self) -> bool:
        """True while writes were lost and the recovery has not been written yet."""
        return self._lost > self._recovered

    def _lose(self) -> None:
        """Count a change set whose writes did not reach Redis, and make sure the
        invalidation they call for is written as soon as Redis answers again, even if
        this process has nothing else to write (an idle stale writer would otherwise
        leave its last jobs' statuses believed and wrong)."""
        self._lost += 1
        if self._recovery_task is None or self._recovery_task.done():
            self._recovery_task = asyncio.create_task(
                self._recover_when_possible(), name="status-cache:recover"
            )

    async def _after_trial(self) -> bool:
        """Wait for a trial call under way; True if Redis took it (the breaker closed)."""
        if not self.breaker.trial_in_flight:
            return False
        return await self.breaker.trial_outcome() and self.breaker.allow()

    async def _recover_when_possible(self) -> None:
        while self.stale:
            await asyncio.sleep(max(self.breaker.retry_after_s, RECOVERY_POLL_S))
            if not self.stale or not self.breaker.allow():
                continue
            try:
                await self._execute(lambda pipe: None, transaction=True)
            except asyncio.CancelledError:
                self.breaker.failure("cancelled during recovery")
                raise
            except Exception as exc:  # still down: try again after the breaker's period
                self.breaker.failure(exc)
            else:
                self.breaker.success()

    async def _execute(self, build: Callable[[Pipeline], object], *, transaction: bool) -> None:
        """Run a write pipeline; if writes were lost, invalidate first what they left
        incomplete, in the same pipeline.

        Writers that find the cache stale take turns, so a recovery can never land
        after (and so undo) the whole counters another writer just wrote.
        """
        if not self.stale:
            pipe = self.redis.pipeline(transaction=transaction)
            build(pipe)
            await pipe.execute()
            return
        async with self._recovery_lock:
            lost_at_start = self._lost
            pipe = self.redis.pipeline(transaction=transaction)
            recovering = self._add_recovery(pipe)
            build(pipe)
            await pipe.execute()
            if recovering:
                self._recovered = max(self._recovered, lost_at_start)

    def _unavailable(self, reason: str | None) -> ServiceUnavailable:
        return ServiceUnavailable(SERVICE, self.masked_url, self.settings.redact(reason or "down"))

    # -- writes after commit ----------------------------------------------------

    async def after_commit(self, changes: ChangeSet) -> None:
        """Write one change set (with any committed meanwhile) in one pipeline; return
        once it is written or, on any failure, counted lost."""
        if not changes.transitions:
            return
        self._waiting.extend(changes.transitions)
        if self._waiting_done is None:
            self._waiting_done = asyncio.get_running_loop().create_future()
        done = self._waiting_done
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting(), name="status-cache:write")
        await asyncio.shield(done)

    async def _write_waiting(self) -> None:
        """Write what waits, batch after batch, until nothing does (one task at a time)."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                done, self._waiting_done = self._waiting_done, None
                try:
                    await self._write_batch(batch)
                finally:
                    if done is not None and not done.done():
                        done.set_result(None)
        finally:
            if self._waiting:  # cancelled (close): what waits is lost, its callers go on
                self._waiting = []
                self._lose()
                done, self._waiting_done = self._waiting_done, None
                if done is not None and not done.done():
                    done.set_result(None)

    async def _write_batch(self, transitions: Sequence[Transition]) -> None:
        if not (self.breaker.allow() or await self._after_trial()):
            self._lose()
            return
        try:
            await self._write_changes(transitions)
        except asyncio.CancelledError:
            self._lose()
            self.breaker.failure("cancelled during a write")
            raise
        except Exception as exc:  # any failure here is Redis's; the commit stands
            self._lose()
            self.breaker.failure(exc)
            if not self._warned:
                log.warning(
                    "status cache: %s; live status falls back to PostgreSQL until it returns",
                    self._unavailable(self.breaker.last_error),
                )
                self._warned = True
        else:
            self.breaker.success()
            if self._warned:
                log.info("status cache: Redis at %s is back", self.masked_url)
                self._warned = False

    async def _write_changes(self, transitions: Sequence[Transition]) -> None:
        await self._execute(lambda pipe: self._add_changes(pipe, transitions), transaction=False)

    def _add_changes(self, pipe: Pipeline, transitions: Sequence[Transition]) -> None:
        now = time.time()

        submitted = sum(1 for t in transitions if t.from_state is None)
        skip_new = submitted > SUBMITTED_HASHES_MAX
        latest: dict[int, Transition] = {}
        for t in transitions:
            if t.is_note or (skip_new and t.from_state is None):
                continue
            seen = latest.get(t.job_id)
            if seen is None or t.version >= seen.version:
                latest[t.job_id] = t
        self._add_jobs(
            pipe,
            [
                CachedJob(t.job_id, t.to_state, t.version, t.queue, t.type, t.attempt, t.worker_id)
                for t in latest.values()
            ],
        )

        deltas: Counter[str] = Counter()
        completed = failed = 0
        for t in transitions:
            if t.is_note:
                continue
            if t.from_state is not None:
                deltas[count_field(t.queue, t.from_state.value)] -= 1
            deltas[count_field(t.queue, t.to_state.value)] += 1
            if t.from_state is State.RUNNING:
                if t.to_state is State.COMPLETED:
                    completed += 1
                elif t.to_state in (State.RETRYING, State.FAILED):
                    failed += 1
        for name, delta in sorted(deltas.items()):
            if delta:
                pipe.hincrby(self.keys.counts, name, delta)
        if completed or failed:
            pipe.eval(_RING_ADD, 1, self.keys.throughput, int(now), completed, failed, RING_SECONDS)

        # Each event is encoded once: the recent list holds the documents, a pub/sub
        # message is a JSON array of them.
        docs = [json.dumps(codec.encode(t, now), separators=(",", ":")) for t in transitions]
        pipe.lpush(self.keys.recent_events, *docs[-RECENT_EVENTS_KEPT:])
        pipe.ltrim(self.keys.recent_events, 0, RECENT_EVENTS_KEPT - 1)
        for i in range(0, len(docs), PUBLISH_BATCH):
            message = "[" + ",".join(docs[i : i + PUBLISH_BATCH]) + "]"
            pipe.publish(self.keys.events_channel, message)

    def _add_recovery(self, pipe: Pipeline) -> bool:
        """If writes were lost: invalidate everything that may now be incomplete
        (call under ``_recovery_lock``)."""
        if not self.stale:
            return False
        pipe.set(self.keys.epoch, secrets.token_hex(8))
        pipe.hdel(self.keys.counts, BASE_FIELD)
        pipe.delete(self.keys.throughput, self.keys.recent_events)
        return True

    def _add_jobs(self, pipe: Pipeline, jobs: Sequence[CachedJob]) -> None:
        for i in range(0, len(jobs), SCRIPT_BATCH):
            batch = jobs[i : i + SCRIPT_BATCH]
            args: list[Any] = [JOB_TTL_LIVE_S, JOB_TTL_FINISHED_S]
            for j in batch:
                args += [
                    j.version,
                    j.state.value,
                    j.queue,
                    j.type,
                    j.attempt,
                    j.worker_id or "",
                    1 if j.state in TERMINAL else 0,
                ]
            keys = [self.keys.epoch, *(self.keys.job(j.job_id) for j in batch)]
            pipe.eval(_SET_JOBS, len(keys), *keys, *args)

    # -- worker heartbeats ------------------------------------------------------

    async def heartbeat(self, beat: WorkerBeat) -> None:
        """Store a worker's beat (expires after ``beat_ttl_s``) and add a memory sample."""
        if not self.breaker.allow():
            return
        now = time.time()
        doc = {
            "worker_id": beat.worker_id,
            "host": beat.host,
            "pid": beat.pid,
            "queues": list(beat.queues),
            "state": beat.state,
            "current_job_id": beat.current_job_id,
            "rss_bytes": beat.rss_bytes,
            "cpu_percent": beat.cpu_percent,
            "jobs_done": beat.jobs_done,
            "jobs_failed": beat.jobs_failed,
            "prefetch_in_flight": beat.prefetch_in_flight,
            "at": round(now, 3),
        }
        memory_key = self.keys.worker_memory(beat.worker_id)
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(
                self.keys.worker(beat.worker_id),
                json.dumps(doc, separators=(",", ":")),
                px=int(self.beat_ttl_s * 1000),
            )
            pipe.rpush(memory_key, f"{now:.3f} {int(beat.rss_bytes)}")
            pipe.ltrim(memory_key, -MEMORY_SAMPLES_KEPT, -1)
            pipe.expire(memory_key, MEMORY_HISTORY_TTL_S)
            await pipe.execute()
        except asyncio.CancelledError:
            self.breaker.failure("cancelled during a heartbeat")
            raise
        except Exception as exc:  # a lost beat only ages; PostgreSQL has the truth
            self.breaker.failure(exc)
        else:
            self.breaker.success()

    # -- reads ------------------------------------------------------------------

    async def _read(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run a read through the breaker; a down Redis raises ServiceUnavailable at once.

        A read that arrives while a trial call is under way waits for it (at most a
        connect timeout): skipped just as Redis comes back, the first read after an
        outage would fall back to PostgreSQL without repopulating the counters.
        """
        if not (self.breaker.allow() or await self._after_trial()):
            raise self._unavailable(self.breaker.last_error)
        try:
            result = await fn()
        except asyncio.CancelledError:
            self.breaker.failure("cancelled during a read")
            raise
        except (RedisError, OSError, TimeoutError) as exc:
            self.breaker.failure(exc)
            raise self._unavailable(self.breaker.last_error) from exc
        self.breaker.success()
        return result

    async def ping(self) -> float:
        """Round trip of PING in milliseconds, tried even while the breaker is open."""
        started = time.perf_counter()
        try:
            await self.redis.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self.breaker.failure(exc)
            raise self._unavailable(self.breaker.last_error) from exc
        elapsed = (time.perf_counter() - started) * 1000.0
        self.breaker.success()
        return elapsed

    async def _read_checked(self, source: str | None, read: Callable[[Pipeline], object]) -> Any:
        """Run one read in a pipeline; None when the cache is about another database.

        ``source`` is PostgreSQL's :data:`~engine.queries.counts.COUNT_SOURCE` as the
        reader sees it; None skips the check (PostgreSQL is down: best effort).
        """
        if self.stale:
            return None

        async def run() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(self.keys.source)
            read(pipe)
            return list(await pipe.execute())

        stored, result = await self._read(run)
        return None if _about_another(stored, source) else result

    async def read_counts(self, source: str | None = None) -> dict[tuple[str, State], int] | None:
        """Jobs per (queue, state), or None when the counters are not whole (flushed,
        evicted, this process lost writes since, or written for another database):
        then ask PostgreSQL."""
        raw: dict[str, str] | None = await self._read_checked(
            source, lambda pipe: pipe.hgetall(self.keys.counts)
        )
        if raw is None or BASE_FIELD not in raw:
            return None
        counts: dict[tuple[str, State], int] = {}
        for name, value in raw.items():
            parsed = parse_count_field(name)
            if parsed is None:
                continue
            try:
                counts[(parsed[0], State(parsed[1]))] = int(value)
            except ValueError:
                continue
        return counts

    async def write_counts(self, totals: Mapping[tuple[str, str], int], source: str) -> None:
        """Replace the counters with PostgreSQL's totals, atomically, marked whole.

        ``source`` names the database (and incarnation of its count tables) the
        totals come from. If the cache was about another one (a restore, a new
        database under the same namespace, a test's TRUNCATE), everything else
        it holds is dropped or invalidated too.
        """

        async def write() -> None:
            stored = _text(await self.redis.get(self.keys.source))

            def build(pipe: Pipeline) -> None:
                if _about_another(stored, source):
                    pipe.set(self.keys.epoch, secrets.token_hex(8))
                    pipe.delete(self.keys.throughput, self.keys.recent_events)
                pipe.set(self.keys.source, source)
                pipe.delete(self.keys.counts)
                mapping: dict[FieldT, EncodableT] = {
                    count_field(q, s): int(n) for (q, s), n in totals.items()
                }
                mapping[BASE_FIELD] = f"{time.time():.3f}"
                pipe.hset(self.keys.counts, mapping=mapping)

            await self._execute(build, transaction=True)

        await self._read(write)

    async def read_ring(self, source: str | None = None) -> Ring | None:
        """The throughput ring, or None when it is missing (flushed, evicted, never
        written, dropped after lost writes) or about another database."""
        raw: dict[str, str] | None = await self._read_checked(
            source, lambda pipe: pipe.hgetall(self.keys.throughput)
        )
        if raw is None or "since" not in raw:
            return None
        seconds = []
        for name, value in raw.items():
            if name == "since":
                continue
            parts = value.split()
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                seconds.append((int(parts[0]), int(parts[1]), int(parts[2])))
        return Ring(int(raw["since"]), tuple(sorted(seconds)))

    async def recent_events(self, limit: int, source: str | None = None) -> list[EventView] | None:
        """The newest ``limit`` events, newest first; None when the list is missing or
        about another database."""
        raw: list[str] | None = await self._read_checked(
            source, lambda pipe: pipe.lrange(self.keys.recent_events, 0, max(limit, 1) - 1)
        )
        if not raw:
            return None
        decoded = []
        for item in raw:
            decoded.extend(codec.loads(item))
        return decoded

    async def live_workers(self, worker_ids: Sequence[str]) -> dict[str, Worker]:
        """What Redis knows of each worker beyond PostgreSQL's ``workers`` row.

        A worker whose beat has not expired comes back with its figures, its
        in-flight prefetch and its memory history (oldest first); one whose beat
        expired but whose history is still kept comes back with the history
        alone (state ``unknown``, no figures); one Redis knows nothing of is absent.
        """
        if not worker_ids:
            return {}

        async def read() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            for wid in worker_ids:
                pipe.get(self.keys.worker(wid))
                pipe.lrange(self.keys.worker_memory(wid), 0, -1)
            return list(await pipe.execute())

        results = await self._read(read)
        out: dict[str, Worker] = {}
        for i, wid in enumerate(worker_ids):
            beat, history = _beat(results[2 * i]), _history(results[2 * i + 1])
            if beat is not None:
                out[wid] = _worker(beat, history)
            elif history:
                out[wid] = Worker(wid, "", None, (), "unknown", memory_history=history)
        return out

    async def job_states(
        self, job_ids: Sequence[int], source: str | None = None
    ) -> dict[int, CachedJob]:
        """The jobs whose cached status can be believed (current epoch, and the cache is
        about ``source``); the others are absent."""
        if not job_ids or self.stale:
            return {}

        async def read() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(self.keys.source)
            pipe.get(self.keys.epoch)
            for job_id in job_ids:
                pipe.hmget(self.keys.job(job_id), list(_JOB_FIELDS))
            return list(await pipe.execute())

        results = await self._read(read)
        if _about_another(results[0], source):
            return {}
        results = results[1:]
        epoch = results[0] or ""
        out: dict[int, CachedJob] = {}
        for job_id, values in zip(job_ids, results[1:], strict=True):
            state, version, job_epoch, queue, type_, attempt, worker = values
            if state is None or version is None or (job_epoch or "") != epoch:
                continue
            try:
                out[job_id] = CachedJob(
                    job_id, State(state), int(version), queue, type_, int(attempt), worker or None
                )
            except (TypeError, ValueError):
                continue
        return out

    async def store_jobs(self, jobs: Sequence[CachedJob]) -> None:
        """Write back statuses read from PostgreSQL (the version rule still applies)."""
        if not jobs:
            return
        await self._read(
            lambda: self._execute(lambda pipe: self._add_jobs(pipe, jobs), transaction=False)
        )

    def pubsub(self) -> PubSub:
        """A pub/sub handle on this cache's connection settings (for live subscribers)."""
        return self.redis.pubsub(ignore_subscribe_messages=True)

    async def close(self) -> None:
        """Stop the pending recovery (if any) and close the connection pool."""
        if self._writer is not None and not self._writer.done():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(COMMAND_TIMEOUT_S):
                    await asyncio.shield(self._writer)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
        self._writer = None
        if self._recovery_task is not None:
            self._recovery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._recovery_task
            self._recovery_task = None
        try:
            await self.redis.aclose()
        except Exception:  # closing a client of a dead server must not fail shutdown
            log.debug("closing the status cache failed", exc_info=True)


def _text(raw: bytes | str | None) -> str | None:
    """A Redis reply as text (the client decodes replies; the types cannot know it)."""
    return raw.decode() if isinstance(raw, bytes) else raw


def _about_another(stored: str | None, source: str | None) -> bool:
    """Whether the cache says it describes another database than ``source``.

    A cache that does not say (never reconciled yet, or the key was evicted) is
    taken at its word; a reader that cannot tell (``source`` None: PostgreSQL is
    down) takes what there is.
    """
    return stored is not None and source is not None and stored != source


def _beat(raw: str | None) -> WorkerBeat | None:
    if not raw:
        return None
    try:
        d = json.loads(raw)
        return WorkerBeat(
            worker_id=str(d["worker_id"]),
            host=str(d["host"]),
            pid=int(d["pid"]),
            queues=tuple(str(q) for q in d["queues"]),
            state=str(d["state"]),
            current_job_id=None if d["current_job_id"] is None else int(d["current_job_id"]),
            rss_bytes=int(d["rss_bytes"]),
            cpu_percent=float(d["cpu_percent"]),
            jobs_done=int(d["jobs_done"]),
            jobs_failed=int(d["jobs_failed"]),
            prefetch_in_flight=int(d["prefetch_in_flight"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _worker(beat: WorkerBeat, history: tuple[MemorySample, ...]) -> Worker:
    return Worker(
        id=beat.worker_id,
        host=beat.host,
        pid=beat.pid,
        queues=beat.queues,
        state=beat.state,
        current_job_id=beat.current_job_id,
        rss_bytes=beat.rss_bytes,
        cpu_percent=beat.cpu_percent,
        jobs_done=beat.jobs_done,
        jobs_failed=beat.jobs_failed,
        prefetch_in_flight=beat.prefetch_in_flight,
        memory_history=history,
    )


def _history(raw: list[str] | None) -> tuple[MemorySample, ...]:
    samples = []
    for item in raw or ():
        parts = item.split()
        if len(parts) != 2:
            continue
        try:
            samples.append(MemorySample(epoch_to_datetime(float(parts[0])), int(parts[1])))
        except ValueError:
            continue
    return tuple(samples)
