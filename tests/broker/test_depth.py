"""Queue depths for the console: existing queues, missing ones, purging."""

from __future__ import annotations

from engine.broker.depth import BrokerDepth, DepthProbe, purge, queue_depths
from engine.broker.management import ManagementApi, counts
from engine.broker.publisher import Publisher
from engine.store.changes import Runnable
from tests.broker.conftest import Space


async def test_depths_of_existing_and_missing_queues(space: Space):
    (queue,) = space.use("default")
    publisher = Publisher(space.settings)
    try:
        await publisher.publish([Runnable(i, 1, queue, 1) for i in range(1, 4)])
    finally:
        await publisher.close()
    probe = DepthProbe(space.settings)
    try:
        # A missing queue between two existing ones: its 404 must not spoil the others.
        first = await probe.depths([queue, "never-declared", queue + "-too"])
        again = await probe.depths([queue])
    finally:
        await probe.close()
    assert first[queue].ready == 3
    assert first[queue].consumers == 0
    assert first["never-declared"] == BrokerDepth(0, 0, 0)
    assert first[queue + "-too"] == BrokerDepth(0, 0, 0)
    assert again[queue].ready == 3
    if probe.source == "amqp":
        assert first[queue].unacked is None  # AMQP alone cannot know it


async def test_purge_empties_queues_and_ignores_missing_ones(space: Space):
    (queue,) = space.use("default")
    publisher = Publisher(space.settings)
    try:
        await publisher.publish([Runnable(i, 1, queue, 1) for i in range(1, 6)])
    finally:
        await publisher.close()
    assert await purge(space.settings, [queue, "missing"]) == {queue: 5, "missing": 0}
    assert (await queue_depths(space.settings, [queue]))[queue].ready == 0


def test_management_api_location_follows_the_amqp_url():
    api = ManagementApi.from_amqp_url("amqp://ops:p%40ss@rabbit.internal:5672/%2F")
    assert api.base_url == "http://rabbit.internal:15672"
    assert (api.user, api.password, api.vhost) == ("ops", "p@ss", "/")
    assert api.queue_url("qc.q.emails") == (
        "http://rabbit.internal:15672/api/queues/%2F/qc.q.emails"
    )
    tls = ManagementApi.from_amqp_url("amqps://rabbit.internal/prod")
    assert tls.base_url == "https://rabbit.internal:15671"
    assert (tls.user, tls.vhost) == ("guest", "prod")


def test_management_figures_missing_queue_and_unsampled_queue():
    assert counts({"messages_ready": 4, "messages_unacknowledged": 2, "consumers": 1}) == (4, 2, 1)
    assert counts(None) == (0, 0, 0)
    assert counts({"consumers": 0}) == (None, None, 0)
