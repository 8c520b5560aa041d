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


def lookup(doc: dict, dotted: str) -> Any:
    """The value at a dotted key of a parsed document, or KeyError naming the key."""
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
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
    try:
        got = lookup(doc, dotted)
    except KeyError:
        got = KeyError
    if got != value and not (isinstance(value, tuple) and got == list(value)):
        raise ValueError(f"cannot set {dotted} in this file automatically; edit it by hand")
    return out


def _value_end(lines: list[str], i: int) -> int:
    """Index after the key line ``i`` and the continuation lines of a multi-line array or inline table."""
    depth = 0
    j = i
    while j < len(lines):
        in_str = None
        for ch in lines[j].split("#", 1)[0] if '"' not in lines[j] and "'" not in lines[j] else lines[j]:
            if in_str:
                if ch == in_str:
                    in_str = None
            elif ch in "\"'":
                in_str = ch
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
        j += 1
        if depth <= 0:
            break
    return j


def _without(doc: dict, dotted: str) -> dict:
    import copy
    out = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    node: Any = out
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            return out
        node = node[part]
    if isinstance(node, dict):
        node.pop(last, None)
    return _pruned(out)


def _pruned(doc: Any) -> Any:
    """Tables that only held removed keys vanish with them ([positions.reentry] gone leaves no [positions])."""
    if not isinstance(doc, dict):
        return doc
    out = {k: _pruned(v) for k, v in doc.items()}
    return {k: v for k, v in out.items() if v != {}}


def remove_key(text: str, dotted: str) -> str:
    """The file without ``dotted``: a key's line (with its continuation lines) inside its table, or a whole
    table with every sub-table (``[risk]``, ``[risk.tiers.5000]``...). A key the file does not set leaves it as it
    was. The rest of the file keeps its comments; the result is parsed again and must equal the old document minus
    that key, else ValueError (the file is left to the user)."""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"the config file is not valid TOML ({exc})") from None
    try:
        lookup(before, dotted)
    except KeyError:
        return text
    lines = text.splitlines()
    drop: set[int] = set()
    # whole tables: [dotted] and [dotted.*] up to the next header
    in_table = False
    for i, ln in enumerate(lines):
        h = _HEADER.match(ln)
        if h or ln.lstrip().startswith("["):
            name = h.group(1).replace(" ", "") if h else ""
            in_table = bool(h) and (name == dotted or name.startswith(dotted + "."))
        if in_table:
            drop.add(i)
    # a key line inside its parent table (or at the top for a top-level key)
    *table, key = dotted.split(".")
    table_name = ".".join(table)
    current = ""
    pat = re.compile(rf"^\s*(\"{re.escape(key)}\"|'{re.escape(key)}'|{re.escape(key)})\s*=")
    i = 0
    while i < len(lines):
        ln = lines[i]
        h = _HEADER.match(ln)
        if h:
            current = h.group(1).replace(" ", "")
        elif ln.lstrip().startswith("["):
            current = "\0"      # an array of tables: not ours
        elif current == table_name and pat.match(ln):
            end = _value_end(lines, i)
            drop.update(range(i, end))
            i = end
            continue
        i += 1
    # blank lines left at the end of a removed table run are dropped with it
    kept = [ln for i, ln in enumerate(lines) if i not in drop]
    out = "\n".join(kept).rstrip("\n") + "\n" if kept else ""
    out = re.sub(r"\n{3,}", "\n\n", out)
    try:
        after = tomllib.loads(out)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"cannot remove {dotted} from this file automatically ({exc}); edit it by hand") from None
    if _pruned(after) != _without(before, dotted):
        raise ValueError(f"cannot remove {dotted} from this file automatically (it is set through an inline table "
                         "or a dotted key); edit it by hand")
    return out
