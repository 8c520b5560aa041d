"""``ops/config``: configuration hot reload.

Watches the file Zepix was started with (``config["_runtime"]["config_path"]``, else ``ZEPIX_CONFIG``) and the
extra files of ``[ops.config] watch``. When one changes it loads the effective configuration again with
``config.loader`` (defaults + file + environment). An invalid file is refused: a HIGH notice names the key and
the problem, the running configuration stays, and the same file content is not tried again. A valid change is
sent as ``ConfigUpdate(config, changed, version)`` to every actor in the directory; an actor owning a changed
section applies it (``reconfigure``) or refuses it (``ConfigApplied(ok=False)``), which is reported too.
Sections read only at start (``system``, ``watchdog``, ``supervision``, ``logging``) keep their running values
and are recorded as "restart". The last ``history`` changes (who, when, old, new, status) are kept in
``data_dir/config_history.db``.

Commands: ``set`` {key, value} or {changes: [[key, value], ...]} writes the keys into the file atomically (tmp +
rename, one write and one reload for all) after validating the result with the loader and the free-form tables'
own readers (actors/config_checks.py), then applies it like an edit on disk (answered when the actors have
answered); ``reset`` {keys} removes keys or whole tables from the file so their defaults apply again; ``toggle``
{key} flips an on/off setting; ``switch`` {keys, value: on|off|status} sets several on/off settings together or
shows them; ``get`` {key} or {keys} answers the effective values (code defaults of [risk] and [v3] included);
``reload``; ``history``.
"""
from __future__ import annotations

import copy
import glob
import os
import time
from pathlib import Path

from actors import messages as m
from actors import config_checks
from actors.base import ZepixActor, handles
from config.errors import ConfigError
from config.loader import load_config
from config.toml_edit import lookup, remove_key, set_key
from gateways.storage import config_history
from gateways.storage.migrations import migrate
from gateways.storage.sqlite import open_db

RESTART_ONLY = ("system", "watchdog", "supervision", "logging")
ROOT_KEY = "zepix-root"


