"""Change one key of a TOML file in place, keeping its comments and layout (no TOML writer is a dependency).

``set_key(text, "ops.health.max_rss_mb", 800.0)`` replaces the key's line inside its ``[ops.health]`` table, adds
the line to the table when the key is missing, or appends the table. The result is parsed again and must hold
the new value; a file this cannot edit safely (the key set through an inline table or a dotted key elsewhere)
raises ValueError and is left to the user.
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from typing import Any


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be stored")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    raise ValueError(f"a {type(value).__name__} cannot be set in the config file")


def _get(doc: dict, dotted: str):
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return KeyError
        node = node[part]
    return node


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


def set_key(text: str, dotted: str, value: Any) -> str:
    *table, key = dotted.split(".")
    table_name = ".".join(table)
    line = f"{key} = {format_value(value)}"
    lines = text.splitlines()
    start = None
    if not table:
        start = -1
    else:
        for i, ln in enumerate(lines):
            h = _HEADER.match(ln)
            if h and h.group(1).replace(" ", "") == table_name:
                start = i
                break
    if start is None:
        out = text.rstrip("\n") + ("\n\n" if text.strip() else "") + f"[{table_name}]\n{line}\n"
    else:
        end = len(lines)
        for j in range(start + 1, len(lines)):
            if lines[j].lstrip().startswith("["):
                end = j
                break
        pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
        hit = next((j for j in range(start + 1, end) if pat.match(lines[j])), None)
        if hit is not None:
            lines[hit] = line
        else:
            ins = end
            while ins > start + 1 and not lines[ins - 1].strip():
                ins -= 1
            lines.insert(ins, line)
        out = "\n".join(lines) + "\n"
    try:
        doc = tomllib.loads(out)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"cannot set {dotted} in this file automatically ({exc}); edit it by hand") from None
    got = _get(doc, dotted)
    if got != value and not (isinstance(value, tuple) and got == list(value)):
        raise ValueError(f"cannot set {dotted} in this file automatically; edit it by hand")
    return out
