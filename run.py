"""Start, stop and inspect Zepix.

    python run.py [--config FILE] [--data-dir DIR]     start in the foreground (paper broker by default)
    python run.py status | stop [--config FILE]        act on the instance running on the configured admin port
    python run.py member --leader HOST:PORT --capability mt5 [--admin-port N]
                                                       join another host's Zepix as a convention member

Environment: ZEPIX_CONFIG, ZEPIX_DATA_DIR, ZEPIX_ADMIN_PORT, ZEPIX_WEBHOOK_HOST, ZEPIX_WEBHOOK_PORT,
ZEPIX_WEBHOOK_TOKEN override the configuration.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from config.errors import ConfigError
from config.loader import ensure_webhook_token, load_config
from supervision import hygiene


def parse_args(argv):
    p = argparse.ArgumentParser(prog="run.py", description="Zepix trading system")
    p.add_argument("command", nargs="?", default="start", choices=["start", "status", "stop", "member"])
    p.add_argument("--config", help="TOML file merged over the defaults (env ZEPIX_CONFIG)")
    p.add_argument("--data-dir", help="where databases, logs and the webhook token live (env ZEPIX_DATA_DIR)")
    p.add_argument("--admin-port", type=int, help="Thespian admin port (env ZEPIX_ADMIN_PORT)")
    p.add_argument("--leader", help="member: the leader's HOST:ADMIN_PORT")
    p.add_argument("--capability", action="append", default=[], help="member: a capability this host offers")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    overrides = {}
    if args.data_dir:
        overrides["system.data_dir"] = args.data_dir
    if args.admin_port:
        overrides["system.admin_port"] = args.admin_port
    try:
        cfg = load_config(args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"Zepix: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.command == "status":
        from supervision.admin import main as admin_main
        return admin_main(["--port", str(cfg["system"]["admin_port"]), "status"])
    if args.command == "stop":
        from supervision.watchdog import stop_running
        return stop_running(cfg)
    if args.command == "member":
        return run_member(cfg, args)
    # ops (issue 8): the config watcher (ops/config) watches the file this instance was started with
    cfg_path = args.config or os.environ.get("ZEPIX_CONFIG") or ""
    return run_leader(cfg, str(Path(cfg_path).resolve()) if cfg_path else "")


def run_leader(cfg: dict, config_path: str = "") -> int:
    from supervision.watchdog import AlreadyRunning, StartFailed, Watchdog

    ensure_webhook_token(cfg)
    dog = Watchdog(cfg, out=lambda s: print(s, flush=True))
    dog.config_path = config_path
    signal.signal(signal.SIGTERM, dog.request_stop)
    signal.signal(signal.SIGINT, dog.request_stop)
    try:
        code = dog.run()
    except (AlreadyRunning, StartFailed) as exc:
        print(f"Zepix: {exc}", file=sys.stderr, flush=True)
        return 1
    print("Zepix stopped.", flush=True)
    return code


def run_member(cfg: dict, args) -> int:
    if not args.leader or ":" not in args.leader:
        print("Zepix: member needs --leader HOST:PORT (the leader's admin port)", file=sys.stderr)
        return 2
    from supervision.system import port_in_use

    port = cfg["system"]["admin_port"]
    if port_in_use(port):
        print(f"Zepix: admin port {port} is in use; give the member its own with --admin-port", file=sys.stderr)
        return 1
    caps = {name: True for name in args.capability}
    hygiene.become_subreaper()
    host = subprocess.Popen(
        [sys.executable, "-m", "supervision.host",
         json.dumps({"config": cfg, "member": {"leader": args.leader, "capabilities": caps}})],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    line = host.stdout.readline()
    if not line.startswith("READY"):
        hygiene.kill_group(host.pid)
        print(f"Zepix: member did not start: {line.strip()}", file=sys.stderr)
        return 1
    print(f"Zepix member on admin port {port} joined {args.leader} with capabilities {sorted(caps)}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        if host.poll() is not None:
            break
    hygiene.kill_group(host.pid)
    print("Zepix member stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
