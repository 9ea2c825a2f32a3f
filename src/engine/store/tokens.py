"""API tokens: create, list, revoke, and find the live token behind a presented secret.

Only a SHA-256 hash of each secret is stored. A secret is 32 random bytes
(``secrets.token_urlsafe``), so a fast hash is enough: there is nothing to guess
by brute force, unlike a password. Looking a secret up means hashing it and
finding that hash; the row found is compared once more with
:func:`hmac.compare_digest`, so no answer depends on how many leading
characters of a guess were right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from engine.errors import UserError, ValidationError, shown
from engine.queries.tenants import TENANT_GET
from engine.queries.tokens import TOKEN_FIND, TOKEN_INSERT, TOKEN_LIST, TOKEN_REVOKE, TOKEN_USE
from engine.snapshots.tokens import TOKEN_SCOPES, CreatedToken, TokenInfo
from engine.specs import check_tenant_name, storable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

SECRET_PREFIX = "qc_"  # makes a leaked secret recognisable to secret scanners and people
SECRET_BYTES = 32  # of randomness in each secret
MAX_NAME_LENGTH = 100
MAX_SECRET_LENGTH = 200  # anything longer is no secret of ours; not even hashed


class TokenNotFound(UserError):
    """A token name or id that names no token."""

    def __init__(self, name_or_id: object) -> None:
        super().__init__(
            f"no API token is named {shown(name_or_id)} (see `queueconsole token list`)"
        )


def hash_secret(secret: str) -> str:
    """The stored form of a secret: SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_scope(scope: object) -> str:
    """``scope`` if it is one of :data:`TOKEN_SCOPES`, else a ValidationError naming them."""
    if not isinstance(scope, str) or scope not in TOKEN_SCOPES:
        raise ValidationError(f"scope {shown(scope)}: use one of {', '.join(TOKEN_SCOPES)}")
    return scope


def check_name(name: object) -> str:
    """A token's name: 1 to 100 printable characters."""
    if (
        not isinstance(name, str)
        or not name.strip()
        or len(name) > MAX_NAME_LENGTH
        or not storable(name)
        or not name.isprintable()
    ):
        raise ValidationError(
            f"token name {shown(name)}: give 1 to {MAX_NAME_LENGTH} printable characters"
        )
    return name


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        int(row.id),
        row.name,
        row.scope,
        row.created_at,
        row.last_used_at,
        row.revoked_at,
        row.tenant,
    )


async def create_token(
    conn: AsyncConnection, name: str, scope: str, tenant: str | None = None
) -> CreatedToken:
    """A new token named ``name``; its secret is in the answer and nowhere else. Bound to
    ``tenant``, it sees and acts on that tenant's jobs only."""
    check_name(name)
    check_scope(scope)
    if tenant is not None:
        check_tenant_name(tenant, "token")
        if (await conn.execute(TENANT_GET, {"name": tenant})).one_or_none() is None:
            raise ValidationError(
                f"tenant {tenant!r} does not exist; add it with `queueconsole tenant add`"
            )
    secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    row = (
        await conn.execute(
            TOKEN_INSERT,
            {
                "name": name,
                "token_hash": hash_secret(secret),
                "scope": scope,
                "tenant": tenant,
            },
        )
    ).one_or_none()
    if row is None:
        raise ValidationError(
            f"an API token named {shown(name)} exists already; revoke it or choose another name"
        )
    return CreatedToken(_info(row), secret)


async def list_tokens(conn: AsyncConnection) -> list[TokenInfo]:
    """Every token, revoked ones included, oldest first."""
    return [_info(r) for r in await conn.execute(TOKEN_LIST)]


async def revoke_token(conn: AsyncConnection, name_or_id: str) -> tuple[TokenInfo, bool]:
    """Revoke a token by name (or, when no token has that name, by id).

    Returns the token and whether this call revoked it (False: it was already revoked).
    """
    if not isinstance(name_or_id, str) or not storable(name_or_id):
        raise TokenNotFound(name_or_id)
    as_id = int(name_or_id) if name_or_id.isascii() and name_or_id.isdigit() else None
    if as_id is not None and as_id >= 2**63:
        as_id = None
    row = (await conn.execute(TOKEN_FIND, {"name": name_or_id, "id": as_id})).one_or_none()
    if row is None:
        raise TokenNotFound(name_or_id)
    was_revoked = row.revoked_at is not None
    revoked = (await conn.execute(TOKEN_REVOKE, {"id": row.id})).one()
    return _info(revoked), not was_revoked


async def use_token(conn: AsyncConnection, secret: str) -> TokenInfo | None:
    """The live token whose secret this is (its ``last_used_at`` set to now), or None."""
    if not secret or len(secret) > MAX_SECRET_LENGTH or not storable(secret):
        return None
    presented = hash_secret(secret)
    row = (await conn.execute(TOKEN_USE, {"token_hash": presented})).one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, presented):
        return None
    return _info(row)