def leaf_diff(old, new, prefix: str = "") -> list[tuple[str, object, object]]:
    """Dotted keys whose value differs: [(key, old, new)]."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += leaf_diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [(prefix.rstrip("."), old, new)]


def changed_keys(diffs) -> tuple:
    """Top-level sections plus their second-level tables ("ops", "ops.health") that changed."""
    out = set()
    for key, _, _ in diffs:
        parts = key.split(".")
        out.add(parts[0])
        if len(parts) > 2:
            out.add(".".join(parts[:2]))
    return tuple(sorted(out))


class ConfigWatcher(ZepixActor):

    def setup(self) -> None:
        self.settings = dict(self.config["ops"]["config"])
        runtime = self.config.get("_runtime", {})
        raw = runtime.get("config_path") or os.environ.get("ZEPIX_CONFIG") or ""
        self.config_file = Path(raw).resolve() if raw else None
        self.db = open_db(config_history.path(self.config["system"]["data_dir"]))
        migrate(self.db, config_history.MIGRATIONS, config_history.FILE)
        self.running = copy.deepcopy(self.config)
        self.version = int(runtime.get("config_version", 0))
        # The first poll compares the file with the running configuration: after run.py restarted the system
        # (with the configuration it started with) a change made since then is applied again.
        self.fp = ()
        self.refused_fp = None
        self.pending: dict[int, dict] = {}     # version -> {"diffs", "user", "answers", "reply"}
        self.last_error = ""
        self.after(self.settings["poll_interval"], "poll")

    def config_sections(self) -> tuple:
        return ("ops",)

    def reconfigure(self, config: dict, changed: tuple) -> None:
        s = dict(config["ops"]["config"])
        if s["poll_interval"] <= 0 or s["apply_timeout"] <= 0 or s["history"] < 1:
            raise ValueError("ops.config: poll_interval and apply_timeout must be > 0, history >= 1")
        self.settings = s

    def teardown(self) -> None:
        self.db.close()

    # -- watching ------------------------------------------------------------------------------------------------
    def _files(self) -> list[Path]:
        files = [self.config_file] if self.config_file else []
        for pattern in self.settings.get("watch", []):
            files += [Path(p) for p in sorted(glob.glob(pattern))]
        return files

    def _fingerprint(self) -> tuple:
        out = []
        for f in self._files():
            try:
                st = f.stat()
                out.append((str(f), st.st_mtime_ns, st.st_size, f.read_bytes()))
            except OSError:
                out.append((str(f), None, None, None))
        return tuple(out)

    def on_timer(self, key) -> None:
        if key == "poll":
            fp = self._fingerprint()
            if fp != self.fp and fp != self.refused_fp:
                self.fp = fp
                self._reload("file")
            self.after(self.settings["poll_interval"], "poll")
        elif isinstance(key, tuple) and key[0] == "applied":
            self._finish(key[1])

    # -- reloading -----------------------------------------------------------------------------------------------
    def _load(self) -> dict:
        return load_config(self.config_file)

    def _reload(self, user: str, reply: tuple | None = None) -> None:
        try:
            new = self._load()
        except ConfigError as exc:
            self._refuse(user, f"invalid configuration: {exc}", reply)
            return
        new["_runtime"] = self.running.get("_runtime", {})
        if not new["webhook"].get("token") and self.running["webhook"].get("token"):
            new["webhook"]["token"] = self.running["webhook"]["token"]   # generated at start, kept in data_dir
        restart = []
        for sec in RESTART_ONLY:
            restart += leaf_diff(self.running.get(sec), new.get(sec), sec + ".")
            new[sec] = copy.deepcopy(self.running.get(sec))
        diffs = [d for d in leaf_diff(self.running, new) if not d[0].startswith("_runtime")]
        now = time.time()
        if not diffs and not restart:
            if reply:
                self.tell(reply[1], m.CommandReply(corr=reply[0], ok=True, text="no change"))
            return
        self.version += 1
        if restart:
            config_history.record(self.db, at=now, version=self.version, user=user, changes=restart,
                                  status="restart", keep=self.settings["history"])
            self.notify("config_restart", "MEDIUM", "changed, applied at the next start: "
                        + ", ".join(k for k, _, _ in restart))
        if not diffs:
            if reply:
                self.tell(reply[1], m.CommandReply(corr=reply[0], ok=True, text="recorded; takes effect after a "
                                                   "restart: " + ", ".join(k for k, _, _ in restart)))
            return
        self.running = new
        changed = changed_keys(diffs)
        update = m.ConfigUpdate(config=new, changed=changed, version=self.version)
        sent = 0
        for path, addr in self.directory.items():
            if path != ROOT_KEY:
                self.tell(addr, update)
                sent += 1
        self.pending[self.version] = {"diffs": diffs, "user": user, "answers": {}, "reply": reply, "at": now,
                                      "sent": sent, "changed": changed}
        self.after(self.settings["apply_timeout"], ("applied", self.version))

    def _refuse(self, user: str, error: str, reply: tuple | None) -> None:
        self.refused_fp = self._fingerprint()
        self.fp = self.refused_fp
        self.last_error = error
        config_history.record(self.db, at=time.time(), version=self.version, user=user,
                              changes=[("*", None, None)], status="refused", error=error,
                              keep=self.settings["history"])
        self.notify("config_refused", "HIGH", f"configuration change refused, the running configuration stays: {error}",
                    error=error)
        if reply:
            self.tell(reply[1], m.CommandReply(corr=reply[0], ok=False, text=error))

    @handles(m.ConfigApplied)
    def _on_applied(self, msg: m.ConfigApplied, sender) -> None:
        p = self.pending.get(msg.version)
        if p is not None:
            p["answers"][msg.path] = (msg.ok, msg.error, msg.stake)
            if len(p["answers"]) >= p["sent"]:
                self._finish(msg.version)     # everybody answered: no need to wait for apply_timeout

    def _finish(self, version: int) -> None:
        p = self.pending.pop(version, None)
        if p is None:
            return
        refused = {path: err for path, (ok, err, _) in p["answers"].items() if not ok}
        applied = sorted(path for path, (ok, _, stake) in p["answers"].items() if ok and stake)
        error = "; ".join(f"{k}: {v}" for k, v in refused.items())
        config_history.record(self.db, at=p["at"], version=version, user=p["user"], changes=p["diffs"],
                              status="refused" if refused else "applied", error=error, keep=self.settings["history"])
        keys = ", ".join(k for k, _, _ in p["diffs"])
        if refused:
            self.last_error = error
            self.notify("config_refused", "HIGH", f"configuration {version} ({keys}) refused by {error}",
                        refused=refused)
        else:
            self.notify("config_changed", "INFO", f"configuration {version} applied by {p['user']}: {keys}")
        if p["reply"]:
            corr, sender = p["reply"]
            text = (f"configuration {version}: {keys}; applied by {', '.join(applied) or 'no actor'}"
                    + (f"; refused by {error}" if refused else ""))
            self.tell(sender, m.CommandReply(corr=corr, ok=not refused, text=text,
                                             data={"version": version, "applied": applied, "refused": refused,
                                                   "changed": list(p["changed"]),
                                                   "unanswered": max(0, p["sent"] - len(p["answers"]))}))

    # -- commands ------------------------------------------------------------------------------------------------
    def on_command(self, msg: m.Command, sender):
        if msg.name == "set":
            return self._set(msg, sender)
        if msg.name == "reset":
            return self._reset(msg, sender)
        if msg.name == "toggle":
            return self._toggle(msg, sender)
        if msg.name == "switch":
            return self._switch(msg, sender)
        if msg.name == "reload":
            self.fp = self._fingerprint()
            self.refused_fp = None
            self._reload(msg.user or "command", (msg.corr, sender))
            return None
        if msg.name == "history":
            rows = config_history.recent(self.db, int(msg.args.get("limit", self.settings["history"])))
            return m.CommandReply(corr=msg.corr, ok=True, text=f"{len(rows)} changes", data={"changes": rows})
        if msg.name == "get":
            return self._get(msg)
        if msg.name == "status":
            return m.CommandReply(corr=msg.corr, ok=not self.last_error, text=self.last_error or "ok",
                                  data={"path": str(self.config_file or ""), "version": self.version,
                                        "last_error": self.last_error})
        return super().on_command(msg, sender)

    def _get(self, msg: m.Command) -> m.CommandReply:
        """``key`` (one value) or ``keys`` (several); free-form tables answer their effective values."""
        keys = msg.args.get("keys") or [msg.args.get("key", "")]
        eff = config_checks.effective(self.running)
        values, lines = {}, []
        for key in keys:
            try:
                values[key] = lookup(eff, str(key))
            except KeyError:
                return m.CommandReply(corr=msg.corr, ok=False, text=f"no setting {key!r}")
            lines += config_checks.show(str(key), values[key])
        if "keys" in msg.args:
            return m.CommandReply(corr=msg.corr, ok=True, text="\n".join(lines), data={"values": values})
        return m.CommandReply(corr=msg.corr, ok=True, text="\n".join(lines), data={"value": values[keys[0]]})

    def _effective(self, key: str):
        return lookup(config_checks.effective(self.running), key)

    @staticmethod
    def _bad_key(key) -> bool:
        return not isinstance(key, str) or not key or key.startswith("_") or ".." in key or key.endswith(".")

    def _set(self, msg: m.Command, sender):
        """``{key, value}`` or ``{changes: [[key, value], ...]}``: every change in one write and one reload."""
        if "changes" in msg.args:
            changes = msg.args.get("changes")
            if not isinstance(changes, (list, tuple)) or not changes or not all(
                    isinstance(c, (list, tuple)) and len(c) == 2 and not self._bad_key(c[0]) for c in changes):
                return m.CommandReply(corr=msg.corr, ok=False, text="set needs args {changes: [['section.key', "
                                      "value], ...]} with at least one change")
            changes = [(c[0], c[1]) for c in changes]
        else:
            key, value = msg.args.get("key"), msg.args.get("value")
            if self._bad_key(key):
                return m.CommandReply(corr=msg.corr, ok=False, text="set needs args {key: 'section.key', value: ...}")
            changes = [(key, value)]

        def edit(text: str) -> str:
            for key, value in changes:
                text = set_key(text, key, value)
            return text
        return self._write(msg, sender, edit, [(k, None, v) for k, v in changes])

    def _reset(self, msg: m.Command, sender):
        """``{keys: [...]}``: those keys or whole tables leave the file, so their defaults apply again."""
        keys = msg.args.get("keys")
        if not isinstance(keys, (list, tuple)) or not keys or any(self._bad_key(k) for k in keys):
            return m.CommandReply(corr=msg.corr, ok=False, text="reset needs args {keys: ['section.key', ...]}")

        def edit(text: str) -> str:
            for key in keys:
                text = remove_key(text, key)
            return text
        return self._write(msg, sender, edit, [(k, None, "(default)") for k in keys])

    def _toggle(self, msg: m.Command, sender):
        """``{key}``: flips an on/off setting (its effective value, default included)."""
        key = msg.args.get("key")
        if self._bad_key(key):
            return m.CommandReply(corr=msg.corr, ok=False, text="toggle needs args {key: 'section.key'}")
        try:
            current = self._effective(key)
        except KeyError:
            return m.CommandReply(corr=msg.corr, ok=False, text=f"no setting {key!r}")
        if not isinstance(current, bool):
            return m.CommandReply(corr=msg.corr, ok=False, text=f"{key} is {current!r}, not an on/off setting")
        return self._write(msg, sender, lambda text: set_key(text, key, not current), [(key, current, not current)])

    def _switch(self, msg: m.Command, sender):
        """``{keys, value: on|off|status}``: several on/off settings switched together, or shown."""
        keys, value = msg.args.get("keys"), msg.args.get("value")
        if not isinstance(keys, (list, tuple)) or not keys or any(self._bad_key(k) for k in keys) \
                or value not in ("on", "off", "status"):
            return m.CommandReply(corr=msg.corr, ok=False, text="switch needs args {keys: [...], value: "
                                  "on|off|status}")
        if value == "status":
            try:
                values = {k: self._effective(k) for k in keys}
            except KeyError as exc:
                return m.CommandReply(corr=msg.corr, ok=False, text=f"no setting {exc.args[0]!r}")
            on = [k for k, v in values.items() if v is True]
            state = "on" if len(on) == len(keys) else "off" if not on else "partly on"
            lines = [f"{state}"] + [ln for k, v in values.items() for ln in config_checks.show(k, v)]
            return m.CommandReply(corr=msg.corr, ok=True, text="\n".join(lines), data={"state": state,
                                                                                      "values": values})
        return self._set(m.Command(corr=msg.corr, name="set", user=msg.user,
                                   args={"changes": [[k, value == "on"] for k in keys]}), sender)

    def _write(self, msg: m.Command, sender, edit, changes: list):
        """Edit the file's text, check the result like a start-up would (loader + the tables' own readers),
        replace the file atomically and apply it; nothing is written when any part is refused."""
        if self.config_file is None:
            return m.CommandReply(corr=msg.corr, ok=False, text="Zepix was started without a config file "
                                  "(run.py --config FILE); there is no file to change")
        tmp = self.config_file.with_name(f".{self.config_file.name}.{os.getpid()}.tmp")
        try:
            text = self.config_file.read_text(encoding="utf-8") if self.config_file.exists() else ""
            new_text = edit(text)
            tmp.write_text(new_text, encoding="utf-8")
            config_checks.check(load_config(tmp))   # the whole result must be valid before it replaces the file
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, self.config_file)
        except (ValueError, ConfigError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            config_history.record(self.db, at=time.time(), version=self.version, user=msg.user or "command",
                                  changes=changes, status="refused", error=str(exc),
                                  keep=self.settings["history"])
            return m.CommandReply(corr=msg.corr, ok=False, text=f"refused: {exc}")
        self.fp = self._fingerprint()
        self.refused_fp = None
        self._reload(msg.user or "command", (msg.corr, sender))
        return None

    def status_data(self) -> dict:
        return {"config_path": str(self.config_file or ""), "version": self.version, "last_error": self.last_error}
