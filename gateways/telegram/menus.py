"""Zero-typing inline menus (after zepix-facts §5.3): categories, command buttons, preset pickers with pagination
and confirmation screens, encoded in callback data of at most 64 bytes. Pure: no I/O.

Callback data:
  ``m``                       main menu
  ``c:<category>:<page>``     a category's commands
  ``r:<command>|a1|a2``       run a command with the arguments picked so far (opens the next picker, or the
                              confirmation screen, or runs it)
  ``q:<page>:<command>|a1``   the picker for the next argument, page <page>
  ``y:<command>|a1|a2``       confirmed: run it
  ``x``                       cancelled
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .commands import BY_NAME, CATEGORIES, PRESETS, ROUTES, Route, UsageError, bind_args, may_run

PAGE = 8             # buttons per page
MAX_DATA = 64        # Telegram's limit for callback_data (bytes)


@dataclass(frozen=True)
class Screen:
    text: str
    keyboard: list = field(default_factory=list)     # rows of {"text", "callback_data"}

    def markup(self) -> dict | None:
        return {"inline_keyboard": self.keyboard} if self.keyboard else None


@dataclass(frozen=True)
class Run:
    route: Route
    args: dict[str, Any]


def button(text: str, data: str) -> dict:
    if len(data.encode()) > MAX_DATA:
        raise ValueError(f"callback data over {MAX_DATA} bytes: {data!r}")
    return {"text": text, "callback_data": data}


def _rows(buttons: list[dict], per_row: int = 2) -> list[list[dict]]:
    return [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]


def main_menu() -> Screen:
    buttons = [button(title, f"c:{cat}:0") for cat, title in CATEGORIES.items()]
    rows = [[button("📊 Status", "r:status"), button("⏸️ Pause", "r:pause"), button("▶️ Resume", "r:resume")],
            [button("📈 Trades", "r:trades"), button("🌳 Tree", "r:tree")]]
    rows += _rows(buttons, 3)
    rows.append([button("🚨 PANIC CLOSE", "r:panic_close")])
    return Screen("🎛️ <b>Zepix control panel</b>\nPick a category or an action.", rows)


def category(cat: str, page: int, role: str | None) -> Screen:
    routes = [r for r in ROUTES if r.category == cat and r.command not in ("start", "menu") and may_run(r, role)]
    # one button per verb: aliases (/health and /health_status) would show twice
    seen, unique = set(), []
    for r in routes:
        key = (r.target, r.verb, tuple(sorted(r.fixed.items())))
        if key not in seen:
            seen.add(key)
            unique.append(r)
    pages = max(1, -(-len(unique) // PAGE))
    page = min(max(page, 0), pages - 1)
    shown = unique[page * PAGE:(page + 1) * PAGE]
    rows = _rows([button(r.command.replace("_", " "), f"r:{r.command}") for r in shown])
    rows.append(_nav(f"c:{cat}:", page, pages))
    title = CATEGORIES.get(cat, cat)
    return Screen(f"<b>{title}</b>" + (f" · page {page + 1}/{pages}" if pages > 1 else ""), rows)


def _nav(prefix: str, page: int, pages: int) -> list[dict]:
    nav = []
    if page > 0:
        nav.append(button("◀️ Prev", f"{prefix}{page - 1}"))
    nav.append(button("🏠 Menu", "m"))
    if page < pages - 1:
        nav.append(button("Next ▶️", f"{prefix}{page + 1}"))
    return nav


def picker(route: Route, picked: list[str], page: int = 0) -> Screen:
    param = route.params[len(picked)]
    choices = PRESETS.get(param.kind, ())
    base = "|".join([route.command, *picked])
    if not choices:
        return Screen(f"/{route.command} needs <b>{param.name}</b>: type it, e.g. "
                      f"<code>/{route.command} {' '.join(picked)} …</code>", [[button("🏠 Menu", "m")]])
    pages = max(1, -(-len(choices) // PAGE))
    page = min(max(page, 0), pages - 1)
    shown = choices[page * PAGE:(page + 1) * PAGE]
    rows = _rows([button(c, f"r:{base}|{c}") for c in shown], 4)
    rows.append(_nav(f"q:", page, pages) if pages == 1 else
                [b if b["callback_data"] == "m" else button(b["text"], b["callback_data"] + f":{base}")
                 for b in _nav("q:", page, pages)])
    got = " ".join(picked)
    return Screen(f"/{route.command} {got}\nPick <b>{param.name}</b>:", rows)


def confirm(route: Route, picked: list[str]) -> Screen:
    base = "|".join([route.command, *picked])
    return Screen(f"⚠️ <b>Confirm</b> /{route.command} {' '.join(picked)}\n{route.help}. This cannot be undone.",
                  [[button("✅ Yes, do it", f"y:{base}"), button("❌ Cancel", "x")]])


def resolve(data: str, role: str | None) -> Screen | Run:
    """What a button press means: another screen, or a command to run (already confirmed when it needs it)."""
    if data == "m":
        return main_menu()
    if data == "x":
        return Screen("Cancelled.", [[button("🏠 Menu", "m")]])
    kind, _, rest = data.partition(":")
    if kind == "c":
        cat, _, page = rest.partition(":")
        if cat not in CATEGORIES:
            raise UsageError(f"unknown menu {cat!r}")
        return category(cat, int(page or 0), role)
    if kind == "q":
        page, _, base = rest.partition(":")
        name, *picked = base.split("|")
        route = _route(name)
        return picker(route, picked, int(page or 0))
    if kind in ("r", "y"):
        name, *picked = rest.split("|")
        route = _route(name)
        if len(picked) < len([p for p in route.params if not p.optional]):
            return picker(route, picked)
        if route.confirm and kind == "r":
            return confirm(route, picked)
        return Run(route, bind_args(route, picked))
    raise UsageError(f"unknown button {data!r}")


def _route(name: str) -> Route:
    route = BY_NAME.get(name)
    if route is None:
        raise UsageError(f"unknown command /{name}")
    return route


def help_text(role: str | None) -> str:
    lines = ["<b>Commands</b>" + (" (read-only: you are a viewer)" if role == "viewer" else "")]
    for cat, title in CATEGORIES.items():
        routes = [r for r in ROUTES if r.category == cat and may_run(r, role)]
        if routes:
            lines.append(f"\n<b>{title}</b>")
            lines += [f"/{r.command} — {r.help}" for r in routes]
    return "\n".join(lines)
