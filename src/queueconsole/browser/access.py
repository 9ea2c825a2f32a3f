"""Who may open a console in the browser, and whether it may change anything.

The token check is the HTTP API's own (:func:`queueconsole.api.auth.verify` on
a :class:`~queueconsole.api.tokens.TokenCache`), so a token works, fails and is
revoked the same way on both servers. Any live token opens a console; only a
token whose scope includes ``operate`` gets one that can retry, cancel, scale or
pause: every other console runs read-only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from engine.snapshots import TokenInfo
from queueconsole.api.auth import REALM, Refused, Scope, verify
from queueconsole.api.tokens import TokenCache

NO_TOKEN = (
    "this console needs a token: open the address with ?token=<secret> once (the browser then "
    "keeps a session cookie) or send Authorization: Bearer <secret>; create one with "
    "`queueconsole token create NAME --scope read|operate`"
)


@dataclass(frozen=True, slots=True)
class Access:
    """What one request may do: the console it gets and the token it came with."""

    read_only: bool
    """The console refuses every change (the token may not operate, or ``--read-only``)."""
    token: TokenInfo | None
    """The token let in; None when the server runs with ``--no-auth``."""
    secret: str | None = field(default=None, repr=False)
    """Kept to check an open console's token again (a revoke closes it); never shown."""

    @property
    def read_only_reason(self) -> str:
        """What the console's refusals give as the reason."""
        if self.token is not None and not self.token.allows(Scope.OPERATE.value):
            return f"token {self.token.name!r} has scope {self.token.scope}; acting needs operate"
        return "the server runs with --read-only"

    @property
    def who(self) -> str:
        """How logs name the user: the token's name and scope, never its secret."""
        if self.token is None:
            return "no auth"
        return f"token {self.token.name!r} (scope {self.token.scope})"


class Gate:
    """Lets requests in by token, or everyone with ``--no-auth``.

    Args:
        tokens: the engine's tokens through the API's cache; None serves without auth
            (the command allows that on a loopback address only, as ``queueconsole api``).
        read_only: every console read-only, whatever the token may do.
    """

    def __init__(self, tokens: TokenCache | None, *, read_only: bool) -> None:
        self._tokens = tokens
        self._read_only = read_only

    @property
    def auth_required(self) -> bool:
        """False with ``--no-auth``."""
        return self._tokens is not None

    async def admit(self, secret: str | None) -> Access:
        """The access ``secret`` gives, or :class:`Refused` (401) saying why not."""
        if self._tokens is None:
            return Access(read_only=self._read_only, token=None)
        if not secret:
            raise Refused(401, NO_TOKEN, None)
        token = await verify(self._tokens, secret, Scope.READ)
        operate = token.allows(Scope.OPERATE.value)
        return Access(read_only=self._read_only or not operate, token=token, secret=secret)

    async def still_valid(self, access: Access) -> bool:
        """Whether an open console's token still works (False once it is revoked)."""
        if self._tokens is None or access.secret is None:
            return True
        try:
            await verify(self._tokens, access.secret, Scope.READ)
        except Refused:
            return False
        return True


def refused_page(refused: Refused) -> str:
    """The HTML a browser shows instead of the console: one line saying what was wrong."""
    detail = html.escape(refused.detail)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{refused.status} · {REALM}</title></head>\n"
        "<body style='font-family: monospace; padding: 2em'>\n"
        f"<h1>{refused.status}: no console</h1>\n<p id='reason'>{detail}</p>\n"
        "</body></html>\n"
    )


def challenge(refused: Refused) -> str:
    """The ``WWW-Authenticate`` value of a refusal (RFC 6750, as the API sends)."""
    header = f'Bearer realm="{REALM}"'
    if refused.error is not None:
        header += f', error="{refused.error}"'
    return header
