"""A private Redis: own port, configured as a cache, flushed and restarted freely."""

from __future__ import annotations

import pytest
import redis

from localservices import LocalServiceError, PrivateRedis
from tests.support.private import (
    listening_addresses,
    private_redis,
    processes_of,
    require,
    shared_services_answer,
    state_dir,
    survivors,
)


def test_starts_on_a_free_port_as_a_capped_lru_cache():
    with private_redis(maxmemory="16mb") as server:
        assert server.url.startswith("redis://127.0.0.1:") and server.port != 6379
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            assert client.ping()
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
            assert client.config_get("maxmemory") == {"maxmemory": str(16 * 1024 * 1024)}
            assert client.config_get("save") == {"save": ""}
        finally:
            client.close()
        assert listening_addresses(processes_of(server)) == {"127.0.0.1"}


def test_flushall_empties_it_and_a_restart_keeps_the_port():
    with private_redis() as server:
        port = server.port
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            client.set("job:1", "queued")
            server.flushall()
            assert client.dbsize() == 0
            client.set("job:2", "running")
        finally:
            client.close()
        server.restart()
        assert server.port == port
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            assert client.dbsize() == 0  # a cache: nothing kept unless persistent=True
        finally:
            client.close()


def test_persistent_keeps_data_across_a_restart():
    with private_redis(persistent=True) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            client.set("kept", "yes")
        finally:
            client.close()
        server.restart()
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            assert client.get("kept") == "yes"
        finally:
            client.close()


def test_stop_and_kill_leave_no_process_and_the_shared_services_answer():
    with private_redis() as server:
        processes = processes_of(server)
        assert processes
        server.kill()
        assert survivors(processes) == []
        server.start()
        processes = processes_of(server)
        server.stop()
        assert survivors(processes) == []
    assert shared_services_answer() == {"postgres": True, "redis": True, "rabbitmq": True}


def test_a_port_in_use_is_one_clear_error():
    require("redis")
    with state_dir() as d:
        with pytest.raises(LocalServiceError) as caught:
            PrivateRedis(d, port=6379).start()  # the machine's own Redis listens there
        assert "port 6379 on 127.0.0.1 is already in use" in str(caught.value)
    assert shared_services_answer()["redis"]


def test_a_server_that_never_becomes_ready_times_out_with_its_log():
    with state_dir() as d:
        require("redis")
        # requirepass makes our PING answer -NOAUTH: the server runs but is never "ready".
        server = PrivateRedis(d, extra_args=("--requirepass", "x"))
        with pytest.raises(LocalServiceError) as caught:
            server.start(timeout_s=2)
        message = str(caught.value)
        assert "did not accept connections within 2 s" in message
        assert "last lines of" in message and "Ready to accept connections" in message
        assert server.pids() == [] and not server.is_running


def test_an_unknown_eviction_policy_is_refused():
    with state_dir() as d, pytest.raises(LocalServiceError, match="unknown eviction policy"):
        PrivateRedis(d, policy="sometimes")
