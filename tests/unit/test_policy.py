"""Pure supervision policy (restart intensity, backoff, circuit breaker), child specs and the config loader."""
from __future__ import annotations

import random

import pytest

from actors import messages as m
from config.errors import ConfigError
from config.loader import load_config
from supervision.childspec import ChildSpec
from supervision.policy import CLOSED, HALF_OPEN, OPEN, Backoff, CircuitBreaker, RestartIntensity
from supervision.tree import ROOT_NAME, SUBTREES, build_tree


# -- RestartIntensity -------------------------------------------------------------------------------------------

def test_intensity_allows_up_to_the_limit_within_the_period():
    ri = RestartIntensity(intensity=2, period=10.0)
    assert ri.record(100.0) is True
    assert ri.record(101.0) is True
    assert ri.count(101.0) == 2
    assert ri.record(102.0) is False          # the third within 10 s exceeds 2


def test_intensity_window_slides():
    ri = RestartIntensity(intensity=2, period=10.0)
    assert ri.record(0.0) and ri.record(5.0)
    assert ri.count(10.0) == 2                # exactly `period` old still counts
    assert ri.count(10.01) == 1               # older than the period is forgotten
    assert ri.record(11.0) is True            # 5.0 and 11.0 remain
    assert ri.record(14.0) is False           # 5.0, 11.0, 14.0 within 10 s
    assert ri.count(30.0) == 0


def test_intensity_zero_gives_up_at_the_first_restart():
    assert RestartIntensity(0, 60.0).record(1.0) is False


def test_intensity_spread_out_restarts_never_exceed():
    ri = RestartIntensity(intensity=1, period=5.0)
    assert all(ri.record(t * 6.0) for t in range(100))


# -- Backoff ----------------------------------------------------------------------------------------------------

class Extreme(random.Random):
    """uniform() always returns its upper (or lower) bound, to test the jitter bounds exactly."""

    def __init__(self, upper: bool):
        super().__init__(0)
        self.upper = upper

    def uniform(self, a, b):
        return b if self.upper else a


def test_backoff_grows_exponentially_then_caps_without_jitter():
    b = Backoff(0.1, 1.0, jitter=0.0)
    assert [round(b.next_delay(), 6) for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert b.failures == 7


@pytest.mark.parametrize("upper", [False, True])
def test_backoff_jitter_bounds(upper):
    b = Backoff(0.1, 1.0, jitter=0.2, rng=Extreme(upper))
    got = [b.next_delay() for _ in range(6)]
    want = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0] if not upper else [0.12, 0.24, 0.48, 0.96, 1.0, 1.0]
    assert got == pytest.approx(want)


def test_backoff_random_jitter_stays_in_bounds():
    b = Backoff(0.05, 5.0, jitter=0.2, rng=random.Random(1))
    for n in range(40):
        base = min(5.0, 0.05 * 2 ** n)
        d = b.next_delay()
        assert base <= d <= min(5.0, base * 1.2) + 1e-12, (n, d)


def test_backoff_reset_starts_again_at_minimum():
    b = Backoff(0.1, 1.0, jitter=0.0)
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert b.failures == 0
    assert b.next_delay() == pytest.approx(0.1)


def test_backoff_survives_a_very_long_crash_loop():
    # 2**1024 does not fit a float: the supervisor's exit handling must not blow up in a long crash loop
    b = Backoff(0.05, 5.0, jitter=0.2)
    for _ in range(3000):
        d = b.next_delay()
    assert 0.05 <= d <= 5.0


# -- CircuitBreaker ---------------------------------------------------------------------------------------------

def breaker(**kw):
    return CircuitBreaker(**{"threshold": 3, "period": 10.0, "cooldown": 5.0, "healthy_after": 2.0, **kw})


def test_breaker_closed_runs_primary_and_opens_after_threshold():
    cb = breaker()
    assert cb.state == CLOSED and cb.implementation(0.0) == "primary"
    assert cb.record_failure("primary", 1.0) is False
    assert cb.record_failure("primary", 2.0) is False
    assert cb.state == CLOSED
    assert cb.record_failure("primary", 3.0) is True      # this failure opened it
    assert cb.state == OPEN and cb.opened_at == 3.0
    assert cb.implementation(3.1) == "fallback"
    assert cb.implementation(7.99) == "fallback"


