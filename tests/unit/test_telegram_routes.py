"""Every Telegram command route is answered by its owner: the verb a route sends is one the owner actor's
on_command knows (read from the owner's source, so a renamed or removed verb fails here, not in the trader's chat).
"""
import ast
from pathlib import Path

import pytest

from config.loader import defaults
from gateways.telegram import commands as c

ROOT = Path(__file__).resolve().parents[2]
OWNERS = {   # actor path -> the module of the actor running there (supervision/subtrees/*.py)
    "trading/risk": "actors/risk.py",
    "trading/positions": "actors/positions.py",
    "trading/combined_v3": "actors/plugin.py",
    "trading/legacy_v4": "actors/plugin.py",
    "ops/health": "actors/health.py",
    "ops/config": "actors/config_watcher.py",
    "ops/dbsync": "actors/dbsync.py",
    "broker/gateway": "actors/gateway.py",
    "telegram/notifier": "actors/notifier.py",
}
HANDLERS = {"on_command", "_command"}   # positions.py dispatches on_command -> _command


def _is_name(node) -> bool:
    return (isinstance(node, ast.Name) and node.id == "name") or \
        (isinstance(node, ast.Attribute) and node.attr == "name" and isinstance(node.value, ast.Name)
         and node.value.id == "msg")


def verbs_of(module: str) -> set[str]:
    """String constants compared with the command name (``name == "x"``, ``msg.name in ("a", "b")``) inside the
    module's on_command handlers."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    found: set[str] = set()
    for fn in ast.walk(tree):
        if not (isinstance(fn, ast.FunctionDef) and fn.name in HANDLERS):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Compare) and _is_name(node.left):
                for comp in node.comparators:
                    elts = comp.elts if isinstance(comp, (ast.Tuple, ast.List, ast.Set)) else [comp]
                    found.update(e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return found


def test_the_verb_reader_sees_known_verbs():
    # guards the reader itself: if it found nothing, every route check below would be vacuous
    assert {"status", "pause", "resume", "clear_daily_loss"} <= verbs_of("actors/risk.py")
    assert {"chains", "stop_chain", "sessions"} <= verbs_of("actors/positions.py")
    assert {"enable", "disable", "shadow", "status"} <= verbs_of("actors/plugin.py")
    assert "health" in verbs_of("actors/health.py")
    assert "pause_everything" not in verbs_of("actors/risk.py")


@pytest.mark.parametrize("route", [r for r in c.ROUTES if r.target], ids=lambda r: r.command)
def test_route_verb_is_answered_by_its_owner(route):
    assert route.target in OWNERS, f"/{route.command}: no known actor module for {route.target}"
    verbs = verbs_of(OWNERS[route.target])
    assert route.verb in verbs, f"/{route.command} sends {route.verb!r} to {route.target}, which answers {verbs}"


def test_local_routes_have_handlers_and_plugin_verbs_exist():
    from actors.telegram_bot import TelegramBot
    for r in c.ROUTES:
        if not r.target:
            assert hasattr(TelegramBot, f"_local_{r.verb}"), f"/{r.command}: no TelegramBot._local_{r.verb}"
        if r.verb == "plugin":
            assert r.fixed["verb"] in verbs_of("actors/plugin.py")
        if r.verb == "unavailable":
            assert r.fixed["owner"] in OWNERS


def test_config_routes_name_existing_settings():
    cfg = defaults()
    for r in c.ROUTES:
        if r.target == "ops/config":
            node = cfg
            for part in r.fixed["key"].split("."):
                assert isinstance(node, dict) and part in node, f"/{r.command}: no setting {r.fixed['key']}"
                node = node[part]
            if r.verb == "set":
                # the typed value matches the setting's type (config/loader refuses a string for a number)
                sample = c.bind_args(r, [c.PRESETS[r.params[0].kind][0]])
                value = c.config_value(r, sample)["value"]
                assert type(value) is type(node) or (isinstance(node, float) and isinstance(value, int)), \
                    (r.command, value, node)
