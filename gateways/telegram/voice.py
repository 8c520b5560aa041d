"""Voice alerts (zepix-facts §5.6): short spoken texts for trade entries, exits and CRITICAL events, made locally
with a text-to-speech program and sent as Telegram voice notes (sendVoice, OGG/Opus).

Zepix ships no TTS engine. ``find_engine`` looks for one (espeak-ng or espeak, plus opusenc or ffmpeg for the
Opus encoding sendVoice needs); when either is missing, voice stays off and the reason says what is missing —
the text notification is sent as always. ``synthesize`` runs the two programs on the bot's event loop with a
timeout (§5.6: 10 s per TTS call).
"""
from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from typing import Any, Callable, Mapping

TTS = ("espeak-ng", "espeak")
ENCODERS = ("opusenc", "ffmpeg")
PRIORITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True)
class VoiceSettings:
    enabled: bool = False
    engine: str = "auto"                       # auto | espeak-ng | espeak
    priorities: tuple[str, ...] = ("CRITICAL", "HIGH")
    rate: int = 150                            # words per minute (the old pyttsx3 rate)
    language: str = "en"
    timeout: float = 10.0

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None) -> "VoiceSettings":
        d = dict(d or {})
        unknown = set(d) - {"enabled", "engine", "priorities", "rate", "language", "timeout"}
        if unknown:
            raise ValueError(f"telegram.voice: unknown setting(s) {', '.join(sorted(unknown))}")
        prios = tuple(str(p).upper() for p in d.get("priorities", cls.priorities))
        bad = [p for p in prios if p not in PRIORITIES]
        if bad:
            raise ValueError(f"telegram.voice.priorities: {bad} not among {', '.join(PRIORITIES)}")
        engine = str(d.get("engine", "auto"))
        if engine not in ("auto",) + TTS:
            raise ValueError(f"telegram.voice.engine must be auto, {' or '.join(TTS)}; got {engine!r}")
        return cls(enabled=bool(d.get("enabled", False)), engine=engine, priorities=prios,
                   rate=int(d.get("rate", 150)), language=str(d.get("language", "en")),
                   timeout=float(d.get("timeout", 10.0)))


@dataclass(frozen=True)
class Engine:
    tts: str            # path of espeak-ng / espeak
    encoder: str        # path of opusenc / ffmpeg


def find_engine(settings: VoiceSettings, which: Callable[[str], str | None] = shutil.which) -> Engine | str:
    """The programs to use, or why voice is off (a sentence for the trader and the log)."""
    names = TTS if settings.engine == "auto" else (settings.engine,)
    tts = next((p for p in map(which, names) if p), None)
    if tts is None:
        return f"voice off: no TTS engine found (looked for {', '.join(names)} on PATH)"
    enc = next((p for p in map(which, ENCODERS) if p), None)
    if enc is None:
        return f"voice off: no Opus encoder found for voice notes (looked for {', '.join(ENCODERS)} on PATH)"
    return Engine(tts, enc)


def spoken(text: str, limit: int = 300) -> str:
    """A notification's HTML as a sentence to speak: tags, entities and emoji removed, whitespace folded."""
    text = re.sub(r"<[^>]+>", " ", text)
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    text = re.sub(r"[^\w\s.,:;!?$%&'()/-]", " ", text)
    return re.sub(r"\s+", " ", text).strip()[:limit]


def entry_text(side: str, symbol: str, price: Any, signal: str | None) -> str:
    """§5.6 V5 voice text of a new trade."""
    s = f"New {side} trade on {symbol}" + (f" at {price}" if price not in (None, "") else "") + "."
    return s + (f" Signal: {signal}." if signal else "")


def exit_text(side: str, pnl: Any) -> str:
    """§5.6 V5 voice text of a closed trade."""
    try:
        v = float(pnl)
    except (TypeError, ValueError):
        return f"{side} trade closed."
    return f"{side} trade closed with {'profit' if v >= 0 else 'loss'} of {abs(v):.2f} dollars."


async def _run(argv: list[str], data: bytes | None, timeout: float) -> bytes:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE if data is not None else None,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{argv[0]} took longer than {timeout:g} s") from None
    if proc.returncode != 0 or not out:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace')[:200]}")
    return out


async def synthesize(engine: Engine, text: str, settings: VoiceSettings) -> bytes:
    """``text`` spoken, as OGG/Opus bytes for sendVoice."""
    wav = await _run([engine.tts, "--stdout", "-s", str(settings.rate), "-v", settings.language, text], None,
                     settings.timeout)
    if engine.encoder.endswith("opusenc"):
        argv = [engine.encoder, "--quiet", "-", "-"]
    else:
        argv = [engine.encoder, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-c:a", "libopus",
                "-f", "ogg", "pipe:1"]
    return await _run(argv, wav, settings.timeout)