def test_breaker_failures_outside_the_period_do_not_open():
    cb = breaker()
    for t in (0.0, 11.0, 22.0, 33.0):
        assert cb.record_failure("primary", t) is False
    assert cb.state == CLOSED


def test_breaker_fallback_failures_do_not_count():
    cb = breaker()
    for t in range(3):
        cb.record_failure("primary", float(t))
    assert cb.state == OPEN
    assert cb.record_failure("fallback", 3.0) is False
    assert cb.state == OPEN and cb.opened_at == 2.0


def test_breaker_open_half_open_closed():
    cb = breaker()
    for t in range(3):
        cb.record_failure("primary", float(t))
    assert cb.implementation(6.99) == "fallback"
    assert cb.implementation(7.0) == "primary"             # cooldown (5 s) over: try the primary
    assert cb.state == HALF_OPEN
    # the fallback running does not close it; the primary must run healthy_after seconds
    assert cb.record_healthy("fallback", 7.0, 20.0) is False
    assert cb.record_healthy("primary", 7.0, 8.0) is False
    assert cb.state == HALF_OPEN
    assert cb.record_healthy("primary", 7.0, 9.0) is True
    assert cb.state == CLOSED
    assert cb.record_healthy("primary", 7.0, 10.0) is False   # already closed: reports once
    # closed again with a clean failure history: it takes `threshold` new failures to open
    assert cb.record_failure("primary", 10.0) is False
    assert cb.record_failure("primary", 10.5) is False
    assert cb.state == CLOSED


def test_breaker_half_open_failure_opens_again_with_a_new_cooldown():
    cb = breaker()
    for t in range(3):
        cb.record_failure("primary", float(t))
    assert cb.implementation(8.0) == "primary" and cb.state == HALF_OPEN
    assert cb.record_failure("primary", 8.5) is True      # a single failure while half-open
    assert cb.state == OPEN and cb.opened_at == 8.5
    assert cb.implementation(13.4) == "fallback"
    assert cb.implementation(13.5) == "primary" and cb.state == HALF_OPEN


def test_breaker_closed_never_half_opens():
    cb = breaker()
    assert cb.implementation(1000.0) == "primary" and cb.state == CLOSED
    assert cb.record_healthy("primary", 0.0, 1000.0) is False


# -- ChildSpec --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, key", [
    ({"name": ""}, "name"),
    ({"name": "a/b"}, "name"),
    ({"kind": "daemon"}, "kind"),
    ({"restart": "always"}, "restart"),
    ({"strategy": "one_for_all"}, "strategy"),
    ({"period": 0}, "period"),
    ({"backoff_min": -1}, "backoff_min"),
    ({"heartbeat_interval": "1"}, "heartbeat_interval"),
    ({"hang_timeout": 0}, "hang_timeout"),
    ({"start_timeout": 0}, "start_timeout"),
    ({"shutdown_timeout": -5}, "shutdown_timeout"),
    ({"breaker_period": 0}, "breaker_period"),
    ({"breaker_cooldown": 0}, "breaker_cooldown"),
    ({"backoff_min": 2.0, "backoff_max": 1.0}, "backoff_max"),
    ({"heartbeat_interval": 2.0, "hang_timeout": 2.0}, "hang_timeout"),
    ({"intensity": -1}, "intensity"),
    ({"intensity": 1.5}, "intensity"),
    ({"breaker_threshold": 0}, "breaker_threshold"),
])
def test_childspec_validation_names_the_key(kw, key):
    args = {"name": "w", "actor": "x.Y", **kw}
    with pytest.raises(ConfigError) as info:
        ChildSpec(**args)
    err = info.value
    assert err.key.endswith(f".{key}"), err.key
    assert err.key.startswith(f"child {args['name']!r}")
    assert key in str(err) and "allowed" in str(err)


def test_childspec_duplicate_children():
    a = ChildSpec(name="a", actor="x.Y")
    with pytest.raises(ConfigError, match="unique names") as info:
        ChildSpec(name="sup", actor="x.S", kind="supervisor", children=(a, a))
    assert info.value.key == "child 'sup'.children"


