"""The ops subcommands of ``zepix-admin`` (issue 8):

    zepix-admin health [--json] [--fresh]      every actor's pid, memory, CPU, files, threads, heartbeat, latency
    zepix-admin sync                           copy the plugin databases into zepix_bot.db now
    zepix-admin backup                         online backup of every database now
    zepix-admin config set KEY VALUE           change one setting in the config file (validated, atomic)
    zepix-admin config history                 the last configuration changes
    zepix-admin db status [--data-dir DIR]     schema version, pending migrations, integrity of every database
    zepix-admin db migrate [--data-dir DIR]    apply pending migrations (refused while Zepix runs)
    zepix-admin import-v4 PATH [--dry-run]     import the V4 trading_bot.db into the plugin databases
    zepix-admin import-v4 --undo [--batch N]   remove what an import added

``db`` and ``import-v4`` work on the files (no running Zepix needed); they find the data dir from ``--data-dir``,
else ``--config``/ZEPIX_CONFIG, else ZEPIX_DATA_DIR, else the default. Writing while Zepix runs would break the
one-writer-per-database rule, so ``db migrate`` and ``import-v4`` (except ``--dry-run``) refuse then.
"""
from __future__ import annotations

import json
import sys
import tomllib
import uuid

from actors import messages as m

OFFLINE = {"db", "import-v4"}


def add_parsers(sub) -> None:
    h = sub.add_parser("health", help="health of every actor process")
    h.add_argument("--json", action="store_true")
    h.add_argument("--fresh", action="store_true", help="take a new sample first")
    sub.add_parser("sync", help="sync the plugin databases into zepix_bot.db now")
    sub.add_parser("backup", help="back up every database now")
    c = sub.add_parser("config", help="change or show configuration")
    c.add_argument("action", choices=["set", "history", "get"])
    c.add_argument("key", nargs="?")
    c.add_argument("value", nargs="?", help="a TOML value: 800, 1.5, true, \"text\", [1, 2]")
    d = sub.add_parser("db", help="database migrations and integrity")
    d.add_argument("action", choices=["status", "migrate"])
    _data_dir_args(d)
    i = sub.add_parser("import-v4", help="import the V4 trading_bot.db")
    i.add_argument("source", nargs="?")
    i.add_argument("--dry-run", action="store_true")
    i.add_argument("--undo", action="store_true", help="remove what an import added (the latest by default)")
    i.add_argument("--batch", type=int, help="with --undo: the import batch")
    i.add_argument("--json", action="store_true")
    _data_dir_args(i)


def _data_dir_args(p) -> None:
    p.add_argument("--data-dir", help="the data dir (default: from --config / ZEPIX_CONFIG / ZEPIX_DATA_DIR)")
    p.add_argument("--config", help="the TOML file Zepix runs with")


def _ask(client, path: str, name: str, args: dict, timeout: float, user: str = "cli"):
    reply = client.ask_actor(path, m.Command(corr=uuid.uuid4().hex, name=name, args=args, user=user), timeout)
    if reply is None:
        print(f"{path} did not answer (is it running? see zepix-admin tree)", file=sys.stderr)
    return reply


def cmd_health(client, args) -> int:
    reply = _ask(client, "ops/health", "health", {"fresh": bool(args.fresh)}, max(args.timeout, 5.0))
    if reply is None:
        return 1
    print(json.dumps(reply.data, indent=2, default=str) if args.json else reply.text)
    return 0 if reply.ok else 3


def cmd_sync(client, args) -> int:
    reply = _ask(client, "ops/dbsync", "sync", {}, max(args.timeout, 30.0))
    if reply is None:
        return 1
    print(reply.text, file=sys.stdout if reply.ok else sys.stderr)
    return 0 if reply.ok else 1


def cmd_backup(client, args) -> int:
    reply = _ask(client, "ops/dbsync", "backup", {}, max(args.timeout, 60.0))
    if reply is None:
        return 1
    print(reply.text, file=sys.stdout if reply.ok else sys.stderr)
    return 0 if reply.ok else 1


