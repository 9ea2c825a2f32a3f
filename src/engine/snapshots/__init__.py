"""Immutable snapshots: what the read API, the status cache and the runtime hand out.

Frozen dataclasses of plain values and tuples, safe to hand to another thread
or keep in a widget while the next refresh is built. This is the bottom layer
of the engine's read side: it imports nothing above :mod:`engine.states` and
:mod:`engine.priority`, so ``status/``, ``readapi/``, ``runtime/`` and the
console all read the same types. Modules are by subject; every type is
re-exported here (``from engine.snapshots import Worker``).
"""

from engine.snapshots.bulk import PREVIEW_ROOTS, BulkAction, BulkDone, BulkPreview
from engine.snapshots.common import (
    SOURCE_NONE,
    SOURCE_POSTGRESQL,
    SOURCE_REDIS,
    epoch_to_datetime,
    iso,
    rounded,
)
from engine.snapshots.dashboard import Dashboard
from engine.snapshots.dead_letters import DeadLetter, DeadPurged, DeadReplayed, DeadSweep
from engine.snapshots.events import EventsSection, EventView
from engine.snapshots.failures import (
    FailureGroup,
    FailuresSection,
    GroupRetried,
    GroupRetryPreview,
)
from engine.snapshots.graph import GraphNode, WorkflowGraph
from engine.snapshots.health import ServiceHealth
from engine.snapshots.history import HistoryPoint, MinuteHistory, QueueHistory
from engine.snapshots.jobs import (
    FAILURE_GROUP_UNKNOWN,
    JOB_SORT_COLUMNS,
    ErrorInfo,
    JobDetail,
    JobEvent,
    JobFilter,
    JobPage,
    JobRef,
    JobSort,
    JobSummary,
    LogLine,
    LogPage,
    SortKey,
    failure_group_key,
)
from engine.snapshots.queues import BrokerDepth, QueueCounts, QueuesSection, QueueView
from engine.snapshots.replica import USING_PRIMARY, USING_REPLICA, ReadReplicaStatus
from engine.snapshots.throughput import (
    LatencySection,
    ThroughputPoint,
    ThroughputSection,
    TypeLatency,
)
from engine.snapshots.tokens import TOKEN_SCOPES, CreatedToken, TokenInfo
from engine.snapshots.workers import (
    MemorySample,
    SupervisorSnapshot,
    Worker,
    WorkerBeat,
    WorkersSection,
)

__all__ = [
    "FAILURE_GROUP_UNKNOWN",
    "JOB_SORT_COLUMNS",
    "PREVIEW_ROOTS",
    "SOURCE_NONE",
    "SOURCE_POSTGRESQL",
    "SOURCE_REDIS",
    "TOKEN_SCOPES",
    "USING_PRIMARY",
    "USING_REPLICA",
    "BrokerDepth",
    "BulkAction",
    "BulkDone",
    "BulkPreview",
    "CreatedToken",
    "Dashboard",
    "DeadLetter",
    "DeadPurged",
    "DeadReplayed",
    "DeadSweep",
    "ErrorInfo",
    "EventView",
    "EventsSection",
    "FailureGroup",
    "FailuresSection",
    "GraphNode",
    "GroupRetried",
    "GroupRetryPreview",
    "HistoryPoint",
    "JobDetail",
    "JobEvent",
    "JobFilter",
    "JobPage",
    "JobRef",
    "JobSort",
    "JobSummary",
    "LatencySection",
    "LogLine",
    "LogPage",
    "MemorySample",
    "MinuteHistory",
    "QueueCounts",
    "QueueHistory",
    "QueueView",
    "QueuesSection",
    "ReadReplicaStatus",
    "ServiceHealth",
    "SortKey",
    "SupervisorSnapshot",
    "ThroughputPoint",
    "ThroughputSection",
    "TokenInfo",
    "TypeLatency",
    "Worker",
    "WorkerBeat",
    "WorkersSection",
    "WorkflowGraph",
    "epoch_to_datetime",
    "failure_group_key",
    "iso",
    "rounded",
]
