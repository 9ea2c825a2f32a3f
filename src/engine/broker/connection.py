"""Connections to RabbitMQ on the running asyncio loop, and awaitable channels.

Workers are asyncio processes, so pika's ``AsyncioConnection`` runs on their
loop: no thread per connection, and pika's callbacks run on the loop thread,
where they may touch our state without locks. This module turns those
callbacks into awaitables. The care it takes is in what pika does *not*
call: a channel that closes (the broker refused something, or the connection
died) never answers the operations still waiting on it, so every waiter is
failed with :class:`ChannelLost` when its channel closes, instead of hanging.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.adapters.utils import connection_workflow
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from engine.config import Settings, mask_url
from engine.errors import ConfigError, EngineError, ServiceUnavailable

log = logging.getLogger(__name__)

SERVICE = "RabbitMQ"
"""How :class:`~engine.errors.ServiceUnavailable` names the broker."""

CONNECT_TIMEOUT_S = 5.0  # seconds: TCP connect, TLS and AMQP handshake together
BLOCKED_TIMEOUT_S = 60.0  # seconds a resource alarm may block us before we give up

_TLS_QUERY_KEYS = frozenset(
    {"cacertfile", "certfile", "keyfile", "verify", "server_name_indication"}
)
"""RabbitMQ's URI spec names TLS options this way; pika does not know them, so we
translate them into an ``ssl.SSLContext`` and hide them from pika."""

OnMessage = Callable[[Channel, Basic.Deliver, BasicProperties, bytes], None]


class ChannelLost(EngineError):
    """A channel (or its connection) closed before an operation on it finished.

    ``reason`` is pika's exception; for a channel the broker closed on purpose
    (a missing queue, a mismatched declaration) ``reply_code`` says why (404, 406).
    """

    def __init__(self, reason: BaseException | None) -> None:
        self.reason = reason
        super().__init__(describe(reason) if reason is not None else "channel closed")

    @property
    def reply_code(self) -> int | None:
        """The AMQP reply code when the broker closed the channel, else None."""
        if isinstance(self.reason, pika.exceptions.ChannelClosed):
            return int(self.reason.reply_code)
        return None


def default_name(settings: Settings, role: str) -> str:
    """A client-provided connection name RabbitMQ shows in ``rabbitmqctl list_connections``:
    the namespace first, so an operator (or a test) can tell whose connection it is."""
    return f"{settings.namespace}:{role}:{settings.host}:{os.getpid()}"


def connection_parameters(
    settings: Settings, name: str, timeout_s: float = CONNECT_TIMEOUT_S
) -> pika.URLParameters:
    """pika parameters for ``settings.amqp_url``.

    ``amqps://`` verifies the server against the system CAs and its host name
    (pika alone would send no SNI and fail the host-name check); RabbitMQ's
    URI TLS keys (``cacertfile``, ``certfile``, ``keyfile``, ``verify=verify_none``,
    ``server_name_indication``) are honoured. pika's own query keys
    (``heartbeat``, ``ssl_options``…) pass through untouched.
    """
    parts = urlsplit(settings.amqp_url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    tls = {k: v for k, v in pairs if k in _TLS_QUERY_KEYS}
    rest = [(k, v) for k, v in pairs if k not in _TLS_QUERY_KEYS]
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    try:
        params = pika.URLParameters(url)
    except (ValueError, TypeError, SyntaxError) as exc:
        raise ConfigError(
            f"amqp_url {mask_url(settings.amqp_url)!r} is not usable: {exc}"
        ) from None
    if parts.scheme == "amqps":
        given = params.ssl_options
        if tls or given is None or given.server_hostname is None:
            context = _tls_context(tls) if tls else given.context if given else None
            if context is None:
                context = ssl.create_default_context()
            server_name = tls.get("server_name_indication") or (
                given.server_hostname if given else None
            )
            params.ssl_options = pika.SSLOptions(context, server_name or params.host)
    params.client_properties = {"connection_name": name}
    params.connection_attempts = 1
    params.socket_timeout = timeout_s
    params.stack_timeout = timeout_s
    if params.blocked_connection_timeout is None:
        params.blocked_connection_timeout = BLOCKED_TIMEOUT_S
    return params


def _tls_context(options: dict[str, str]) -> ssl.SSLContext:
    """An SSL context from RabbitMQ-style URI TLS options."""
    context = ssl.create_default_context(cafile=options.get("cacertfile") or None)
    if options.get("certfile"):
        context.load_cert_chain(options["certfile"], options.get("keyfile") or None)
    if options.get("verify") == "verify_none":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def describe(exc: BaseException | None) -> str:
    """A one-line reason for a pika or socket failure, readable by an operator.

    pika's exceptions often wrap the interesting one (``ConnectionRefusedError``)
    inside a repr; this digs it out.
    """
    if exc is None:
        return "closed"
    if isinstance(exc, connection_workflow.AMQPConnectionWorkflowFailed) and exc.exceptions:
        return describe(exc.exceptions[-1])
    if isinstance(exc, connection_workflow.AMQPConnectorPhaseErrorBase):
        return describe(exc.exception)
    if isinstance(exc, connection_workflow.AMQPConnectorStackTimeout):
        return "timed out"
    if isinstance(exc, pika.exceptions.ConnectionOpenAborted):
        # pika aborts the handshake itself when stack_timeout runs out
        return "no answer in time" if "Timeout" in str(exc) else "connection attempt abandoned"
    if isinstance(
        exc, pika.exceptions.ProbableAuthenticationError | pika.exceptions.AuthenticationError
    ):
        return "authentication failed: check the user name and password"
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError):
        return "access denied (does the virtual host exist, may this user use it?)"
    if isinstance(exc, pika.exceptions.ConnectionClosed | pika.exceptions.ChannelClosed):
        return f"{exc.reply_code} {exc.reply_text}".strip()
    if isinstance(exc, pika.exceptions.AMQPConnectionError) and exc.args:
        inner = exc.args[0]
        if isinstance(inner, BaseException):
            return describe(inner)
        return str(inner) or type(exc).__name__
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


COALESCE_CHUNK_BYTES = 256 * 1024  # bytes per joined write: large, but cheap to re-slice


def coalesce_writes(connection: BrokerConnection) -> None:
    """Join the frames pika queued for sending into few large buffers.

    pika queues every frame as its own buffer and sends each with its own
    ``send()`` call: three system calls per published message, a third of a
    publisher's time. Joining what a burst queued before the loop gets to
    write keeps the bytes and their order and saves those calls. This reaches
    into pika's transport; if a pika version lays it out differently, it does
    nothing.
    """
    transport = getattr(connection.raw, "_transport", None)
    buffers = getattr(transport, "_tx_buffers", None)
    if not isinstance(buffers, collections.deque) or len(buffers) < 2:
        return
    joined: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for data in buffers:
        chunk.append(data)
        size += len(data)
        if size >= COALESCE_CHUNK_BYTES:
            joined.append(b"".join(chunk))
            chunk, size = [], 0
    if chunk:
        joined.append(b"".join(chunk))
    buffers.clear()
    buffers.extend(joined)


class BrokerConnection:
    """One open AMQP connection on the running loop."""

    def __init__(self, raw: AsyncioConnection, settings: Settings) -> None:
        self.raw = raw
        self.settings = settings
        self.masked_url = mask_url(settings.amqp_url)
        self._closed: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._listeners: list[Callable[[BaseException | None], None]] = []

    @property
    def is_open(self) -> bool:
        """True until the connection starts closing, for whatever reason."""
        return bool(self.raw.is_open)

    def add_close_listener(self, listener: Callable[[BaseException | None], None]) -> None:
        """Call ``listener(reason)`` once when the connection closes."""
        if self._closed.done():
            listener(self._closed.result())
        else:
            self._listeners.append(listener)

    async def wait_closed(self) -> BaseException | None:
        """Wait until the connection is closed; return pika's reason."""
        return await asyncio.shield(self._closed)

    def unavailable(self, reason: BaseException | str | None) -> ServiceUnavailable:
        """The error to raise for this connection's broker, with the password masked."""
        text = reason if isinstance(reason, str) else describe(reason)
        return ServiceUnavailable(SERVICE, self.masked_url, self.settings.redact(text))

    async def channel(self) -> AsyncChannel:
        """Open a new channel; raises :class:`ChannelLost` if the connection goes first."""
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()
        try:
            raw = self.raw.channel(on_open_callback=lambda _ch: _settle(opened, None))
        except pika.exceptions.AMQPError as exc:
            raise ChannelLost(exc) from None
        channel = AsyncChannel(raw)
        channel.waiters.add(opened)
        try:
            await opened
        finally:
            channel.waiters.discard(opened)
        return channel

    async def close(self) -> None:
        """Close gracefully (pending acks are flushed first) and wait until closed."""
        if self.raw.is_open:
            with contextlib.suppress(pika.exceptions.ConnectionWrongStateError):
                self.raw.close()
        if not self._closed.done():
            await self.wait_closed()

    def _on_closed(self, reason: BaseException | None) -> None:
        if self._closed.done():
            return
        self._closed.set_result(reason)
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            try:
                listener(reason)
            except Exception:  # one owner's bug must not stop the others hearing of it
                log.exception("connection close listener %r failed", listener)


