"""``queueconsole token create | list | revoke``: the secret is shown once and stored only
as a hash; names and ids both revoke."""

from __future__ import annotations

import asyncio
import hashlib
import json

from sqlalchemy import text


async def test_create_shows_the_secret_once_and_stores_only_its_hash(qc, db):
    code, out, err = await asyncio.to_thread(
        qc, "token", "create", "ci", "--scope", "submit", "--json"
    )
    assert code == 0, err
    made = json.loads(out)
    assert made["name"] == "ci" and made["scope"] == "submit"
    secret = made["secret"]
    assert secret.startswith("qc_") and len(secret) > 40

    code, out, _ = await asyncio.to_thread(qc, "token", "list", "--json")
    listed = json.loads(out)
    assert [t["name"] for t in listed] == ["ci"]
    assert secret not in out and "secret" not in listed[0]

    async with db.connection() as conn:
        hashes = list((await conn.execute(text("SELECT token_hash FROM api_tokens"))).scalars())
    assert hashes == [hashlib.sha256(secret.encode()).hexdigest()]

    code, out, _ = await asyncio.to_thread(qc, "token", "create", "plain", "--scope", "read")
    assert code == 0 and "shown only now" in out
    assert out.strip().splitlines()[-1].startswith("qc_")


def test_names_are_unique_and_scopes_are_checked(qc):
    assert qc("token", "create", "a", "--scope", "read")[0] == 0
    code, _, err = qc("token", "create", "a", "--scope", "operate")
    assert code == 2 and "exists already" in err
    code, _, err = qc("token", "create", "b", "--scope", "admin")
    assert code == 2 and "admin" in err


def test_revoke_by_name_or_id(qc):
    qc("token", "create", "first", "--scope", "read")
    qc("token", "create", "second", "--scope", "read")
    code, out, _ = qc("token", "revoke", "first")
    assert code == 0 and "revoked" in out
    code, out, _ = qc("token", "revoke", "first")
    assert code == 0 and "already revoked" in out
    second_id = next(
        t["id"] for t in json.loads(qc("token", "list", "--json")[1]) if t["name"] == "second"
    )
    code, out, _ = qc("token", "revoke", str(second_id), "--json")
    assert code == 0 and json.loads(out)["name"] == "second" and json.loads(out)["changed"]
    code, _, err = qc("token", "revoke", "nobody")
    assert code == 2 and "nobody" in err
    code, out, _ = qc("token", "list")
    assert "first" in out and "second" in out
