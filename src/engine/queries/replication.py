"""Queries on streaming replication: how far a read replica trails its primary.

Not on any table: on the servers' WAL positions. A replica that has replayed
everything the primary has written is current however long ago its last
transaction was; one that has not is as old as the last transaction it replayed.
"""

from engine.db.sql import Sql

# -- replication_primary_position -- the primary's WAL write position, read first.
REPLICATION_PRIMARY_POSITION = Sql("SELECT pg_current_wal_lsn()::text AS lsn")

# -- replication_replica_state -- is this a standby, what it replayed, and how old that is.
REPLICATION_REPLICA_STATE = Sql(
    """
    SELECT pg_is_in_recovery() AS standby,
           pg_last_wal_replay_lsn()::text AS replayed,
           extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
               AS replayed_age_s
    """
)
