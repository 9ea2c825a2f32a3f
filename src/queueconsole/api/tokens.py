"""A short-lived cache of which secret is which token, so a request costs no database
round trip, and a revoke still takes effect within :data:`REVOKE_DELAY_S`.

Keys are SHA-256 digests of the secrets, never the secrets themselves. Unknown
secrets are cached too (as None), so a client hammering with a wrong token
costs one lookup per period, not one per request. Concurrent requests with the
same uncached secret share one lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from engine.snapshots import TokenInfo

REVOKE_DELAY_S = 2.0  # seconds a cached answer is believed; a revoke is felt within this
MAX_ENTRIES = 10_000  # secrets remembered at once (least recently used go first)

Lookup = Callable[[str], Awaitable[TokenInfo | None]]


class TokenCache:
    """Which live token a secret is, remembered for :data:`REVOKE_DELAY_S`.

    Args:
        lookup: the engine's answer for a secret (``Client.use_token``, which also
            records when the token was last used: once per period, not per request).
        ttl_s: how long an answer is believed.
    """

    def __init__(self, lookup: Lookup, *, ttl_s: float = REVOKE_DELAY_S) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._known: OrderedDict[bytes, tuple[float, TokenInfo | None]] = OrderedDict()
        self._pending: dict[bytes, asyncio.Future[TokenInfo | None]] = {}

    async def token(self, secret: str) -> TokenInfo | None:
        """The live token behind ``secret``, or None (unknown or revoked)."""
        key = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
        now = time.monotonic()
        hit = self._known.get(key)
        if hit is not None and hit[0] > now:
            self._known.move_to_end(key)
            return hit[1]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[TokenInfo | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            token = await self._lookup(secret)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody logs "never retrieved"
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(token)
        self._known[key] = (time.monotonic() + self._ttl_s, token)
        self._known.move_to_end(key)
        while len(self._known) > MAX_ENTRIES:
            self._known.popitem(last=False)
        return token

    def forget(self) -> None:
        """Drop every cached answer (the next request of each token looks it up again)."""
        self._known.clear()
