"""Browser sessions: a random cookie value standing for a token's secret.

A browser sends ``?token=<secret>`` once; the server answers with a cookie
holding a random session id and redirects to the same page without the token,
so the secret leaves the address bar and history and is not sent again. The
id maps to the secret in this process's memory only: every request still
checks the secret (a revoked token stops working), and a restart of the server
forgets every session (the user opens the ``?token=`` address again).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict

COOKIE = "queueconsole_session"
MAX_SESSIONS = 10_000  # sessions remembered at once; the least recently used go first
SESSION_ID_BYTES = 32  # random bytes per session id (256 bits, like the tokens' secrets)


class SessionStore:
    """Which token secret each session cookie stands for.

    Args:
        limit: sessions remembered at once (a client cannot grow the map without bound
            because creating a session needs a valid token, but a leak is still a leak).
    """

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._limit = limit
        self._secrets: OrderedDict[str, str] = OrderedDict()

    def create(self, secret: str) -> str:
        """A new session id for ``secret``."""
        session = secrets.token_urlsafe(SESSION_ID_BYTES)
        self._secrets[session] = secret
        while len(self._secrets) > self._limit:
            self._secrets.popitem(last=False)
        return session

    def secret(self, session: str | None) -> str | None:
        """The secret behind a session id, None for an unknown or absent one."""
        if not session:
            return None
        secret = self._secrets.get(session)
        if secret is not None:
            self._secrets.move_to_end(session)
        return secret

    def __len__(self) -> int:
        return len(self._secrets)