def test_childspec_unknown_key_in_dict():
    with pytest.raises(ConfigError) as info:
        ChildSpec.from_dict({"name": "w", "actor": "x.Y", "hang_timeut": 3})
    assert "hang_timeut" in str(info.value) and "'w'" in info.value.key


def _tree_spec() -> ChildSpec:
    leaf = ChildSpec(name="leaf", actor="a.B", hang_timeout=1.5, heartbeat_interval=0.25, fallback="a.C",
                     requires={"mt5": True}, options={"k": [1, 2], "n": {"x": "y"}})
    mid = ChildSpec(name="mid", actor="sup.S", kind="supervisor", strategy="rest_for_one", intensity=0,
                    children=(leaf, ChildSpec(name="other", actor="a.D", restart="transient")))
    return ChildSpec(name="root", actor="sup.R", kind="supervisor", children=(mid,))


def test_childspec_dict_round_trip_nested():
    spec = _tree_spec()
    d = spec.to_dict()
    assert isinstance(d["children"], list) and isinstance(d["children"][0]["children"][0], dict)
    back = ChildSpec.from_dict(d)
    assert back == spec
    assert isinstance(back.children, tuple) and isinstance(back.children[0].children, tuple)


def test_childspec_survives_the_init_message():
    spec = _tree_spec()
    init = m.decode(m.encode(m.Init(name="root", path="root", spec=spec.to_dict(), config={})))
    assert ChildSpec.from_dict(init.spec) == spec


# -- config loader ----------------------------------------------------------------------------------------------

def write(tmp_path, text: str):
    p = tmp_path / "user.toml"
    p.write_text(text)
    return p


def test_defaults_load_and_build_the_tree():
    cfg = load_config(env={})
    assert cfg["system"]["admin_port"] == 19500
    tree = build_tree(cfg)
    assert tree.name == ROOT_NAME and [c.name for c in tree.children] == list(SUBTREES)


def test_unknown_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[system]\nadmin_prot = 1\n"), env={})
    assert info.value.key == "system.admin_prot"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[nonsense]\nx = 1\n"), env={})
    assert info.value.key == "nonsense"


