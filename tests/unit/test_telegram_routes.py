"""Every Telegram command route is answered by its owner: the verb a route sends is one the owner actor's
on_command knows (read from the owner's source, so a renamed or removed verb fails here, not in the trader's chat).
"""
import ast
from pathlib import Path

import pytest

from decimal import Decimal, InvalidOperation

from actors.config_checks import check, effective
from config.toml_edit import lookup
from config.loader import defaults, load_config
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
        assert r.verb != "unavailable", f"/{r.command} has no owner"


def _sample_args(r):
    """Bind every parameter to its first preset (or a typical value), as a menu press would."""
    typical = {"symbol": "XAUUSD", "text": "x"}
    raw = [(c.PRESETS.get(p.kind) or (typical.get(p.kind, "1"),))[0] for p in r.params if not p.optional]
    if r.verb == "switch":
        raw = ["on"]
    return c.bind_args(r, raw)


def _keys_of(r, sent: dict) -> list[tuple[str, object]]:
    """(key, value or ...) for every setting an ops/config route reads or writes."""
    if "changes" in sent:
        return [(k, v) for k, v in sent["changes"]]
    keys = sent.get("keys") or [sent["key"]]
    value = sent.get("value", ...) if r.verb == "set" else (True if r.verb == "switch" else ...)
    return [(k, value) for k in keys]


def _same_type(value, default) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, str):
        try:       # the free-form readers show numbers as strings ("100"), so nothing is rounded
            Decimal(default)
            return isinstance(value, (int, float, str))
        except InvalidOperation:
            return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list) and all(_same_type(v, default[0]) for v in value) if default else True
    return type(value) is type(default)


@pytest.mark.parametrize("route", [r for r in c.ROUTES if r.target == "ops/config"], ids=lambda r: r.command)
def test_config_routes_name_existing_settings(route):
    """Every key a route sends exists in the effective defaults (code defaults of [risk] and [v3] included), or
    is a new entry of a table keyed by the argument (a symbol's SL reduction, a tier's manual lot); every value a
    route writes has the setting's type."""
    eff = effective(load_config(env={}))
    sent = c.config_value(route, _sample_args(route))
    for key, value in _keys_of(route, sent):
        try:
            default = lookup(eff, key)
        except KeyError:
            parent = lookup(eff, key.rsplit(".", 1)[0])     # KeyError here: the route names no setting
            assert isinstance(parent, dict), (route.command, key)
            templates = [k for k, _ in route.fixed.get("changes", ())] + list(route.fixed.get("keys", ())) + \
                [route.fixed.get("key", "")]
            assert route.verb in ("set", "reset") and any("{" in t for t in templates), (route.command, key)
            continue
        if value is not ...:
            assert _same_type(value, default), (route.command, key, value, default)
        if route.verb in ("toggle", "switch"):
            assert isinstance(default, bool), (route.command, key, default)


def test_config_routes_that_write_refuse_nothing_valid():
    """The sample value of every writing ops/config route passes the same checks ops/config runs."""
    from config.toml_edit import remove_key, set_key
    for r in c.ROUTES:
        if r.target != "ops/config" or r.verb in ("get", "toggle"):
            continue
        sent = c.config_value(r, _sample_args(r))
        text = ""
        if r.verb == "reset":
            for k in sent["keys"]:
                text = remove_key(text, k)
        else:
            for k, v in _keys_of(r, sent):
                text = set_key(text, k, v)
        cfg = defaults()
        import tomllib
        from config.loader import _merge
        _merge(cfg, tomllib.loads(text), "")
        check(cfg)


def test_list_arguments_take_presets_or_numbers():
    r = c.BY_NAME["set_profit_targets"]
    assert c.config_value(r, c.bind_args(r, ["5,10", "20", "40", "80"]))["value"] == [5, 10, 20, 40, 80]
    assert c.config_value(r, c.bind_args(r, ["aggressive"]))["value"] == [20, 40, 80, 160, 320]
    with pytest.raises(c.UsageError, match="'x' is not a number"):
        c.bind_args(r, ["10", "x"])


def test_templated_keys_and_typed_values():
    r = c.BY_NAME["set_symbol_sl"]
    assert c.config_value(r, c.bind_args(r, ["xauusd", "25"])) == {"key": "risk.stops.symbol_reductions.XAUUSD",
                                                                  "value": 25}
    r = c.BY_NAME["switch_tier"]
    assert c.config_value(r, c.bind_args(r, ["10000"])) == {"key": "risk.tier", "value": "10000"}
    r = c.BY_NAME["sl_system_change"]
    assert c.config_value(r, c.bind_args(r, ["sl-2"])) == {"changes": [["risk.stops.active_system", "sl-2"],
                                                                       ["positions.sl_system", "sl-2"]]}


def test_routes_that_go_through_ops_config_wait_for_the_apply():
    for r in c.ROUTES:
        through_config = (r.target == "ops/config" and r.verb != "get") or (r.target == "trading/risk" and r.write
                                                                            and r.verb == "set_cap")
        assert r.applies is through_config, r.command
