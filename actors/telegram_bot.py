"""One Telegram bot (one token): long polling, commands and menus, rate-limited priority sending, the live header.

The actor owns a python-telegram-bot ``Bot`` (through ``gateways.telegram.client``) on its private event loop.
Thespian has no asyncio, so the loop runs in short slices on a "pump" timer: the getUpdates long poll and the
sends are tasks that progress during the slices, and the actor stays free to answer its heartbeat and other
messages between them (it is never blocked longer than one slice).

Roles (spec option ``roles``): ``controller`` takes every command and keeps the pinned header; ``notification``
and ``analytics`` send what the notifier routes to them (analytics also answers report commands). With one token
one actor (``telegram/bot``) plays all three.

Persistence (data_dir/telegram/): ``<name>.db`` the update offset (saved after each handled update, so a restart
neither loses nor replays a command) and the header's message id; ``<name>-outbox.db`` CRITICAL messages until
Telegram confirms them.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors import messages as m
from actors.base import AsyncActor, handles
from gateways.telegram import commands as cmds
from gateways.telegram import formatting as fmt
from gateways.telegram import menus, reports, voice
from gateways.telegram.client import TelegramClient, Updates
from gateways.telegram.env import ROLES, TelegramEnv
from gateways.telegram.outbox import Outbox
from gateways.telegram.sender import (Delivered, Failed, OutMessage, Priority, SendError, SenderSettings,
                                      SendRetryAfter, SendScheduler)
from gateways.telegram.state import BotState

SUBTREES = ("ingress", "trading", "broker", "telegram", "ops")
PLUGINS = cmds.PLUGINS


@dataclass
class Pending:
    """A request we sent to another actor for a chat, waiting for its answer."""
    kind: str                   # command | trades | report | tree | panic | close | header_positions | header_risk
    chat: Any
    target: str = ""
    command: str = ""
    edit: int | None = None     # message id to edit in place (refresh buttons), else a new message
    args: dict = field(default_factory=dict)
    parts: dict = field(default_factory=dict)
    wait: float = 0.0           # seconds before "no answer" (0: telegram.command_timeout)


class TelegramBot(AsyncActor):
    async_timeout = 10.0

    # -- start and stop ----------------------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        opts = self.spec.get("options", {}) or {}
        self.roles = tuple(opts.get("roles") or ROLES)
        env = TelegramEnv.from_environ(os.environ)
        if env is None:
            raise RuntimeError("no Telegram token in the environment (ZEPIX_TELEGRAM_TOKEN)")
        self.env = env
        self.token = env.tokens[self.roles[0]]
        tc = self.config.get("telegram", {})
        self.tc = tc
        self.pump_slice = float(tc.get("pump_slice", 0.002))
        self.pump_busy = float(tc.get("pump_busy", 0.005))
        self.pump_idle = float(tc.get("pump_idle", 0.05))
        self.pump_at = 0.0
        self.poll_timeout = int(tc.get("poll_timeout", 10))
        self.command_timeout = float(tc.get("command_timeout", 5.0))
        self.header_interval = float(tc.get("header_interval", 30.0))
        self.tz = self.config.get("system", {}).get("timezone", fmt.DEFAULT_TZ)
        self.sched = SendScheduler(SenderSettings.from_mapping(tc.get("sender")))
        folder = Path(self.config.get("system", {}).get("data_dir", "./data")) / "telegram"
        folder.mkdir(parents=True, exist_ok=True)
        self.state = BotState(folder / f"{self.name}.db")
        self.outbox = Outbox(folder / f"{self.name}-outbox.db")
        self.client = TelegramClient(self.token, base_url=env.base_url or tc.get("base_url") or None,
                                     read_timeout=float(tc.get("read_timeout", 10.0)))
        self.me = self.run_async(self.client.start(), timeout=8.0)
        self.run_async(self.client.delete_webhook(), timeout=5.0)
        if "controller" in self.roles:
            self.run_async(self.client.set_commands([(r.command, r.help[:256]) for r in cmds.ROUTES][:100]), 5.0)
        self.offset = self.state.get_int("offset")
        self.tasks: dict[asyncio.Task, tuple] = {}
        self.pending: dict[str, Pending] = {}
        self.strangers = 0
        self.conflicts = 0
        self.last_conflict_notice = 0.0
        self.poll_after = 0.0
        self.header_id = self.state.get_int(f"header:{env.chat_id}")
        self.header_data: dict[str, Any] = {}
        now = time.monotonic()
        for entry in self.outbox.pending():
            self.sched.enqueue(entry.message, now)
        self.log.info("%s: bot @%s for %s, offset %s, %d outbox message(s) pending", self.path,
                      self.me.get("username"), ",".join(self.roles), self.offset, len(self.outbox.pending()))
        self._wake(0.0)
        if "controller" in self.roles and self.header_interval > 0:
            self.after(0.5, "header")
        self._setup_voice()

    def _setup_voice(self) -> None:
        """telegram.voice: find the TTS programs once; without them voice is off and the trader is told why."""
        self.voice = voice.VoiceSettings.from_mapping(self.tc.get("voice"))
        self.voice_engine: voice.Engine | None = None
        self.voice_off = "voice alerts disabled (telegram.voice.enabled = false)"
        self.voice_sent = self.voice_failed = 0
        if not self.voice.enabled:
            return
        found = voice.find_engine(self.voice)
        if isinstance(found, str):
            self.voice_off = found
            self.log.warning("%s: %s", self.path, found)
            if "controller" in self.roles:
                self._queue(OutMessage(chat_id=self.env.chat_id, text=f"🔇 {fmt.esc(found)}; alerts come as text only.",
                                       priority=Priority.LOW, disable_notification=True))
            return
        self.voice_engine, self.voice_off = found, ""
        self.log.info("%s: voice alerts with %s + %s", self.path, found.tts, found.encoder)

    def teardown(self) -> None:
        try:
            for t in list(self.tasks):
                t.cancel()
            if getattr(self, "client", None) is not None and not self.loop.is_closed():
                self.loop.run_until_complete(asyncio.wait_for(self.client.stop(), 3.0))
        except Exception as exc:   # stopping anyway
            self.log.warning("%s: stop: %s", self.path, exc)
        super().teardown()

    def status_data(self) -> dict:
        s = self.sched.stats
        return {"roles": list(self.roles), "queued": len(self.sched), "in_flight": self.sched.in_flight,
                "delivered": s.delivered, "failed": s.failed, "retry_after": s.retry_after,
                "dropped": dict(s.dropped), "strangers": self.strangers, "conflicts": self.conflicts,
                "offset": self.offset, "outbox_pending": len(self.outbox.pending()),
                "voice": {"on": self.voice_engine is not None, "off_reason": self.voice_off,
                          "sent": self.voice_sent, "failed": self.voice_failed},
                "directory": sorted(self.directory)}

    # -- the pump: drive the private loop in slices ------------------------------------------------------------
    def on_timer(self, key) -> None:
        if key == "pump":
            if time.monotonic() + 1e-4 < self.pump_at:
                return          # a stale wake-up: an earlier one was added since (see _wake)
            self._pump()
            busy = any(v[0] != "poll" for v in self.tasks.values())
            self._wake(self.pump_busy if busy else self.pump_idle)
        elif key == "header":
            self._header_tick()
            self.after(self.header_interval, "header")
        elif isinstance(key, tuple) and key[0] == "timeout":
            self._on_request_timeout(key[1])

    def _pump(self) -> None:
        self._start_sends()
        # Commands wait for the first Directory: before it every owner would look "not running".
        if self.directory and not any(v[0] == "poll" for v in self.tasks.values()) \
                and time.monotonic() >= self.poll_after:
            self._spawn(self.client.get_updates(self.offset, timeout=self.poll_timeout,
                                                allowed_updates=["message", "callback_query"]), ("poll",))
        if not self.tasks:
            return
        # A short slice: Thespian reads this actor's sockets only between handlers, so a long slice would make
        # every sender to this actor wait for its acks (measured: a notifier stalled into a hang kill).
        done, _ = self.loop.run_until_complete(asyncio.wait(list(self.tasks), timeout=self.pump_slice,
                                                            return_when=asyncio.FIRST_COMPLETED))
        for task in done:
            what = self.tasks.pop(task)
            try:
                result = task.result()
            except Exception as exc:   # the client maps Telegram errors; anything else is a network-level failure
                result = SendError("network", f"{type(exc).__name__}: {exc}", retryable=True)
            if what[0] == "poll":
                self._on_poll(result)
            elif what[0] == "send":
                self._on_sent(what[1], result)
            elif what[0] == "voice":
                self._on_voice(what[1], result)
        self._start_sends()

    def _spawn(self, coro, what: tuple) -> None:
        self.tasks[self.loop.create_task(coro)] = what
        if what[0] != "poll":
            self._wake(0.0)

    def _wake(self, delay: float) -> None:
        """Pump in ``delay`` seconds unless a pump is already due by then."""
        at = time.monotonic() + delay
        if at < self.pump_at - 1e-4 or self.pump_at <= time.monotonic():
            self.pump_at = at
            self.after(delay, "pump")

    def _start_sends(self) -> None:
        now = time.monotonic()
        while True:
            due = self.sched.next_due(now)
            if not hasattr(due, "message"):
                return
            self._spawn(self.client.execute(due), ("send", due))

    def _on_sent(self, send, result) -> None:
        outcome = self.sched.on_result(send, result, time.monotonic())
        if isinstance(result, SendRetryAfter):
            self.log.warning("%s: Telegram asked to wait %.1f s (429)", self.path, result.seconds)
        if outcome is None:
            return
        key = outcome.key or ""
        if key in ("header:new", "header:edit"):
            self.header_busy = False
        if isinstance(outcome, Delivered):
            if key and self.outbox.status(key) == "pending":
                self.outbox.mark_sent(key, time.time(), outcome.message_ids)
            if key == "header:new" and outcome.message_ids:
                self.header_id = outcome.message_ids[0]
                self.state.set(f"header:{self.env.chat_id}", self.header_id)
                self._queue(OutMessage(chat_id=self.env.chat_id, method="pinChatMessage", message_id=self.header_id,
                                       disable_notification=True, priority=Priority.LOW, key="header:pin"))
        elif isinstance(outcome, Failed):
            self.log.error("%s: gave up a %s message (%s): %s: %s", self.path, outcome.message.priority.name,
                           outcome.message.method, outcome.kind, outcome.reason)
            if self.outbox.status(key) == "pending":
                self.outbox.mark_failed(key, time.time(), f"{outcome.kind}: {outcome.reason}")
            if key == "header:edit" and outcome.kind == "not_found":
                # the trader deleted the header: send and pin a new one
                self.header_id = None
                self.state.set(f"header:{self.env.chat_id}", None)
                self._header_tick()

    def _queue(self, msg: OutMessage) -> None:
        if self.sched.settings.persists(msg.priority):
            stored = self.outbox.add(msg, time.time())
            if stored is None:
                return          # this notification is already in the outbox (a resend after a restart)
            msg = stored
        res = self.sched.enqueue(msg, time.monotonic())
        for lost in res.dropped:
            if lost.key in ("header:new", "header:edit"):
                self.header_busy = False
            self.log.warning("%s: queue full, dropped a %s message (%s)", self.path, lost.priority.name,
                             lost.text[:60].replace("\n", " "))

    def reply(self, chat, text: str, markup: dict | None = None, edit: int | None = None,
              priority: Priority = Priority.HIGH) -> None:
        if edit is not None:
            self._queue(OutMessage(chat_id=chat, text=text, method="editMessageText", message_id=edit,
                                   reply_markup=markup, priority=priority))
        else:
            self._queue(OutMessage(chat_id=chat, text=text, reply_markup=markup, priority=priority))

    # -- notifications from telegram/notifier ------------------------------------------------------------------
    @handles(m.TgSend)
    def _on_send(self, msg: m.TgSend, sender) -> None:
        chat: Any = msg.chat or self.env.chat_id
        if isinstance(chat, str) and chat.lstrip("-").isdigit():
            chat = int(chat)
        try:
            prio = Priority.parse(msg.priority)
        except ValueError:
            prio = Priority.NORMAL
        self._queue(OutMessage(chat_id=chat, text=msg.text, priority=prio, disable_notification=msg.silent,
                               reply_markup=msg.markup or None, key=msg.key or None))
        if msg.voice and self.voice_engine is not None and prio.name in self._voiced():
            out = OutMessage(chat_id=chat, method="sendVoice", priority=prio, disable_notification=msg.silent)
            self._spawn(voice.synthesize(self.voice_engine, msg.voice, self.voice), ("voice", out))

    def _voiced(self) -> set[str]:
        to_sender = {"CRITICAL": "CRITICAL", "HIGH": "HIGH", "MEDIUM": "NORMAL", "LOW": "LOW"}
        return {to_sender[p] for p in self.voice.priorities}

    def _on_voice(self, out: OutMessage, result) -> None:
        """The spoken note is ready (bytes) or its TTS failed (the text went out anyway)."""
        if isinstance(result, (bytes, bytearray)):
            self.voice_sent += 1
            # not through the outbox: the text is the record, the voice note only accompanies it
            self.sched.enqueue(dataclasses.replace(out, voice=bytes(result)), time.monotonic())
            self._wake(0.0)
        else:
            self.voice_failed += 1
            self.log.error("%s: voice note not made: %s", self.path, getattr(result, "reason", result))

    # -- receiving ---------------------------------------------------------------------------------------------
    def _on_poll(self, result) -> None:
        if isinstance(result, Updates):
            for upd in result.updates:
                try:
                    self._on_update(upd)
                except Exception as exc:   # one bad update must not stop the others or replay forever
                    self.log.error("%s: update %s failed: %s", self.path, upd.get("update_id"), exc, exc_info=True)
                self.offset = int(upd["update_id"]) + 1
                self.state.set("offset", self.offset)
            return
        if isinstance(result, SendRetryAfter):
            self.poll_after = time.monotonic() + result.seconds
            return
        if isinstance(result, SendError) and result.kind == "conflict":
            self.conflicts += 1
            self.poll_after = time.monotonic() + float(self.tc.get("conflict_backoff", 5.0))
            self.log.critical("%s: another program polls this bot token (409 Conflict): %s", self.path,
                              result.description)
            if time.time() - self.last_conflict_notice > 300:
                self.last_conflict_notice = time.time()
                self.notify("telegram_conflict", "CRITICAL",
                            f"Telegram bot {self.name}: another program is polling the same token (409 Conflict). "
                            "Stop the other instance or give it its own bot.")
            return
        if isinstance(result, SendError):
            self.log.warning("%s: getUpdates failed: %s %s", self.path, result.kind, result.description)
            self.poll_after = time.monotonic() + 1.0

    def _on_update(self, upd: dict) -> None:
        if "message" in upd:
            msg = upd["message"]
            user, chat, text = msg.get("from", {}).get("id"), msg["chat"]["id"], msg.get("text") or ""
            role = self.env.role_of(user) if user is not None else None
            if role is None:
                self.strangers += 1
                self.log.warning("%s: ignored a message from user %s (not in the allow-lists): %.40r", self.path,
                                 user, text)
                return
            self._on_text(chat, user, role, text)
        elif "callback_query" in upd:
            cq = upd["callback_query"]
            user = cq.get("from", {}).get("id")
            role = self.env.role_of(user) if user is not None else None
            self._spawn(self.client.answer_callback(cq["id"]), ("callback",))
            if role is None:
                self.strangers += 1
                self.log.warning("%s: ignored a button press from user %s (not in the allow-lists)", self.path, user)
                return
            message = cq.get("message") or {}
            self._on_button(message.get("chat", {}).get("id", user), user, role, cq.get("data") or "",
                            message.get("message_id"))

    def _on_text(self, chat, user, role, text: str) -> None:
        parsed = cmds.parse_command(text)
        if parsed is None:
            self.reply(chat, "Send /start for the menu or /help for every command.")
            return
        name, raw = parsed
        route = cmds.BY_NAME.get(name)
        if route is None:
            self.reply(chat, f"Unknown command /{fmt.esc(name)}. /help lists them all.")
            return
        if not self._serves(route):
            self.reply(chat, "This bot only sends notifications; use the controller bot for commands.")
            return
        try:
            args = cmds.bind_args(route, raw)
        except cmds.UsageError as exc:
            self.reply(chat, f"❌ {fmt.esc(exc)}")
            return
        if not cmds.may_run(route, role, args):
            self.log.warning("%s: viewer %s tried /%s", self.path, user, name)
            self.reply(chat, f"⛔ /{name} changes something; your role ({role}) may only read.")
            return
        if route.confirm:
            screen = menus.confirm(route, [str(a) for a in raw])
            self.reply(chat, screen.text, screen.markup())
            return
        self.run_route(route, args, chat, user)

    def _on_button(self, chat, user, role, data: str, message_id) -> None:
        refresh = data.startswith("f:")
        try:
            res = menus.resolve("r:" + data[2:] if refresh else data, role)
        except (cmds.UsageError, ValueError) as exc:
            self.reply(chat, f"❌ {fmt.esc(exc)}")
            return
        if isinstance(res, menus.Screen):
            self.reply(chat, res.text, res.markup(), edit=message_id)
            return
        if not self._serves(res.route):
            self.reply(chat, "This bot only sends notifications; use the controller bot for commands.")
            return
        if not cmds.may_run(res.route, role, res.args):
            self.log.warning("%s: viewer %s pressed %s", self.path, user, data)
            self.reply(chat, f"⛔ /{res.route.command} changes something; your role ({role}) may only read.")
            return
        self.run_route(res.route, res.args, chat, user, edit=message_id if refresh else None)

    def _serves(self, route: cmds.Route) -> bool:
        if "controller" in self.roles or route.verb in ("menu", "help"):
            return True
        return "analytics" in self.roles and route.category == "reports"

    # -- running a command -------------------------------------------------------------------------------------
    def run_route(self, route: cmds.Route, args: dict, chat, user, edit: int | None = None) -> None:
        if not route.target:
            getattr(self, f"_local_{route.verb}")(route, args, chat, user, edit)
            return
        # a change is answered once ops/config has collected the actors' answers (ops.config.apply_timeout)
        wait = self.command_timeout + (float(self.config.get("ops", {}).get("config", {}).get("apply_timeout", 0))
                                       if route.applies else 0.0)
        self._ask(route.target, route.verb, route.command, cmds.config_value(route, args), chat, user, edit, wait)

    def _ask(self, target: str, verb: str, command: str, args: dict, chat, user, edit=None,
             timeout: float | None = None) -> None:
        addr = self.peer(target)
        if addr is None:
            self.reply(chat, f"⚠️ {target} is not running, so /{command} cannot be done now.", edit=edit)
            return
        corr = uuid.uuid4().hex
        self.pending[corr] = Pending("command", chat, target=target, command=command, edit=edit, args=args,
                                     wait=timeout or 0.0)
        self.tell(addr, m.Command(corr=corr, name=verb, args=args, user=f"telegram:{user}"))
        self.after(timeout or self.command_timeout, ("timeout", corr))

    def _on_request_timeout(self, corr: str) -> None:
        p = self.pending.pop(corr, None)
        if p is None:
            return
        if p.kind == "tree":
            self._finish_tree(p)
        elif p.kind == "header_risk":
            self.header_data.update(state=None, pnl=None)   # no answer: leave the line out rather than show old news
        elif p.kind == "header_positions":
            self.header_data.update(open=None, floating=None)
        else:
            self.reply(p.chat, f"⌛ no answer from {p.target} within {p.wait or self.command_timeout:g} s "
                               f"(/{p.command}).", edit=p.edit)

    @handles(m.CommandReply)
    def _on_reply(self, msg: m.CommandReply, sender) -> None:
        p = self.pending.pop(msg.corr, None)
        if p is None:
            return
        if p.kind == "header_risk":
            self._header_risk(msg)
            return
        mark = "✅" if msg.ok else "❌"
        body = fmt.esc(msg.text)
        if msg.ok and isinstance(msg.data, dict) and msg.data.get("monospace"):
            body = f"<pre>{body}</pre>"     # tables (/trend_matrix) keep their columns
        text = f"{mark} <b>/{fmt.esc(p.command)}</b>\n{body}"
        route = cmds.BY_NAME.get(p.command)
        markup = None
        if route is not None and not route.write:
            text += f"\n<i>as of {fmt.esc(fmt.clock(time.time(), self.tz))}</i>"
            markup = {"inline_keyboard": [[menus.button("🔄 Refresh", f"f:{p.command}"), menus.button("🏠 Menu", "m")]]}
        self.reply(p.chat, text, markup, edit=p.edit)

    # -- local commands ----------------------------------------------------------------------------------------
    def _local_menu(self, route, args, chat, user, edit) -> None:
        s = menus.main_menu()
        self.reply(chat, s.text, s.markup(), edit=edit)

    def _local_help(self, route, args, chat, user, edit) -> None:
        self.reply(chat, menus.help_text(self.env.role_of(user)), edit=edit)

    def _local_plugin(self, route, args, chat, user, edit) -> None:
        self._ask(f"trading/{args['plugin']}", args["verb"], route.command, {"plugin": args["plugin"]}, chat, user,
                  edit)

    def _local_plugins(self, route, args, chat, user, edit) -> None:
        lines = ["🔌 <b>Plugins</b>"]
        for p in PLUGINS:
            lines.append(f"{fmt.esc(p)}: {'🟢 running' if self.peer('trading/' + p) else '🔴 not running'}")
        self.reply(chat, "\n".join(lines), {"inline_keyboard": [[menus.button("🔄 Refresh", "f:plugins")]]},
                   edit=edit)

    def _local_header(self, route, args, chat, user, edit) -> None:
        self._header_tick()
        self.reply(chat, "🔄 Header refresh requested.", edit=edit)

    def _broker_query(self, kind: str, what: str, qargs: dict, chat, command: str, edit=None, **extra) -> None:
        addr = self.peer("broker/gateway")
        if addr is None:
            if chat is not None:
                self.reply(chat, f"⚠️ broker/gateway is not running, so /{command} cannot be done now.", edit=edit)
            return
        corr = uuid.uuid4().hex
        self.pending[corr] = Pending(kind, chat, target="broker/gateway", command=command, edit=edit, args=extra)
        self.tell(addr, m.BrokerQuery(corr=corr, what=what, args=qargs))
        self.after(self.command_timeout, ("timeout", corr))

    def _local_trades(self, route, args, chat, user, edit) -> None:
        self._broker_query("trades", "positions", {}, chat, route.command, edit)

    def _local_report(self, route, args, chat, user, edit) -> None:
        days = reports.PERIOD_DAYS[args.get("period", "day")]
        now = dt.datetime.now(dt.timezone.utc)
        if days == 1:
            local = now.astimezone(fmt._tz(self.tz))
            since = local.replace(hour=0, minute=0, second=0, microsecond=0)
        else:
            since = now - dt.timedelta(days=days)
        self._broker_query("report", "deals", {"since": since.timestamp()}, chat, route.command, edit,
                           period=args.get("period"), by=args.get("by"))

    def _local_panic(self, route, args, chat, user, edit) -> None:
        self._broker_query("panic", "positions", {}, chat, route.command, edit, user=user)

    def _local_close(self, route, args, chat, user, edit) -> None:
        if self.peer("broker/gateway") is None:
            self.reply(chat, "⚠️ broker/gateway is not running, so /close cannot be done now.")
            return
        self._close([{"ticket": args["ticket"], "plugin": "telegram"}], chat, user, "manual")

    def _close(self, positions: list, chat, user, reason: str) -> None:
        corr = uuid.uuid4().hex[:12]
        for pos in positions:
            intent = f"tg-{reason}-{corr}-{pos['ticket']}"
            self.pending[intent] = Pending("close", chat, target="broker/gateway", command=f"close #{pos['ticket']}")
            self.tell(self.peer("broker/gateway"), m.CloseIntent(
                intent_id=intent, plugin=str(pos.get("plugin") or "telegram"), ticket=int(pos["ticket"]),
                reason=reason, detail={"by": f"telegram:{user}"}))
            self.after(self.command_timeout * 2, ("timeout", intent))
        self.reply(chat, f"🚨 Closing {len(positions)} position(s)…" if positions else "No open positions.")

    @handles(m.OrderOutcome)
    def _on_outcome(self, msg: m.OrderOutcome, sender) -> None:
        p = self.pending.pop(msg.intent_id, None)
        if p is None:
            return
        if msg.status == "closed":
            self.reply(p.chat, f"✅ Closed #{msg.ticket} {fmt.esc(msg.symbol)}" +
                       (f" at {fmt.esc(fmt.price(msg.price))}" if msg.price is not None else ""))
        else:
            self.reply(p.chat, f"❌ Close #{msg.ticket}: {fmt.esc(msg.status)} {fmt.esc(msg.reason)}")

    @handles(m.BrokerReply)
    def _on_broker_reply(self, msg: m.BrokerReply, sender) -> None:
        p = self.pending.pop(msg.corr, None)
        if p is None:
            return
        if p.kind == "header_positions":
            items = msg.data.get("positions", msg.data.get("items", [])) if msg.ok else []
            self.header_data["open"] = len(items) if msg.ok else None
            self.header_data["floating"] = sum((reports._d(i.get("profit")) for i in items), reports.Decimal(0)) \
                if msg.ok else None
            return
        if not msg.ok:
            self.reply(p.chat, f"❌ /{p.command}: broker/gateway: {fmt.esc(msg.error)}", edit=p.edit)
            return
        if p.kind == "trades":
            text = reports.positions(msg.data.get("positions", msg.data.get("items", [])))
            self.reply(p.chat, text, {"inline_keyboard": [[menus.button("🔄 Refresh", "f:trades")]]}, edit=p.edit)
        elif p.kind == "report":
            # broker/gateway's deals carry the magic number; config [broker.magic] names the plugin behind it
            names = {v: k for k, v in ((self.config.get("broker") or {}).get("magic") or {}).items()}
            deals = [{**d, "plugin": d.get("plugin") or names.get(d.get("magic"))}
                     for d in msg.data.get("deals", msg.data.get("items", []))]
            if p.args.get("by"):
                title = {"symbol": "P&L per symbol", "plugin": "P&L per plugin"}[p.args["by"]] + " (30 days)"
                text = reports.breakdown(deals, p.args["by"], title)
            else:
                text = reports.summary(deals, day=time.time() if p.args.get("period") == "day" else None)
                if p.args.get("period") != "day":
                    text = text.replace("DAILY SUMMARY", {"week": "WEEKLY", "month": "MONTHLY"}[p.args["period"]] +
                                        " SUMMARY", 1)
            self.reply(p.chat, text, {"inline_keyboard": [[menus.button("🔄 Refresh", f"f:{p.command}")]]},
                       edit=p.edit)
        elif p.kind == "panic":
            self._close(list(msg.data.get("positions", msg.data.get("items", []))), p.chat, p.args.get("user"),
                        "panic")

    # -- /tree: ask every subtree supervisor (they are in the directory) and put the answers together --------------
    def _local_tree(self, route, args, chat, user, edit) -> None:
        corr = uuid.uuid4().hex
        p = Pending("tree", chat, command="tree", edit=edit)
        for name in SUBTREES:
            addr = self.peer(name)
            if addr is not None:
                sub = f"{corr}:{name}"
                p.parts[sub] = None
                self.pending[sub] = p
                self.tell(addr, m.TreeRequest(corr=sub))
        if not p.parts:
            self.reply(chat, "⚠️ no subtree supervisor answers.", edit=edit)
            return
        self.pending[corr] = p
        self.after(min(self.command_timeout, 2.0), ("timeout", corr))

    @handles(m.TreeReply)
    def _on_tree_reply(self, msg: m.TreeReply, sender) -> None:
        p = self.pending.pop(msg.corr, None)
        if p is None:
            return
        p.parts[msg.corr] = msg.node
        if all(v is not None for v in p.parts.values()):
            for corr, q in list(self.pending.items()):
                if q is p:
                    del self.pending[corr]
            self._finish_tree(p)

    def _finish_tree(self, p: Pending) -> None:
        icon = {"running": "🟢", "restarting": "🟡", "starting": "🟡", "hung": "🔴", "stopped": "🔴",
                "waiting": "⚪"}
        lines = ["🌳 <b>Supervision tree</b>"]

        def walk(node, depth):
            name = node.get("name", "?")
            extra = f" · {node['restarts']} restarts" if node.get("restarts") else ""
            if node.get("implementation") == "fallback":
                extra += " · fallback"
            lines.append(f"{'  ' * depth}{icon.get(node.get('state'), '⚪')} {fmt.esc(name)}{fmt.esc(extra)}")
            for c in node.get("children", []):
                walk(c, depth + 1)

        for sub, node in p.parts.items():
            if node is None:
                lines.append(f"⌛ {fmt.esc(sub.rsplit(':', 1)[1])}: no answer")
            else:
                walk(node, 0)
        self.reply(p.chat, "\n".join(lines), {"inline_keyboard": [[menus.button("🔄 Refresh", "f:tree")]]},
                   edit=p.edit)

    # -- the pinned live header --------------------------------------------------------------------------------
    def _header_tick(self) -> None:
        from strategies.sessions import SessionSettings, current_session
        now = dt.datetime.now(dt.timezone.utc)
        try:
            settings = SessionSettings.from_mapping(self.config.get("sessions")) if self.config.get("sessions") \
                else SessionSettings()
            s = current_session(settings, now)
            session = {"name": s.name, "symbols": list(s.symbols)} if s else None
        except Exception:   # a bad sessions section is reported by its owner; the header still shows the clock
            session = None
        plugins = {p: ("running" if self.peer("trading/" + p) else "stopped") for p in PLUGINS
                   if self.peer("trading/" + p) or p in self.tc.get("header_plugins", ())}
        text = fmt.live_header(now, self.tz, session=session, open_trades=self.header_data.get("open"),
                               floating=self.header_data.get("floating"), pnl_today=self.header_data.get("pnl"),
                               trading_state=self.header_data.get("state"), plugins=plugins or None,
                               title="Zepix · Live")
        if getattr(self, "header_busy", False):
            pass        # the last refresh is still queued (rate limit): no backlog of stale headers, the next tick is fresh
        elif self.header_id is None:
            self.header_busy = True
            self._queue(OutMessage(chat_id=self.env.chat_id, text=text, priority=Priority.NORMAL,
                                   disable_notification=True, key="header:new"))
        else:
            self.header_busy = True
            self._queue(OutMessage(chat_id=self.env.chat_id, text=text, method="editMessageText",
                                   message_id=self.header_id, priority=Priority.LOW, key="header:edit"))
        # figures for the next refresh (answers arrive asynchronously)
        self._broker_query("header_positions", "positions", {}, None, "header")
        risk = self.peer("trading/risk")
        if risk is None:
            self.header_data.update(state=None, pnl=None)
        else:
            corr = uuid.uuid4().hex
            self.pending[corr] = Pending("header_risk", None, target="trading/risk", command="header")
            self.tell(risk, m.Command(corr=corr, name="status", args={}, user="telegram:header"))
            self.after(self.command_timeout, ("timeout", corr))

    def _header_risk(self, msg: m.CommandReply) -> None:
        """trading/risk's state (ACTIVE | REDUCING | HALTED) and today's realised P&L for the header."""
        d = msg.data if msg.ok else {}
        state = d.get("state")
        self.header_data["state"] = str(state) if state else None
        try:
            self.header_data["pnl"] = reports.Decimal(str(d["daily_profit"])) - reports.Decimal(str(d["daily_loss"]))
        except (KeyError, ArithmeticError, ValueError):
            self.header_data["pnl"] = None