@pytest.mark.parametrize("text, key", [
    ('[system]\nadmin_port = "19500"\n', "system.admin_port"),
    ("[system]\nadmin_port = 1.5\n", "system.admin_port"),
    ("[system]\nadmin_port = true\n", "system.admin_port"),
    ("[watchdog]\nping_interval = \"1\"\n", "watchdog.ping_interval"),
    ("[logging]\nlevel = 3\n", "logging.level"),
    ('[logging]\ndirect = "yes"\n', "logging.direct"),
    ("system = 5\n", "system"),
])
def test_wrong_type(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert info.value.key == key


def test_int_is_accepted_for_a_float(tmp_path):
    cfg = load_config(write(tmp_path, "[watchdog]\nping_interval = 2\n"), env={})
    assert cfg["watchdog"]["ping_interval"] == 2.0 and isinstance(cfg["watchdog"]["ping_interval"], float)


@pytest.mark.parametrize("text, key", [
    ("[system]\nadmin_port = 0\n", "system.admin_port"),
    ("[system]\nadmin_port = 65536\n", "system.admin_port"),
    ("[webhook]\nport = -1\n", "webhook.port"),
    ('[system]\nmode = "cluster"\n', "system.mode"),
    ('[logging]\nlevel = "LOUD"\n', "logging.level"),
    ("[logging]\nrotate_check_seconds = 0\n", "logging.rotate_check_seconds"),
    ("[logging]\nmax_bytes = -1\n", "logging.max_bytes"),
    ("[logging]\nbackups = -1\n", "logging.backups"),
    ("[watchdog]\nping_timeout = 0\n", "watchdog.ping_timeout"),
    ("[watchdog]\nmax_missed = 0\n", "watchdog.max_missed"),
    ('[[supervision.extra]]\nparent = "ops"\nname = "w"\n', "supervision.extra[0].actor"),
])
def test_invalid_values(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert info.value.key == key
    assert key in str(info.value) and "allowed" in str(info.value)


def test_invalid_max_restarts_names_its_own_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[watchdog]\nmax_restarts = -1\n"), env={})
    assert info.value.key == "watchdog.max_restarts"


def test_env_overrides(tmp_path):
    env = {"ZEPIX_ADMIN_PORT": "19999", "ZEPIX_WEBHOOK_PORT": "8443", "ZEPIX_WEBHOOK_HOST": "0.0.0.0",
           "ZEPIX_WEBHOOK_TOKEN": "s3cret", "ZEPIX_DATA_DIR": str(tmp_path / "d")}
    cfg = load_config(write(tmp_path, "[system]\nadmin_port = 19600\n"), env=env)
    assert cfg["system"]["admin_port"] == 19999          # env beats the file
    assert cfg["webhook"]["port"] == 8443 and cfg["webhook"]["host"] == "0.0.0.0"
    assert cfg["webhook"]["token"] == "s3cret"
    assert cfg["system"]["data_dir"] == str((tmp_path / "d").resolve())


def test_empty_env_var_is_ignored():
    assert load_config(env={"ZEPIX_ADMIN_PORT": ""})["system"]["admin_port"] == 19500


def test_config_file_from_env(tmp_path):
    cfg = load_config(env={"ZEPIX_CONFIG": str(write(tmp_path, "[system]\nadmin_port = 19601\n"))})
    assert cfg["system"]["admin_port"] == 19601


@pytest.mark.parametrize("var, value, key", [
    ("ZEPIX_ADMIN_PORT", "abc", "system.admin_port (from ZEPIX_ADMIN_PORT)"),
    ("ZEPIX_ADMIN_PORT", "99999", "system.admin_port"),
    ("ZEPIX_ADMIN_PORT", "0", "system.admin_port"),
    ("ZEPIX_WEBHOOK_PORT", "8080.5", "webhook.port (from ZEPIX_WEBHOOK_PORT)"),
    ("ZEPIX_WEBHOOK_PORT", "70000", "webhook.port"),
])
def test_invalid_env_override(var, value, key):
    with pytest.raises(ConfigError) as info:
        load_config(env={var: value})
    assert info.value.key == key
    assert repr(value if "from" in key else int(value)) in str(info.value)


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", env={})
    assert info.value.key == "--config"
    with pytest.raises(ConfigError, match="valid TOML") as info:
        load_config(write(tmp_path, "[system\n"), env={})


def test_extra_workers_and_subtree_overrides_reach_the_spec(tmp_path):
    cfg = load_config(write(tmp_path, '[supervision.subtrees.ops]\nintensity = 2\nperiod = 30.0\n'
                                      '[[supervision.extra]]\nparent = "ops"\nname = "w1"\n'
                                      'actor = "tests.support.actors.Worker"\nhang_timeout = 1.5\n'
                                      'heartbeat_interval = 0.25\nfallback = "tests.support.actors.Fallback"\n'), env={})
    ops = next(c for c in build_tree(cfg).children if c.name == "ops")
    assert ops.intensity == 2 and ops.period == 30.0
    w1 = ops.children[-1]   # ops (issue 8): after the subtree's own children
    assert w1.name == "w1"
    assert (w1.hang_timeout, w1.heartbeat_interval, w1.intensity, w1.fallback) == \
        (1.5, 0.25, 2, "tests.support.actors.Fallback")


def test_bad_extra_entries_name_the_key(tmp_path):
    cfg = load_config(write(tmp_path, '[[supervision.extra]]\nparent = "nowhere"\nname = "w"\nactor = "a.B"\n'),
                      env={})
    with pytest.raises(ConfigError) as info:
        build_tree(cfg)
    assert info.value.key == "supervision.extra[0].parent"
    cfg = load_config(write(tmp_path, '[[supervision.extra]]\nparent = "ops"\nname = "w"\nactor = "a.B"\n'
                                      'hang_timeout = 0.5\n'), env={})
    with pytest.raises(ConfigError) as info:
        build_tree(cfg)
    assert info.value.key == "child 'w'.hang_timeout"
