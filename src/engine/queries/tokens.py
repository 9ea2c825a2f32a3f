"""Queries on ``api_tokens``, the HTTP API's bearer tokens (hashes only)."""

from engine.db.sql import Sql

_COLUMNS = "id, name, scope, created_at, last_used_at, revoked_at, tenant"

# -- token_insert -- a new token; nothing when the name is taken.
TOKEN_INSERT = Sql(
    f"""
    INSERT INTO api_tokens (name, token_hash, scope, tenant)
    VALUES (:name, :token_hash, :scope, :tenant)
    ON CONFLICT (name) DO NOTHING
    RETURNING {_COLUMNS}
    """
)

# -- token_list -- every token, oldest first.
TOKEN_LIST = Sql(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY id")

# -- token_find -- a token by name, or by id when ``:id`` is given.
TOKEN_FIND = Sql(
    f"""
    SELECT {_COLUMNS} FROM api_tokens
    WHERE name = :name OR id = CAST(:id AS bigint)
    ORDER BY (name = :name) DESC LIMIT 1 FOR UPDATE
    """
)

# -- token_revoke -- stop a token from authenticating (its row stays).
TOKEN_REVOKE = Sql(
    f"""
    UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id
    RETURNING {_COLUMNS}
    """
)

# -- token_use -- the live token with this hash, marked as used now.
TOKEN_USE = Sql(
    f"""
    UPDATE api_tokens SET last_used_at = now()
    WHERE token_hash = :token_hash AND revoked_at IS NULL
    RETURNING {_COLUMNS}, token_hash
    """
)
