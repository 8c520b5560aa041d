"""The broker subcommands of ``zepix-admin``, each answered by broker/gateway:

    zepix-admin broker [--json]                          adapter, connection, account (balance, equity, margin)
    zepix-admin positions [--json]                       open positions
    zepix-admin order buy|sell SYMBOL LOTS [--sl P] [--tp P]   a manual market order (plugin "manual")
    zepix-admin close TICKET [--lots L]                  close a position, or part of it

``order`` also takes ``SYMBOL BUY|SELL LOTS``. A manual order gets a fresh intent id and the magic number of
``[broker.magic] manual``; it goes through the same gateway path (ledger, retries, events) as a plugin's order.
"""
from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation

from actors import messages as m
from supervision.system import AdminClient, new_corr

GATEWAY = "broker/gateway"


def add_broker_commands(sub) -> None:
    b = sub.add_parser("broker", help="broker adapter, connection and account")
    b.add_argument("--json", action="store_true")
    p = sub.add_parser("positions", help="open positions at the broker")
    p.add_argument("--json", action="store_true")
    o = sub.add_parser("order", help="a manual market order: order buy|sell SYMBOL LOTS [--sl P] [--tp P]")
    o.add_argument("first")
    o.add_argument("second")
    o.add_argument("lots")
    o.add_argument("--sl")
    o.add_argument("--tp")
    o.add_argument("--json", action="store_true")
    c = sub.add_parser("close", help="close a position: close TICKET [--lots L]")
    c.add_argument("ticket", type=int)
    c.add_argument("--lots", "--volume", dest="lots")
    c.add_argument("--json", action="store_true")


def _ask(client: AdminClient, name: str, args: dict, timeout: float) -> m.CommandReply | None:
    if client.address_of(GATEWAY, timeout) is None:
        print("broker/gateway is not running", file=sys.stderr)
        return None
    reply = client.ask_actor(GATEWAY, m.Command(corr=new_corr(), name=name, args=args, user="cli"), timeout)
    if reply is None:
        print(f"broker/gateway did not answer within {timeout} s", file=sys.stderr)
    return reply


def _num(text: str | None, what: str) -> str | None:
    if text is None:
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} must be a number, not {text!r}") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"{what} must be a positive number, not {text!r}")
    return str(d)


def _dump(data) -> str:
    return json.dumps(data, indent=2, default=str)


def cmd_broker(client: AdminClient, args) -> int:
    reply = _ask(client, "broker", {}, args.timeout)
    if reply is None:
        return 1
    d = reply.data
    if args.json:
        print(_dump(d))
        return 0
    state = "connected" if d.get("connected") else f"NOT connected ({d.get('connection_error')})"
    print(f"broker: {d.get('adapter')}, {state}")
    acc = d.get("account")
    if acc:
        login = f", login {acc['login']} on {acc['server']}" if acc.get("login") else ""
        print(f"  balance {acc['balance']} {acc['currency']}, equity {acc['equity']}, margin {acc['margin']}, "
              f"free margin {acc['free_margin']}, leverage 1:{acc['leverage']}{login}")
    return 0 if d.get("connected") else 3


def cmd_positions(client: AdminClient, args) -> int:
    reply = _ask(client, "positions", {}, args.timeout)
    if reply is None:
        return 1
    if not reply.ok:
        print(reply.text, file=sys.stderr)
        return 1
    rows = reply.data.get("positions", [])
    if args.json:
        print(_dump(rows))
        return 0
    if not rows:
        print("no open positions")
        return 0
    print(f"{'TICKET':>10} {'SYMBOL':<8} {'SIDE':<4} {'LOTS':>6} {'OPEN':>11} {'NOW':>11} {'SL':>11} {'TP':>11} "
          f"{'PROFIT':>10} {'MAGIC':>6} COMMENT")
    for p in rows:
        print(f"{p['ticket']:>10} {p['symbol']:<8} {p['side']:<4} {str(p['volume']):>6} {str(p['price_open']):>11} "
              f"{str(p['price_current']):>11} {str(p['sl'] or '-'):>11} {str(p['tp'] or '-'):>11} "
              f"{str(p['profit']):>10} {p['magic']:>6} {p['comment']}")
    return 0


def cmd_order(client: AdminClient, args) -> int:
    a, b = args.first.upper(), args.second.upper()
    if a in ("BUY", "SELL"):
        side, symbol = a, b
    elif b in ("BUY", "SELL"):
        side, symbol = b, a
    else:
        print(f"order: give the side as buy or sell (got {args.first!r} {args.second!r})", file=sys.stderr)
        return 2
    try:
        order = {"side": side, "symbol": symbol, "volume": _num(args.lots, "LOTS"), "sl": _num(args.sl, "--sl"),
                 "tp": _num(args.tp, "--tp")}
    except ValueError as exc:
        print(f"order: {exc}", file=sys.stderr)
        return 2
    return _report(_ask(client, "order", order, args.timeout), args)


def cmd_close(client: AdminClient, args) -> int:
    try:
        volume = _num(args.lots, "--lots")
    except ValueError as exc:
        print(f"close: {exc}", file=sys.stderr)
        return 2
    return _report(_ask(client, "close", {"ticket": args.ticket, "volume": volume}, args.timeout), args)


def _report(reply, args) -> int:
    if reply is None:
        return 1
    if args.json:
        print(_dump(reply.data))
    else:
        print(reply.text, file=sys.stdout if reply.ok else sys.stderr)
    return 0 if reply.ok else 1


BROKER_COMMANDS = {"broker": cmd_broker, "positions": cmd_positions, "order": cmd_order, "close": cmd_close}
