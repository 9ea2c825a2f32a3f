"""Quorum-queue fixtures: the broker tests' namespace, declared with a chosen queue type.

RabbitMQ runs quorum queues on a single node too, so the machine's broker serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.broker.names import Names
from tests.broker.conftest import Space, space

__all__ = ["quorum", "space", "typed"]


def _with_type(space: Space, queue_type: str) -> Space:
    space.settings = space.settings.evolve(queue_type=queue_type)
    space.names = Names.of(space.settings)
    return space


@pytest.fixture(params=["classic", "quorum"])
async def typed(request: pytest.FixtureRequest, space: Space) -> AsyncIterator[Space]:
    """The test's namespace with each queue type in turn (deleted afterwards)."""
    yield _with_type(space, request.param)


@pytest.fixture
async def quorum(space: Space) -> AsyncIterator[Space]:
    """The test's namespace, declared with quorum queues (deleted afterwards)."""
    yield _with_type(space, "quorum")
