"""Pure pieces of the broker layer: message decoding, ack planning, connection parameters."""

from __future__ import annotations

import ssl

import pytest

from engine.broker.acks import AckPlan, plan_acks
from engine.broker.connection import connection_parameters
from engine.broker.messages import Delivery, Garbage, decode, work_body
from engine.config import Settings
from engine.errors import ConfigError


def test_a_work_message_round_trips():
    body = work_body(123, 4)
    assert body == b'{"id":123,"attempt":4}'
    assert decode(body, 7, True, "q") == Delivery(123, 4, 7, True, "q")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"null",
        b'"text"',
        b'{"id": 1.5, "attempt": 1}',
        b'{"id": 0, "attempt": 1}',
        b'{"attempt": 1}',
        b'{"id": 1, "attempt": "1"}',
        b"[" * 100_000,
        b"\x80abc",
    ],
)
def test_anything_else_is_garbage_and_never_raises(body: bytes):
    result = decode(body, 1, False, "q")
    assert isinstance(result, Garbage)
    assert result.reason
    assert len(result.excerpt) <= 120


def test_extra_fields_are_tolerated_for_forward_compatibility():
    assert decode(b'{"id": 5, "attempt": 0, "trace": "x"}', 1, False, "q") == Delivery(
        5, 0, 1, False, "q"
    )


def test_contiguous_acks_collapse_into_one_multiple_ack():
    assert plan_acks([1, 2, 3], {1, 2, 3}) == AckPlan(3, ())
    assert plan_acks([3, 1, 2], {1, 2, 3, 4}) == AckPlan(3, ())


def test_a_multiple_ack_never_covers_a_tag_still_in_use():
    # 2 is still being worked on by another batch: only 1 may be covered by multiple.
    assert plan_acks([1, 3, 4], {1, 2, 3, 4}) == AckPlan(None, (1, 3, 4))
    assert plan_acks([1, 2, 4], {1, 2, 3, 4}) == AckPlan(2, (4,))


def test_tags_already_acked_or_unknown_are_dropped():
    assert plan_acks([1, 9], {2, 3}) == AckPlan(None, ())
    assert plan_acks([2, 2], {2, 3}) == AckPlan(None, (2,))


def test_amqps_verifies_the_server_by_its_host_name():
    settings = Settings(amqp_url="amqps://u:p@rabbit.example.com/vh")
    params = connection_parameters(settings, "n")
    assert params.ssl_options is not None
    assert params.ssl_options.server_hostname == "rabbit.example.com"
    assert params.ssl_options.context.verify_mode == ssl.CERT_REQUIRED
    assert params.port == 5671
    assert params.virtual_host == "vh"
    assert params.client_properties == {"connection_name": "n"}


def test_amqps_accepts_rabbitmq_style_tls_options():
    settings = Settings(
        amqp_url="amqps://rabbit.example.com/?verify=verify_none&server_name_indication=alias"
        "&heartbeat=30"
    )
    params = connection_parameters(settings, "n")
    assert params.ssl_options.context.verify_mode == ssl.CERT_NONE
    assert params.ssl_options.server_hostname == "alias"
    assert params.heartbeat == 30


def test_plain_amqp_has_no_tls_and_a_short_connect_timeout():
    params = connection_parameters(Settings(), "n")
    assert params.ssl_options is None
    assert params.socket_timeout == params.stack_timeout == 5.0


def test_an_unusable_url_is_a_config_error_without_the_password():
    with pytest.raises(ConfigError) as bad:
        connection_parameters(Settings(amqp_url="amqp://u:secret@h/?bogus=1"), "n")
    assert "secret" not in str(bad.value)
