"""Voice alerts (gateways/telegram/voice.py): settings, finding the TTS programs, the spoken texts."""
import asyncio

import pytest

from gateways.telegram import voice as V


def test_settings_defaults_and_refusals():
    s = V.VoiceSettings.from_mapping({})
    assert not s.enabled and s.priorities == ("CRITICAL", "HIGH") and s.timeout == 10.0
    with pytest.raises(ValueError, match="unknown setting"):
        V.VoiceSettings.from_mapping({"volume": 1})
    with pytest.raises(ValueError, match="priorities"):
        V.VoiceSettings.from_mapping({"priorities": ["LOUD"]})
    with pytest.raises(ValueError, match="engine"):
        V.VoiceSettings.from_mapping({"engine": "say"})


def test_find_engine_says_what_is_missing():
    s = V.VoiceSettings(enabled=True)
    assert V.find_engine(s, lambda name: None) == \
        "voice off: no TTS engine found (looked for espeak-ng, espeak on PATH)"
    only_tts = {"espeak": "/usr/bin/espeak"}
    assert "no Opus encoder found" in V.find_engine(s, only_tts.get)
    both = {"espeak": "/usr/bin/espeak", "ffmpeg": "/usr/bin/ffmpeg"}
    assert V.find_engine(s, both.get) == V.Engine("/usr/bin/espeak", "/usr/bin/ffmpeg")
    # an explicit engine is the only one looked for
    assert "looked for espeak-ng on PATH" in V.find_engine(V.VoiceSettings(engine="espeak-ng"), both.get)


def test_spoken_texts():
    assert V.entry_text("BUY", "XAUUSD", "2650.50", "LOGIC1") == "New BUY trade on XAUUSD at 2650.50. Signal: LOGIC1."
    assert V.exit_text("SELL", "-12.5") == "SELL trade closed with loss of 12.50 dollars."
    assert V.exit_text("BUY", "7.3") == "BUY trade closed with profit of 7.30 dollars."
    assert V.spoken("🚨 <b>Daily loss limit</b> reached: P&amp;L -$500") == "Daily loss limit reached: P&L -$500"


def test_synthesize_with_the_real_programs_when_installed():
    s = V.VoiceSettings(enabled=True)
    engine = V.find_engine(s)
    if isinstance(engine, str):
        pytest.skip(engine)
    ogg = asyncio.run(V.synthesize(engine, "Test.", s))
    assert ogg[:4] == b"OggS"