async def connect(
    settings: Settings, name: str, timeout_s: float = CONNECT_TIMEOUT_S
) -> BrokerConnection:
    """Open a connection named ``name`` to ``settings.amqp_url`` on the running loop.

    Raises :class:`~engine.errors.ServiceUnavailable` (URL masked) when the
    broker cannot be reached, refuses the credentials, or does not answer
    within ``timeout_s``.
    """
    params = connection_parameters(settings, name, timeout_s)
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[None] = loop.create_future()
    holder: list[BrokerConnection] = []

    def on_open(_conn: Any) -> None:
        _settle(opened, None)

    def on_open_error(_conn: Any, exc: BaseException) -> None:
        _settle(opened, exc)

    def on_close(_conn: Any, exc: BaseException) -> None:
        if holder:
            holder[0]._on_closed(exc)
        else:
            _settle(opened, exc)

    raw = AsyncioConnection(params, on_open, on_open_error, on_close, custom_ioloop=loop)
    connection = BrokerConnection(raw, settings)
    holder.append(connection)
    try:
        # pika enforces stack_timeout itself; this is the belt to its braces.
        await asyncio.wait_for(asyncio.shield(opened), timeout_s + 1.0)
    except BaseException as exc:
        if not (raw.is_closed or raw.is_closing):
            raw.close()  # abandon the handshake; pika closes the socket
        if not opened.done():
            opened.cancel()
        if isinstance(exc, asyncio.CancelledError):
            raise
        reason = exc.reason if isinstance(exc, ChannelLost) else exc
        raise connection.unavailable(reason) from None
    return connection


