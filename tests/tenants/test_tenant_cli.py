"""``queueconsole tenant …``, ``submit --tenant`` and ``jobs --tenant``, run in-process."""

import json


def test_tenant_commands_round_trip(qc):
    code, out, err = qc(
        "tenant", "add", "acme", "--max-waiting", "10", "--max-running", "4", "--weight", "3"
    )
    assert (code, err) == (0, "")
    assert "tenant acme added: max-waiting 10, max-running 4, weight 3" in out
    code, out, _ = qc("tenant", "set", "acme", "--max-running", "none")
    assert code == 0 and "max-running -, weight 3" in out
    code, out, _ = qc("tenant", "list", "--json")
    listed = {t["name"]: t for t in json.loads(out)}
    assert listed["acme"] == {
        "name": "acme",
        "max_waiting": 10,
        "max_running": None,
        "weight": 3.0,
        "waiting": 0,
        "running": 0,
    }
    code, out, _ = qc("tenant", "list")
    assert code == 0 and "acme" in out and "default" in out
    code, out, _ = qc("tenant", "remove", "acme")
    assert (code, out.strip()) == (0, "tenant acme removed")


def test_submit_and_list_by_tenant(qc):
    assert qc("tenant", "add", "acme")[0] == 0
    code, out, _ = qc("submit", "demo.noop", "--tenant", "acme", "--json")
    assert code == 0
    mine = json.loads(out)["id"]
    assert qc("submit", "demo.noop")[0] == 0
    code, out, _ = qc("jobs", "--tenant", "acme", "--json")
    listed = json.loads(out)
    assert [(j["id"], j["tenant"]) for j in listed] == [(mine, "acme")]
    code, out, _ = qc("job", str(mine))
    assert "tenant" in out and "acme" in out


def test_bad_input_is_one_clear_line(qc):
    code, _, err = qc("submit", "demo.noop", "--tenant", "ghost")
    assert code != 0
    assert err.strip().count("\n") == 0
    assert "tenant 'ghost' does not exist" in err
    code, _, err = qc("tenant", "add", "x", "--weight", "-1")
    assert code != 0 and "weight '-1' must be a positive number" in err
    assert "Traceback" not in err
    code, _, err = qc("tenant", "remove", "default")
    assert code != 0 and "cannot be removed" in err
    code, _, err = qc("tenant", "add", "bad name")
    assert code != 0 and "is not a tenant name" in err


def test_max_waiting_refusal_names_the_tenant_and_figure(qc):
    assert qc("tenant", "add", "small", "--max-waiting", "1")[0] == 0
    assert qc("submit", "demo.noop", "--tenant", "small")[0] == 0
    code, _, err = qc("submit", "demo.noop", "--tenant", "small")
    assert code != 0
    assert "tenant 'small' is at its waiting limit: 1 jobs waiting, limit 1" in err


def test_token_create_binds_a_tenant(qc):
    assert qc("tenant", "add", "acme")[0] == 0
    code, out, _ = qc(
        "token", "create", "acme-bot", "--scope", "read", "--tenant", "acme", "--json"
    )
    assert code == 0 and json.loads(out)["tenant"] == "acme"
    code, out, _ = qc("token", "list")
    assert "acme-bot" in out and "acme" in out
    code, _, err = qc("token", "create", "ghost-bot", "--scope", "read", "--tenant", "ghost")
    assert code != 0 and "tenant 'ghost' does not exist" in err


def test_status_names_tenants_once_there_are_some(qc):
    assert qc("submit", "demo.noop")[0] == 0
    code, out, _ = qc("status")
    assert code in (0, 1) and "tenants:" not in out
    assert qc("tenant", "add", "acme", "--max-running", "4")[0] == 0
    assert qc("submit", "demo.noop", "--tenant", "acme")[0] == 0
    code, out, _ = qc("status")
    assert "acme 1 waiting, 0/4 running" in out
    code, out, _ = qc("status", "--json")
    tenants = {t["name"]: t for t in json.loads(out)["tenants"]}
    assert (tenants["acme"]["waiting"], tenants["acme"]["max_running"]) == (1, 4)
