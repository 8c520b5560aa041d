"""The command table and the inline menus (pure)."""
import pytest

from gateways.telegram import commands as c
from gateways.telegram import menus


def test_parse_and_bind():
    assert c.parse_command("/set_trend@zepix_bot XAUUSD 1h bullish") == ("set_trend", ["XAUUSD", "1h", "bullish"])
    assert c.parse_command("hello") is None
    assert c.parse_command("/session_report_SES12") == ("session_report", ["ses12"]) or \
        c.parse_command("/session_report_SES12")[0] == "session_report"
    r = c.BY_NAME["set_trend"]
    assert c.bind_args(r, ["xauusd", "1H", "bullish"]) == {"symbol": "XAUUSD", "tf": "1h", "trend": "BULLISH"}
    with pytest.raises(c.UsageError, match="usage: /set_trend"):
        c.bind_args(r, ["XAUUSD"])
    with pytest.raises(c.UsageError, match="trend must be one of"):
        c.bind_args(r, ["XAUUSD", "1h", "sideways"])
    assert c.bind_args(c.BY_NAME["set_cooldown"], ["120"]) == {"key": "positions.reentry.sl_hunt_cooldown_seconds",
                                                               "value": 120}
    assert c.bind_args(c.BY_NAME["logic2_off"], []) == {"key": "v3.logics_enabled.LOGIC2", "value": False}


def test_roles():
    pause, status = c.BY_NAME["pause"], c.BY_NAME["status"]
    assert c.may_run(pause, "admin") and not c.may_run(pause, "viewer") and not c.may_run(pause, None)
    assert c.may_run(status, "viewer") and not c.may_run(status, None)

    # an on|off|status command: a viewer may ask for the status, never switch
    for command in ("autonomous_mode", "simulation_mode"):
        route = c.BY_NAME[command]
        assert c.may_run(route, "viewer", c.bind_args(route, ["status"]))
        assert not c.may_run(route, "viewer", c.bind_args(route, ["on"]))
        assert not c.may_run(route, None, c.bind_args(route, ["status"]))


def test_every_button_fits_and_resolves():
    seen = 0
    for cat in c.CATEGORIES:
        page, pages = 0, 1
        while page < pages:
            s = menus.category(cat, page, "admin")
            pages = 1 + sum(1 for row in s.keyboard for b in row if b["text"].startswith("Next")) + page
            for row in s.keyboard:
                for b in row:
                    assert len(b["callback_data"].encode()) <= 64
                    res = menus.resolve(b["callback_data"], "admin")
                    assert isinstance(res, (menus.Screen, menus.Run))
                    seen += 1
            page += 1
    assert seen > 50


def test_picker_then_confirm_then_run():
    s = menus.resolve("r:set_trend", "admin")
    assert isinstance(s, menus.Screen) and "symbol" in s.text
    s = menus.resolve("r:set_trend|XAUUSD", "admin")
    assert "tf" in s.text
    run = menus.resolve("r:set_trend|XAUUSD|1h|BULLISH", "admin")
    assert isinstance(run, menus.Run) and run.args == {"symbol": "XAUUSD", "tf": "1h", "trend": "BULLISH"}
    ask = menus.resolve("r:disable|combined_v3", "admin")
    assert isinstance(ask, menus.Screen) and "Confirm" in ask.text
    assert ask.keyboard[0][0]["callback_data"] == "y:disable|combined_v3"
    run = menus.resolve("y:disable|combined_v3", "admin")
    assert isinstance(run, menus.Run) and run.args == {"verb": "disable", "plugin": "combined_v3"}
    # symbol picker has more than one page
    p2 = menus.resolve("q:1:set_trend", "admin")
    assert "XAUUSD" not in str(p2.keyboard) and "AUDJPY" in str(p2.keyboard)
