"""``zepix-admin`` (also ``python -m supervision.admin``): look at and steer a running Zepix.

    zepix-admin [--port N] tree [--json]     the supervision tree
    zepix-admin [--port N] status            one line per subtree
    zepix-admin [--port N] restart NAME      stop NAME gracefully and start it again (not counted as a failure)
    zepix-admin [--port N] kill NAME         SIGKILL NAME, for drills; its supervisor restarts it
    zepix-admin [--port N] stop              stop the whole system (and its run.py watchdog)
    zepix-admin [--port N] chains [--json]   profit chains, re-entry watches, managed orders
    zepix-admin [--port N] sessions [--json] the forex session now, allowed symbols, the table

    zepix-admin [--port N] alerts [--json] [--status S] [--limit N]   the alert journal, newest first

NAME is a node's path (``trading/combined_v3``, with or without ``zepix-root/``) or a unique name. The CLI never
starts an actor system: with nothing on the admin port it says so and exits 1.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from actors import messages as m
from supervision import ops_admin
from supervision.system import AdminClient, NoZepixRunning, new_corr, port_in_use
from supervision.tree import ROOT_NAME


def parse_args(argv):
    p = argparse.ArgumentParser(prog="zepix-admin", description="Inspect and steer a running Zepix")
    p.add_argument("--port", type=int, default=int(os.environ.get("ZEPIX_ADMIN_PORT", 19500)),
                   help="admin port of the running system (env ZEPIX_ADMIN_PORT, default 19500)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tree", help="show the supervision tree")
    t.add_argument("--json", action="store_true")
    sub.add_parser("status", help="short status")
    for name in ("restart", "kill"):
        c = sub.add_parser(name)
        c.add_argument("name")
    sub.add_parser("stop", help="stop the whole system")
    ops_admin.add_parsers(sub)   # ops (issue 8)

    _add_trading_parsers(sub)

    for name, text in (("chains", "profit chains, re-entry watches and managed orders (trading/positions)"),
                       ("sessions", "forex session state (trading/positions)")):
        c = sub.add_parser(name, help=text)
        c.add_argument("--json", action="store_true")

    add_broker_commands(sub)

    a = sub.add_parser("alerts", help="the newest alerts of the journal, with per-stage latency")
    a.add_argument("--json", action="store_true")
    a.add_argument("--status", help="only alerts in this status (accepted, routed, decided, executed, rejected, "
                                    "skipped, duplicate)")
    a.add_argument("--limit", "--last", type=int, default=20, dest="limit", help="how many (default 20, max 500)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command in ops_admin.OFFLINE_COMMANDS:   # ops (issue 8): work on the files, no running system needed
        return ops_admin.OFFLINE_COMMANDS[args.command](args)
    try:
        with AdminClient(args.port, timeout=args.timeout) as client:
            return COMMANDS[args.command](client, args)
    except NoZepixRunning as exc:
        print(str(exc), file=sys.stderr)
        return 1


# -- commands --------------------------------------------------------------------------------------------------

def cmd_tree(client: AdminClient, args) -> int:
    tree = client.tree(args.timeout)
    if tree is None:
        print("the root supervisor did not answer", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(tree, indent=2))
    else:
        print(render_tree(tree))
    return 0


def cmd_status(client: AdminClient, args) -> int:
    tree = client.tree(args.timeout)
    if tree is None:
        print("the root supervisor did not answer", file=sys.stderr)
        return 1
    nodes = list(walk(tree))
    bad = [n for n in nodes if n["state"] != "running"]
    print(f"Zepix on port {args.port}: {len(nodes)} actors, {len(nodes) - len(bad)} running, "
          f"up {fmt_age(tree['uptime_s'])}, system restarts {tree['restarts']}")
    for sub in tree["children"]:
        workers = list(walk(sub))[1:]
        running = sum(1 for w in workers if w["state"] == "running")
        print(f"  {sub['name']:<10} {sub['state']:<12} {running}/{len(workers)} children running")
    for n in bad:
        print(f"  ! {n['path']} is {n['state']}")
    return 0 if not bad else 3


def cmd_restart(client: AdminClient, args) -> int:
    return _child_command(client, args, m.RestartChild)


def cmd_kill(client: AdminClient, args) -> int:
    return _child_command(client, args, m.KillChild)


def _child_command(client: AdminClient, args, kind) -> int:
    tree = client.tree(args.timeout)
    if tree is None:
        print("the root supervisor did not answer", file=sys.stderr)
        return 1
    path, error = resolve(tree, args.name)
    if error:
        print(error, file=sys.stderr)
        return 2
    reply = client.ask(kind(corr=new_corr(), name=path), args.timeout)
    if reply is None:
        print("no answer from the supervisor", file=sys.stderr)
        return 1
    print(reply.text, file=sys.stdout if reply.ok else sys.stderr)
    return 0 if reply.ok else 1


def cmd_stop(client: AdminClient, args) -> int:
    reply = client.ask(m.StopSystem(corr=new_corr()), args.timeout)
    watchdog = reply.data.get("watchdog_pid", 0) if reply else 0
    if watchdog:
        try:
            os.kill(watchdog, signal.SIGTERM)
        except ProcessLookupError:
            watchdog = 0
    if not watchdog:
        client.shutdown_system()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not port_in_use(args.port):
            print("Zepix stopped.")
            return 0
        time.sleep(0.05)
    print(f"Zepix on port {args.port} did not stop within 20 s", file=sys.stderr)
    return 1


COMMANDS = {"tree": cmd_tree, "status": cmd_status, "restart": cmd_restart, "kill": cmd_kill, "stop": cmd_stop}
COMMANDS.update(ops_admin.COMMANDS)   # ops (issue 8): health, sync, backup, config


# -- trading (issue 5): zepix-admin plugins [--json]; zepix-admin plugin NAME enable|disable|shadow on|off|status --

def _add_trading_parsers(sub) -> None:
    p = sub.add_parser("plugins", help="each strategy plugin: state, implementation, shadow, version, counts")
    p.add_argument("--json", action="store_true")
    c = sub.add_parser("plugin", help="enable, disable, shadow on|off or status of one plugin")
    c.add_argument("name")
    c.add_argument("action", choices=("enable", "disable", "shadow", "status"))
    c.add_argument("value", nargs="?", choices=("on", "off"))


def cmd_plugins(client: AdminClient, args) -> int:
    from strategies.plugins import PLUGINS
    tree = client.tree(args.timeout)
    if tree is None:
        print("the root supervisor did not answer", file=sys.stderr)
        return 1
    rows = []
    for name in PLUGINS:
        node = next((n for n in walk(tree) if n["path"].endswith("/trading/" + name)), None)
        row = {"plugin": name, "state": node["state"] if node else "not started",
               "implementation": node["implementation"] if node else "-"}
        if node and node["state"] == "running":
            reply = client.ask_actor(f"trading/{name}", m.StatusRequest(corr=new_corr()), args.timeout)
            if reply is not None:
                d = reply.data
                row.update({k: d.get(k) for k in ("family", "enabled", "shadow", "version", "signals", "orders",
                                                  "open", "in_flight", "latency_p50_ms")})
                row["today_trades"] = d.get("today", {}).get("trades")
                row["today_profit"] = d.get("today", {}).get("profit")
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'PLUGIN':<18} {'STATE':<12} {'IMPL':<9} {'FAMILY':<7} {'ON':<4} {'SHADOW':<7} {'VERSION':<9} "
          f"{'SIGNALS':>7} {'ORDERS':>6} {'OPEN':>5} {'TODAY':>6} {'P&L':>9}")
    for r in rows:
        yn = lambda v: "-" if v is None else ("yes" if v else "no")  # noqa: E731
        print(f"{r['plugin']:<18} {r['state']:<12} {r['implementation']:<9} {r.get('family') or '-':<7} "
              f"{yn(r.get('enabled')):<4} {yn(r.get('shadow')):<7} {r.get('version') or '-':<9} "
              f"{r.get('signals', '-'):>7} {r.get('orders', '-'):>6} {r.get('open', '-'):>5} "
              f"{r.get('today_trades', '-') if r.get('today_trades') is not None else '-':>6} "
              f"{r.get('today_profit') or '-':>9}")
    return 0


def cmd_plugin(client: AdminClient, args) -> int:
    if args.action == "shadow" and args.value is None:
        print("shadow needs on or off", file=sys.stderr)
        return 2
    cmd_args = {"on": args.value == "on"} if args.action == "shadow" else {}
    name = args.name.removeprefix("trading/")
    reply = client.ask_actor(f"trading/{name}", m.Command(corr=new_corr(), name=args.action, args=cmd_args,
                                                          user="cli"), args.timeout)
    if reply is None:
        print(f"trading/{name} is not running or did not answer", file=sys.stderr)
        return 1
    print(reply.text, file=sys.stdout if reply.ok else sys.stderr)
    return 0 if reply.ok else 1


COMMANDS.update({"plugins": cmd_plugins, "plugin": cmd_plugin})


# -- positions (issue 6) ---------------------------------------------------------------------------------------

def _ask_positions(client: AdminClient, args, name: str) -> int:
    reply = client.ask_actor("trading/positions", m.Command(corr=new_corr(), name=name, user="cli"), args.timeout)
    if reply is None:
        print("trading/positions is not running or did not answer", file=sys.stderr)
        return 1
    if not reply.ok:
        print(reply.text, file=sys.stderr)
        return 1
    print(json.dumps(reply.data, indent=2, default=str) if args.json else reply.text)
    return 0


def cmd_chains(client: AdminClient, args) -> int:
    return _ask_positions(client, args, "chains")


def cmd_sessions(client: AdminClient, args) -> int:
    return _ask_positions(client, args, "sessions")


COMMANDS.update({"chains": cmd_chains, "sessions": cmd_sessions})

# broker (issue 4): broker, positions, order, close -- each through broker/gateway
from supervision.broker_cli import BROKER_COMMANDS, add_broker_commands  # noqa: E402

COMMANDS.update(BROKER_COMMANDS)


# -- ingress: the alert journal, asked of its writer (works without access to the data dir) ----------------------

def cmd_alerts(client: AdminClient, args) -> int:
    reply = client.ask_actor("ingress/webhook", m.Command(corr=new_corr(), name="alerts", user="cli",
                                                          args={"limit": args.limit, "status": args.status or ""}),
                             args.timeout)
    if reply is None:
        print("ingress/webhook is not running or did not answer", file=sys.stderr)
        return 1
    if not reply.ok:
        print(reply.text, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(reply.data, indent=2, default=str))
    else:
        print(render_alerts(reply.data["alerts"], reply.data.get("counts", {})))
    return 0


def render_alerts(alerts: list, counts: dict) -> str:
    def ms(latency: dict, *stages) -> str:
        for stage in stages:
            if stage in latency:
                return f"{latency[stage] * 1000:.0f}"
        return "-"

    lines = [f"{'RECEIVED (UTC)':<23} {'ALERT ID':<31} {'FORMAT':<13} {'SIGNAL':<24} {'SYMBOL':<7} {'TF':>4} "
             f"{'STATUS':<9} {'ROUTE ms':>8} {'DECIDE ms':>9} {'DONE ms':>8}  REASON"]
    for a in alerts:
        alert = a.get("alert") or {}
        lat = a.get("latency", {})
        at = a["received_at"]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}"
        lines.append(f"{when:<23} {a['alert_id']:<31} {(a.get('format') or '-'):<13} "
                     f"{str(alert.get('signal_type') or '-')[:24]:<24} {str(alert.get('symbol') or '-'):<7} "
                     f"{str(alert.get('timeframe') or '-'):>4} {a['status']:<9} {ms(lat, 'routed'):>8} "
                     f"{ms(lat, 'decided'):>9} {ms(lat, 'executed', 'rejected', 'skipped'):>8}  "
                     f"{a.get('reason', '')[:120]}")
    lines.append("totals: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no alerts"))
    return "\n".join(lines)


COMMANDS["alerts"] = cmd_alerts


# -- helpers ---------------------------------------------------------------------------------------------------

def walk(node: dict):
    yield node
    for child in node.get("children", []):
        yield from walk(child)


def resolve(tree: dict, name: str) -> tuple[str, str | None]:
    """A user's NAME to a path below the root, or an error text."""
    name = name.strip("/")
    if name.startswith(ROOT_NAME + "/"):
        name = name[len(ROOT_NAME) + 1:]
    below = [n for n in walk(tree) if n is not tree]
    rel = {n["path"][len(ROOT_NAME) + 1:]: n for n in below}
    if name in rel:
        return name, None
    hits = [p for p, n in rel.items() if n["name"] == name]
    if len(hits) == 1:
        return hits[0], None
    if hits:
        return "", f"{name!r} is ambiguous: {', '.join(sorted(hits))}"
    return "", f"no actor named {name!r}; known: {', '.join(sorted(rel))}"


def fmt_age(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def render_tree(tree: dict) -> str:
    lines = [f"{'NODE':<34} {'KIND':<10} {'STATE':<12} {'PID':>7} {'RESTARTS':>8} {'UPTIME':>8} {'HB AGE':>7} "
             f"{'IMPL':<8} CLASS"]

    def add(node: dict, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        label = (prefix + branch + node["name"])[:34]
        hb = "-" if node.get("heartbeat_age_s") is None else f"{node['heartbeat_age_s']:.1f}s"
        lines.append(f"{label:<34} {node['kind']:<10} {node['state']:<12} {node.get('pid') or '-':>7} "
                     f"{node['restarts']:>8} {fmt_age(node['uptime_s']):>8} {hb:>7} {node['implementation']:<8} "
                     f"{node['actor_class']}")
        kids = node.get("children", [])
        for i, child in enumerate(kids):
            add(child, prefix + ("" if top else ("    " if last else "│   ")), i == len(kids) - 1, False)

    add(tree, "", True, True)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