def _settle(future: asyncio.Future[Any], outcome: BaseException | Any) -> None:
    """Resolve ``future`` once; later outcomes (pika may report twice) are ignored."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(ChannelLost(outcome))
    else:
        future.set_result(outcome)


class AsyncChannel:
    """A pika channel whose RPCs are awaitable.

    ``raw`` stays available for the hot path (``basic_publish``, ``basic_ack``),
    which has no reply to wait for.
    """

    def __init__(self, raw: Channel) -> None:
        self.raw = raw
        self.waiters: set[asyncio.Future[Any]] = set()
        self.close_reason: BaseException | None = None
        self._listeners: list[Callable[[BaseException | None], None]] = []
        raw.add_on_close_callback(self._on_closed)

    @property
    def is_open(self) -> bool:
        """True while operations may be sent."""
        return bool(self.raw.is_open)

    def add_close_listener(self, listener: Callable[[BaseException | None], None]) -> None:
        """Call ``listener(reason)`` once when the channel closes."""
        if self.raw.is_closed:
            listener(self.close_reason)
        else:
            self._listeners.append(listener)

    async def call(self, start: Callable[[Callable[[Any], None]], object]) -> Any:
        """Run ``start(on_done)`` and wait for pika to call ``on_done(frame)``.

        Raises :class:`ChannelLost` if the channel is closed already or closes
        before the reply comes.
        """
        if not self.raw.is_open:
            raise ChannelLost(self.close_reason)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            start(lambda frame: _settle(done, frame))
        except pika.exceptions.AMQPError as exc:
            raise ChannelLost(exc) from None
        self.waiters.add(done)
        try:
            return await done
        finally:
            self.waiters.discard(done)

    async def exchange_declare(
        self, exchange: str, exchange_type: str, *, durable: bool = True, passive: bool = False
    ) -> None:
        """Declare an exchange (idempotent for identical arguments)."""
        await self.call(
            lambda cb: self.raw.exchange_declare(
                exchange, exchange_type, passive=passive, durable=durable, callback=cb
            )
        )

    async def queue_declare(
        self,
        queue: str,
        *,
        durable: bool = True,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
        passive: bool = False,
    ) -> Any:
        """Declare a queue; returns pika's reply frame, whose ``.method`` holds the
        queue's name, ``message_count`` and ``consumer_count``."""
        return await self.call(
            lambda cb: self.raw.queue_declare(
                queue,
                passive=passive,
                durable=durable,
                exclusive=exclusive,
                auto_delete=auto_delete,
                arguments=arguments,
                callback=cb,
            )
        )

    async def queue_bind(self, queue: str, exchange: str, routing_key: str | None = None) -> None:
        """Bind a queue to an exchange."""
        await self.call(lambda cb: self.raw.queue_bind(queue, exchange, routing_key, callback=cb))

    async def queue_purge(self, queue: str) -> int:
        """Drop a queue's ready messages; returns how many."""
        frame = await self.call(lambda cb: self.raw.queue_purge(queue, callback=cb))
        return int(frame.method.message_count)

    async def queue_delete(self, queue: str) -> None:
        """Delete a queue with its messages."""
        await self.call(lambda cb: self.raw.queue_delete(queue, callback=cb))

    async def exchange_delete(self, exchange: str) -> None:
        """Delete an exchange."""
        await self.call(lambda cb: self.raw.exchange_delete(exchange, callback=cb))

    async def basic_qos(self, prefetch_count: int, *, global_qos: bool = False) -> None:
        """Limit unacked deliveries per consumer started after this call, or (``global_qos``)
        for the whole channel, at once (RabbitMQ's meaning of the flag)."""
        await self.call(
            lambda cb: self.raw.basic_qos(
                prefetch_count=prefetch_count, global_qos=global_qos, callback=cb
            )
        )

    async def confirm_delivery(self, on_confirm: Callable[[Any], None]) -> None:
        """Put the channel in confirm mode; ``on_confirm(frame)`` gets every ack and nack."""
        await self.call(lambda cb: self.raw.confirm_delivery(on_confirm, callback=cb))

    async def basic_consume(
        self, queue: str, on_message: OnMessage, *, auto_ack: bool = False
    ) -> str:
        """Start a consumer; returns its tag once the broker confirmed it."""
        tag: list[str] = []

        def start(cb: Callable[[Any], None]) -> None:
            tag.append(self.raw.basic_consume(queue, on_message, auto_ack=auto_ack, callback=cb))

        await self.call(start)
        return tag[0]

    async def basic_get(self, queue: str) -> tuple[Basic.GetOk, BasicProperties, bytes] | None:
        """Take one message from ``queue`` (to be acked like a delivery); None when it has
        none ready."""

        def start(cb: Callable[[Any], None]) -> None:
            def on_empty(_frame: Any) -> None:
                cb(None)

            def on_message(
                _ch: Channel, method: Basic.GetOk, properties: BasicProperties, body: bytes
            ) -> None:
                self.raw.callbacks.remove(self.raw.channel_number, Basic.GetEmpty, on_empty)
                cb((method, properties, body))

            self.raw.add_callback(on_empty, [Basic.GetEmpty], one_shot=True)
            self.raw.basic_get(queue, on_message)

        result: tuple[Basic.GetOk, BasicProperties, bytes] | None = await self.call(start)
        return result

    async def basic_cancel(self, consumer_tag: str) -> None:
        """Stop a consumer; returns once the broker sends no more for it."""
        if consumer_tag not in self.raw.consumer_tags:
            return  # cancelled already (by us or by the broker): pika would never answer
        await self.call(lambda cb: self.raw.basic_cancel(consumer_tag, callback=cb))

    async def close(self) -> None:
        """Close the channel if it is open; never raises."""
        if self.raw.is_open:
            closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.add_close_listener(lambda _reason: _settle(closed, None))
            try:
                self.raw.close()
            except pika.exceptions.AMQPError:
                return
            await asyncio.shield(closed)

    def _on_closed(self, _channel: Channel, reason: BaseException) -> None:
        self.close_reason = reason
        waiters = list(self.waiters)
        self.waiters.clear()
        for waiter in waiters:
            _settle(waiter, reason)
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            try:
                listener(reason)
            except Exception:  # one owner's bug must not stop the others hearing of it
                log.exception("channel close listener %r failed", listener)
