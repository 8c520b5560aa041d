"""Broker interface values: comment limit, volume rounding, pip values, retcode classes, lazy MT5 imports."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal as D

import pytest

from gateways.broker.interface import (
    MAX_COMMENT_LEN, Broker, InvalidRequest, OrderTag, RetcodeClass,
)
from gateways.broker.paper import PaperBroker
from gateways.broker.symbols import DEFAULT_SYMBOLS, guess_pip_size


def test_comment_longer_than_31_is_refused_and_fit_truncates():
    assert MAX_COMMENT_LEN == 31
    OrderTag("i", 1, "x" * 31)
    with pytest.raises(InvalidRequest, match="32 characters"):
        OrderTag("i", 1, "x" * 32)
    assert OrderTag.fit("i", 1, "abcdefghij" * 4).comment == "abcdefghij" * 3 + "a"


@pytest.mark.parametrize("bad", [dict(intent_id="", magic=1), dict(intent_id="i", magic=-1),
                                 dict(intent_id="i", magic=True)])
def test_tag_needs_intent_and_magic(bad):
    with pytest.raises(InvalidRequest):
        OrderTag(**bad)


def test_volume_rounds_down_to_step_and_reports_limits():
    eur = DEFAULT_SYMBOLS["EURUSD"].info()
    assert eur.round_volume(D("0.119")) == D("0.11")
    assert eur.round_volume("0.1") == D("0.10")
    assert eur.round_volume(0.29) == D("0.29")  # float 0.29 must not become 0.28
    assert eur.check_volume(D("0.25")) == (D("0.25"), None)
    vol, why = eur.check_volume(D("0.004"))
    assert vol == D("0.00") and "below the minimum 0.01" in why
    vol, why = DEFAULT_SYMBOLS["XAUUSD"].info().check_volume(D("2.5"))
    assert vol == D("2.50") and "above the maximum 2" in why


def test_pip_values_come_from_the_symbol_table_not_ten_dollars():
    assert DEFAULT_SYMBOLS["XAUUSD"].info().pip_value_per_lot == D("1.0")
    assert DEFAULT_SYMBOLS["EURUSD"].info().pip_value_per_lot == D("10.0")
    assert DEFAULT_SYMBOLS["USDJPY"].info().pip_value_per_lot == D("9.1")
    assert DEFAULT_SYMBOLS["XAUUSD"].info().tick_size == D("0.01")


def test_pip_size_guess_for_broker_symbols():
    assert guess_pip_size("GOLD", 2, D("0.01")) == D("0.01")
    assert guess_pip_size("GOLD", 3, D("0.001")) == D("0.010")
    assert guess_pip_size("EURGBP", 5, D("0.00001")) == D("0.00010")
    assert guess_pip_size("EURGBP", 5, D("0.00001"), {"EURGBP": D("0.0001")}) == D("0.0001")
    assert guess_pip_size("USDJPY", 3, D("0.001")) == D("0.01")


def test_retryable_classes():
    assert {c for c in RetcodeClass if c.retryable} == {
        RetcodeClass.REQUOTE, RetcodeClass.PRICE_CHANGED, RetcodeClass.TOO_MANY_REQUESTS, RetcodeClass.CONNECTION}


def test_paper_broker_satisfies_the_protocol():
    assert isinstance(PaperBroker(), Broker)


def test_importing_the_mt5_adapters_imports_no_client_package():
    code = ("import sys, gateways.broker, gateways.broker.mt5, gateways.broker.mt5linux; "
            "print(sorted(m for m in ('MetaTrader5', 'mt5linux', 'rpyc') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "[]"
