"""Every key the console binds is in the README's key table (``### Keys``)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

from textual.binding import Binding

import queueconsole.console

README = Path(__file__).resolve().parents[2] / "README.md"


SHOWN_AS = {
    "plus": "+",
    "minus": "-",
    "colon": ":",
    "question_mark": "?",
    "slash": "/",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "escape": "esc",
}


def table_keys() -> set[str]:
    """Every `key` in the key column of the README's ``### Keys`` table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Keys", 1)[1].split("\n### ", 1)[0]
    keys: set[str] = set()
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) >= 4:
            keys.update(re.findall(r"`([^`]+)`", cells[2]))
    return keys


def bound_classes() -> list[type]:
    """Every class of the console's package that declares key bindings of its own."""
    found = []
    package = queueconsole.console
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and cls.__dict__.get("BINDINGS"):
                found.append(cls)
    return found


def test_every_binding_is_in_the_readme_key_table():
    documented = table_keys()
    owners = bound_classes()
    assert len(owners) >= 10  # the app, panes, screens and widgets were all found
    missing = []
    for owner in owners:
        for binding in owner.__dict__["BINDINGS"]:
            assert isinstance(binding, Binding)
            for key in binding.key.split(","):
                if SHOWN_AS.get(key, key) not in documented:
                    missing.append(f"{owner.__name__}: {key} ({binding.description})")
    assert not missing, "keys missing from the README's key table: " + "; ".join(missing)
