"""Starting an actor system, and talking to a running one from outside (run.py, the admin CLI, tests).

``start_system`` runs in the host process that ``run.py`` starts in a fresh process group: it patches the
transport to bind loopback only (single-host mode), starts Thespian's admin with logs going to rotating files
through ``logDefs`` (supervision/logfiles.py: on a single host the actors write the file themselves), and creates the
root supervisor. Everything forked from there shares the host's process
group, so stopping can always end with one group kill.

``AdminClient`` connects to a running system and never starts one: with nothing on the admin port it raises
``NoZepixRunning``, and Thespian's own admin start is disabled in the client process as a second guard. Each
question goes through a private endpoint and carries a correlation id, so a late reply never answers the next
question.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from actors import messages as m
from supervision import fastselect, hygiene, logfiles
from supervision.tree import ROOT_NAME, build_tree

SYSTEM_BASE = "multiprocTCPBase"


class NoZepixRunning(RuntimeError):
    def __init__(self, port: int):
        super().__init__(f"no Zepix running on port {port}")
        self.port = port


class _AdminSilent(Exception):
    """Thespian's admin did not answer in time: a busy system, not a missing one."""


def log_defs(cfg: dict) -> dict:
    logfiles.log_path(cfg).parent.mkdir(parents=True, exist_ok=True)
    level = cfg["logging"]["level"].upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"format": logfiles.LINE_FORMAT}},
        "handlers": {"file": logfiles.handler_def(cfg)},
        "root": {"handlers": ["file"], "level": level},
    }


def _prepare_transport(bind_host: str) -> None:
    os.environ["THESPIAN_BASE_IPADDR"] = bind_host
    hygiene.bind_loopback_only(bind_host)
    fastselect.install()


def _keep_admin_in_our_group() -> None:
    """Thespian daemonises its admin with setsid(), which would take the whole actor system out of our process
    group and out of reach of the group kill that ends every stop. The admin is forked from this (host)
    process, so it inherits a no-op setsid."""
    os.setsid = lambda: None


def bind_host(cfg: dict) -> str:
    return "127.0.0.1" if cfg["system"]["mode"] == "single" else cfg["system"]["bind_host"]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def start_system(cfg: dict, runtime: dict, capabilities: dict | None = None):
    """Start the admin and the root supervisor. Returns (actor system, root address)."""
    from thespian.actors import ActorSystem

    _prepare_transport(bind_host(cfg))
    _keep_admin_in_our_group()
    caps = {"Admin Port": cfg["system"]["admin_port"], **(capabilities or {})}
    asys = ActorSystem(SYSTEM_BASE, caps, logDefs=log_defs(cfg), transientUnique=True)
    spec = build_tree(cfg)
    root = asys.createActor(spec.actor, globalName=ROOT_NAME)
    full = dict(cfg)
    full["_runtime"] = runtime
    asys.tell(root, m.encode(m.Init(name=ROOT_NAME, path=ROOT_NAME, spec=spec.to_dict(), config=full)))
    return asys, root


def start_member(cfg: dict, leader: str, capabilities: dict):
    """Join a convention led by ``leader`` (HOST:PORT) with these capabilities; actors requiring them land here."""
    from thespian.actors import ActorSystem

    _prepare_transport(bind_host(cfg))
    _keep_admin_in_our_group()
    host, _, port = leader.rpartition(":")
    caps = {"Admin Port": cfg["system"]["admin_port"], "Convention Address.IPv4": (host, int(port)),
            **capabilities}
    return ActorSystem(SYSTEM_BASE, caps, logDefs=log_defs(cfg), transientUnique=True)


class AdminClient:
    """A connection to a running Zepix over its admin port. Use as a context manager."""

    def __init__(self, port: int, timeout: float = 5.0):
        self.port = port
        self.timeout = timeout
        if not port_in_use(port):
            raise NoZepixRunning(port)
        _forbid_admin_start(port)
        from thespian.actors import ActorSystem, InvalidActorAddress

        _prepare_transport("127.0.0.1")
        try:
            self.asys = ActorSystem(SYSTEM_BASE, {"Admin Port": port}, transientUnique=True,
                                    logDefs=_quiet_log_defs())
        except (NoZepixRunning, InvalidActorAddress):
            raise NoZepixRunning(port) from None
        self._root = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        # Only our client endpoint goes away; the running system is not touched.
        asys, self.asys = getattr(self, "asys", None), None
        if asys is not None:
            try:
                asys._systemBase.transport.close()  # noqa: SLF001 - Thespian has no public "disconnect"
            except Exception:
                pass

    def root(self):
        if self._root is None:
            from thespian.system.messages.status import Thespian_StatusReq

            admin = self.asys._systemBase.adminAddr  # noqa: SLF001
            status = self.asys.ask(admin, Thespian_StatusReq(), self.timeout)
            if status is None:
                raise _AdminSilent()
            addr = getattr(status, "globalActors", {}).get(ROOT_NAME)
            if addr is None:
                raise NoZepixRunning(self.port)
            self._root = addr
        return self._root

    def ask(self, msg, timeout: float | None = None, target=None):
        """Send ``msg`` (which has a ``corr``) and return the reply with the same correlation id, or None."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            target = target or self.root()
        except _AdminSilent:
            return None
        with self.asys.private() as endpoint:
            endpoint.tell(target, m.encode(msg))
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                raw = endpoint.listen(left)
                if raw is None:
                    return None
                try:
                    reply = m.decode(raw)
                except m.CodecError:
                    continue
                if getattr(reply, "corr", None) == msg.corr:
                    return reply

    def address_of(self, path: str, timeout: float | None = None):
        """The address of the actor at ``path`` ("broker/gateway"), or None when it is not running."""
        reply = self.ask(m.LookupRequest(corr=new_corr(), path=path), timeout)
        return reply.address if reply else None

    def ask_actor(self, path: str, msg, timeout: float | None = None):
        """``ask`` the actor at ``path`` directly; None when it is not running or does not answer in time."""
        addr = self.address_of(path, timeout)
        return self.ask(msg, timeout, target=addr) if addr is not None else None

    def tree(self, timeout: float | None = None) -> dict | None:
        reply = self.ask(m.TreeRequest(corr=new_corr()), timeout)
        return reply.node if reply else None

    def ping_root(self, timeout: float) -> int | None:
        """The root's pid if it answers a ping within ``timeout``."""
        reply = self.ask(m.StatusRequest(corr=new_corr()), timeout)
        return reply.pid if reply else None

    def shutdown_system(self) -> None:
        """Ask Thespian's admin to stop every actor (blocks up to Thespian's own 10 s limit)."""
        self.asys.shutdown()


def new_corr() -> str:
    return uuid.uuid4().hex


def _quiet_log_defs() -> dict:
    return {"version": 1, "disable_existing_loggers": False,
            "handlers": {"null": {"class": "logging.NullHandler"}}, "root": {"handlers": ["null"]}}


def _forbid_admin_start(port: int) -> None:
    from thespian.system import multiprocCommon

    def refuse(self, *args, **kw):
        raise NoZepixRunning(port)

    multiprocCommon.multiprocessCommon._startAdmin = refuse


logging.getLogger("Thespian").setLevel(logging.WARNING)
