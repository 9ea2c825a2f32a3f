"""A private PostgreSQL: own port, own cluster, data kept across restarts and crashes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import asyncpg
import pytest

from engine.errors import ServiceUnavailable
from localservices import LocalServiceError, PrivatePostgres, probe_postgres
from localservices.binaries import PostgresBinaries
from tests.support.private import (
    listening_addresses,
    private_postgres,
    processes_of,
    require,
    shared_services_answer,
    state_dir,
    survivors,
)


async def test_starts_on_a_free_port_and_answers_on_loopback_only():
    with private_postgres() as pg:
        assert pg.url.startswith("postgresql://postgres@127.0.0.1:")
        assert pg.port != 5432
        conn = await asyncpg.connect(pg.url)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SHOW unix_socket_directories") == ""
        finally:
            await conn.close()
        assert listening_addresses(processes_of(pg)) == {"127.0.0.1"}


async def test_a_table_survives_restart_and_kill():
    with private_postgres() as pg:
        port = pg.port
        conn = await asyncpg.connect(pg.url)
        await conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
        await conn.execute("INSERT INTO kept VALUES (1, 'before restart')")
        await conn.close()

        pg.restart()
        assert pg.port == port
        conn = await asyncpg.connect(pg.url)
        await conn.execute("INSERT INTO kept VALUES (2, 'before kill')")
        await conn.close()

        pg.kill()
        assert not pg.is_running
        assert not probe_postgres(pg.url).ok
        pg.start()  # crash recovery: committed rows are there
        assert pg.port == port
        conn = await asyncpg.connect(pg.url)
        try:
            rows = await conn.fetch("SELECT id, note FROM kept ORDER BY id")
        finally:
            await conn.close()
        assert [tuple(r) for r in rows] == [(1, "before restart"), (2, "before kill")]


async def test_stop_leaves_no_process_and_the_shared_services_answer():
    with private_postgres() as pg:
        conn = await asyncpg.connect(pg.url)  # a client does not hold up a fast stop
        processes = processes_of(pg)
        assert len(processes) > 1  # postmaster and its helpers
        pg.stop()
        assert survivors(processes) == []
        assert not (pg.directory / "pids.json").exists()
        await conn.close(timeout=5)
        pg.stop()  # idempotent
    assert shared_services_answer() == {"postgres": True, "redis": True, "rabbitmq": True}


def test_a_port_in_use_is_one_clear_error():
    require("postgres")
    with state_dir() as d:
        server = PrivatePostgres(d, port=5432, fsync=False)  # the machine's own cluster
        with pytest.raises(LocalServiceError) as caught:
            server.start()
        assert "port 5432 on 127.0.0.1 is already in use" in str(caught.value)
        assert isinstance(caught.value, ServiceUnavailable)  # the CLI prints it, exit 3
        assert not server.is_running
    assert shared_services_answer()["postgres"]


def test_a_server_that_refuses_to_start_quotes_its_log():
    with state_dir() as d:
        require("postgres")
        server = PrivatePostgres(d, fsync=False, server_settings={"shared_buffers": "lots"})
        with pytest.raises(LocalServiceError) as caught:
            server.start()
        message = str(caught.value)
        assert "exited with status" in message
        assert "last lines of" in message and "shared_buffers" in message
        assert server.pids() == []


def test_a_missing_binary_says_what_is_missing():
    with state_dir() as d:
        server = PrivatePostgres(d, binaries=PostgresBinaries(Path("/nonexistent/bin")))
        with pytest.raises(LocalServiceError) as caught:
            server.start()
        assert "cannot run /nonexistent/bin/initdb" in str(caught.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to another account")
def test_as_root_a_state_dir_the_server_account_cannot_reach_is_refused():
    require("postgres")
    with tempfile.TemporaryDirectory(prefix="qc-private-0700-") as closed:  # mode 0700
        server = PrivatePostgres(Path(closed) / "state")
        with pytest.raises(LocalServiceError) as caught:
            server.start()
        assert "refuses to run as root" in str(caught.value)
        assert f"cannot enter {closed}" in str(caught.value)
