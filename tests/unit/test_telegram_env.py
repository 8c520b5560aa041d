"""Telegram environment variables: role fallback, allow-lists, validation with redacted secrets."""
from __future__ import annotations

import pytest

from config.errors import ConfigError
from gateways.telegram.env import TelegramEnv

TOK_A = "1111111:AAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
TOK_B = "2222222:BBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"


def test_no_token_means_telegram_off():
    assert TelegramEnv.from_environ({}) is None
    assert TelegramEnv.from_environ({"ZEPIX_TELEGRAM_CHAT_ID": "5"}) is None


def test_single_token_plays_every_role():
    env = TelegramEnv.from_environ({"ZEPIX_TELEGRAM_TOKEN": TOK_A, "ZEPIX_TELEGRAM_CHAT_ID": "123",
                                    "ZEPIX_TELEGRAM_ADMIN_IDS": "10, 11", "ZEPIX_TELEGRAM_VIEWER_IDS": "11,12"})
    assert dict(env.tokens) == {"controller": TOK_A, "notification": TOK_A, "analytics": TOK_A}
    assert env.bots() == {TOK_A: ("controller", "notification", "analytics")}
    assert env.chat_id == 123 and env.base_url is None
    assert env.role_of(10) == "admin" and env.role_of(11) == "admin" and env.role_of(12) == "viewer"
    assert env.role_of(99) is None


def test_role_tokens_fall_back_to_main_then_to_another_bot():
    env = TelegramEnv.from_environ({"ZEPIX_TELEGRAM_NOTIFICATION_TOKEN": TOK_B, "ZEPIX_TELEGRAM_TOKEN": TOK_A,
                                    "ZEPIX_TELEGRAM_CHAT_ID": "-1001234567890"})
    assert env.bots() == {TOK_A: ("controller", "analytics"), TOK_B: ("notification",)}
    env = TelegramEnv.from_environ({"ZEPIX_TELEGRAM_CONTROLLER_TOKEN": TOK_B, "ZEPIX_TELEGRAM_CHAT_ID": "@zepix_alerts",
                                    "ZEPIX_TELEGRAM_BASE_URL": "http://127.0.0.1:8081/bot"})
    assert set(env.tokens.values()) == {TOK_B} and env.chat_id == "@zepix_alerts"
    assert env.base_url == "http://127.0.0.1:8081/bot"


@pytest.mark.parametrize("env,key", [
    ({"ZEPIX_TELEGRAM_TOKEN": "not-a-token"}, "ZEPIX_TELEGRAM_TOKEN"),
    ({"ZEPIX_TELEGRAM_TOKEN": TOK_A}, "ZEPIX_TELEGRAM_CHAT_ID"),
    ({"ZEPIX_TELEGRAM_TOKEN": TOK_A, "ZEPIX_TELEGRAM_CHAT_ID": "me"}, "ZEPIX_TELEGRAM_CHAT_ID"),
    ({"ZEPIX_TELEGRAM_TOKEN": TOK_A, "ZEPIX_TELEGRAM_CHAT_ID": "1", "ZEPIX_TELEGRAM_ADMIN_IDS": "1,bob"},
     "ZEPIX_TELEGRAM_ADMIN_IDS"),
    ({"ZEPIX_TELEGRAM_TOKEN": TOK_A, "ZEPIX_TELEGRAM_CHAT_ID": "1", "ZEPIX_TELEGRAM_BASE_URL": "ftp://x"},
     "ZEPIX_TELEGRAM_BASE_URL"),
])
def test_bad_values_name_the_variable(env, key):
    with pytest.raises(ConfigError) as e:
        TelegramEnv.from_environ(env)
    assert e.value.key == key


def test_tokens_never_appear_in_errors_or_repr():
    secret = "1111111:AAsecretsecretsecretsecretsecret!!"  # invalid character -> rejected
    with pytest.raises(ConfigError) as e:
        TelegramEnv.from_environ({"ZEPIX_TELEGRAM_ANALYTICS_TOKEN": secret})
    assert "secret" not in str(e.value)
    env = TelegramEnv.from_environ({"ZEPIX_TELEGRAM_TOKEN": TOK_A, "ZEPIX_TELEGRAM_CHAT_ID": "1"})
    assert TOK_A not in repr(env) and "1111111:" in repr(env)
