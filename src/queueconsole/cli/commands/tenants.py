"""``queueconsole tenant add | list | set | remove``: who shares the installation.

Each tenant has a waiting limit (``--max-waiting``: a submission past it is
refused, nothing written), a running limit (``--max-running``: at most N of its
jobs run at once on every worker of every host) and a ``--weight`` (its share
of a queue it shares with other tenants, relative to theirs).
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.config import Settings
from engine.runtime.wiring import open_client
from engine.tenants.settings import UNSET, TenantInfo
from queueconsole.cli.output import print_json, table


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the tenant commands."""
    p = sub.add_parser(
        "tenant",
        parents=parents,
        help="tenants: add, list, set, remove (limits and fair-share weight)",
        description=(
            "Tenants share one installation: each job belongs to one (submit --tenant). "
            "A tenant may have a waiting limit, a running limit and a weight."
        ),
    )
    verbs = p.add_subparsers(dest="tenant_command", metavar="ACTION", parser_class=type(p))
    verbs.required = True

    for verb, help_text in (
        ("add", "add a tenant"),
        ("set", "change a tenant's limits or weight (the others stay)"),
    ):
        a = verbs.add_parser(verb, parents=parents, help=help_text)
        a.add_argument("name", metavar="T")
        default = None if verb == "add" else UNSET
        a.add_argument(
            "--max-waiting",
            metavar="N|none",
            default=default,
            help="refuse submissions once N of its jobs wait ('none' lifts it)",
        )
        a.add_argument(
            "--max-running",
            metavar="N|none",
            default=default,
            help="run at most N of its jobs at once, on every worker ('none' lifts it)",
        )
        a.add_argument(
            "--weight",
            metavar="W",
            default="1" if verb == "add" else UNSET,
            help="its share of a shared queue, relative to other tenants' (1)",
        )
        a.add_argument("--json", action="store_true", help="print JSON")
        a.set_defaults(handler=run_tenant_add if verb == "add" else run_tenant_set)

    a = verbs.add_parser("list", parents=parents, help="every tenant: limits, weight, jobs")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_tenant_list)

    a = verbs.add_parser("remove", parents=parents, help="remove a tenant with no live job")
    a.add_argument("name", metavar="T")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_tenant_remove)


def _limit(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _print_one(tenant: TenantInfo, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(tenant.to_json())
        return
    print(
        f"tenant {tenant.name} {verb}: max-waiting {_limit(tenant.max_waiting)}, "
        f"max-running {_limit(tenant.max_running)}, weight {tenant.weight:g}"
    )


async def run_tenant_add(args: argparse.Namespace, settings: Settings) -> int:
    """Add a tenant."""
    async with open_client(settings) as client:
        tenant = await client.add_tenant(
            args.name,
            max_waiting=args.max_waiting,
            max_running=args.max_running,
            weight=args.weight,
        )
    _print_one(tenant, "added", args.json)
    return 0


async def run_tenant_set(args: argparse.Namespace, settings: Settings) -> int:
    """Change a tenant's settings."""
    async with open_client(settings) as client:
        tenant = await client.set_tenant(
            args.name,
            max_waiting=args.max_waiting,
            max_running=args.max_running,
            weight=args.weight,
        )
    _print_one(tenant, "changed", args.json)
    return 0


async def run_tenant_list(args: argparse.Namespace, settings: Settings) -> int:
    """List tenants."""
    async with open_client(settings) as client:
        tenants = await client.tenants()
    if args.json:
        print_json([t.to_json() for t in tenants])
        return 0
    table(
        ["tenant", "weight", "waiting", "max-waiting", "running", "max-running"],
        [
            [
                t.name,
                f"{t.weight:g}",
                f"{t.waiting:,}",
                _limit(t.max_waiting),
                f"{t.running:,}",
                _limit(t.max_running),
            ]
            for t in tenants
        ],
    )
    return 0


async def run_tenant_remove(args: argparse.Namespace, settings: Settings) -> int:
    """Remove a tenant."""
    async with open_client(settings) as client:
        await client.remove_tenant(args.name)
    if args.json:
        print_json({"name": args.name, "removed": True})
    else:
        print(f"tenant {args.name} removed")
    return 0