def cmd_config(client, args) -> int:
    if args.action == "history":
        reply = _ask(client, "ops/config", "history", {}, args.timeout)
        if reply is None:
            return 1
        for c in reversed(reply.data["changes"]):
            import time as _t
            when = _t.strftime("%Y-%m-%d %H:%M:%S", _t.localtime(c["at"]))
            print(f"{when} v{c['version']:<4} {c['user']:<16} {c['status']:<8} {c['key']}: {c['old']!r} -> "
                  f"{c['new']!r}" + (f"  ({c['error']})" if c.get("error") else ""))
        return 0
    if not args.key or (args.action == "set" and args.value is None):
        print(f"config {args.action} needs KEY" + (" VALUE" if args.action == "set" else ""), file=sys.stderr)
        return 2
    if args.action == "get":
        reply = _ask(client, "ops/config", "get", {"key": args.key}, args.timeout)
    else:
        try:
            value = tomllib.loads(f"v = {args.value}")["v"]
        except tomllib.TOMLDecodeError:
            value = args.value   # a bare word is a string
        reply = _ask(client, "ops/config", "set", {"key": args.key, "value": value}, max(args.timeout, 15.0))
    if reply is None:
        return 1
    print(reply.text, file=sys.stdout if reply.ok else sys.stderr)
    return 0 if reply.ok else 1


def _data_dir(args) -> str:
    from config.loader import load_config

    if args.data_dir:
        from pathlib import Path
        return str(Path(args.data_dir).expanduser().resolve())
    return load_config(args.config)["system"]["data_dir"]


def _running(args) -> bool:
    from config.loader import load_config
    from supervision.system import port_in_use

    ports = {args.port}
    if args.config:
        ports.add(load_config(args.config)["system"]["admin_port"])
    return any(port_in_use(p) for p in ports)


def _families(args) -> dict:
    """plugin -> the family configured for it (``[plugins.NAME] family``), to check its database against."""
    from config.errors import ConfigError
    from config.loader import load_config
    from strategies.plugins import plugin_settings

    try:
        cfg = load_config(args.config)
        return {name: plugin_settings(cfg, name).family for name in (cfg.get("plugins") or {})}
    except ConfigError:
        return {}


def cmd_db(args) -> int:
    from gateways.storage.catalog import check

    data_dir = _data_dir(args)
    if args.action == "migrate" and _running(args):
        print(f"Zepix is running (admin port {args.port} in use): stop it before migrating; its actors apply their "
              f"own migrations at start", file=sys.stderr)
        return 1
    reports = check(data_dir, apply=args.action == "migrate", families=_families(args))
    print(f"databases in {data_dir}:")
    if not reports:
        print("  (none)")
    for r in reports:
        print("  " + r.line())
    return 0 if all(r.ok for r in reports) else 1


def cmd_import_v4(args) -> int:
    from gateways.storage.migrations import SchemaTooNew
    from gateways.storage.v4_import import ImportError_, import_v4, undo

    data_dir = _data_dir(args)
    if not args.dry_run and _running(args):
        print(f"Zepix is running (admin port {args.port} in use): its plugins are the only writers of their "
              f"databases; stop it first (or use --dry-run)", file=sys.stderr)
        return 1
    try:
        if args.undo:
            result = undo(data_dir, args.batch)
            print(f"import batch {result['batch_id']} undone: removed "
                  + ", ".join(f"{k} {v}" for k, v in result["removed"].items()) or "nothing")
            return 0
        if not args.source:
            print("import-v4 needs PATH (the V4 trading_bot.db)", file=sys.stderr)
            return 2
        report = import_v4(args.source, data_dir, dry_run=args.dry_run)
    except (ImportError_, SchemaTooNew) as exc:
        print(f"import-v4: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
    return 0 if report.balanced else 1


COMMANDS = {"health": cmd_health, "sync": cmd_sync, "backup": cmd_backup, "config": cmd_config}
OFFLINE_COMMANDS = {"db": cmd_db, "import-v4": cmd_import_v4}
