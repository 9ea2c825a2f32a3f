"""HTTP API tokens as ``token list`` and the API's authentication see them (never a secret
nor its hash)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.snapshots.common import iso

TOKEN_SCOPES = ("read", "submit", "operate")
"""Each scope includes the ones before it: read (GETs, streams) < submit (+ submissions)
< operate (+ cancel, retry, pause, limits)."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """One API token."""

    id: int
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    tenant: str | None = None
    """The one tenant whose jobs the token sees and acts on (None: every tenant's)."""

    @property
    def revoked(self) -> bool:
        """True once ``token revoke`` ran: the token no longer authenticates."""
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        """Whether this token's scope includes ``scope`` (scopes nest)."""
        return TOKEN_SCOPES.index(self.scope) >= TOKEN_SCOPES.index(scope)

    def to_json(self) -> dict[str, Any]:
        """One element of ``queueconsole token list --json``."""
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
            "tenant": self.tenant,
        }


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A token just created, with the secret that is shown this once and stored nowhere."""

    token: TokenInfo
    secret: str
