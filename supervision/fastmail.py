"""What an actor's own wait needs to know of Thespian's TCP transport in its process (the fast mail loop).

Every time a mailbox record or a watched socket wakes an actor, Thespian's loop runs a whole turn before our handler
sees it, and another after: it rebuilds its list of descriptors and timers, polls, sorts the result, checks its
intents, idle sockets and timeouts, and passes a ``WatchMessage`` through the actor manager. That is 0.15 to 0.25 ms
of CPU per wake-up, and an alert wakes four actors in a row. An actor with ``fast_mail`` (actors/base.py) therefore
waits for its next record itself once Thespian has nothing to do, on its own descriptors *and* Thespian's, and hands
the turn back the moment Thespian has anything: a descriptor of Thespian's is readable, one of its timers
(``wakeupAfter``) is due, or it holds work (a transmit in progress, an envelope or wakeup not delivered yet). Thespian
still delivers everything that is its own (messages from outside the tree, exit requests, acknowledgements, timers)
exactly as before, only a turn later than the record that was being handled.

``view`` reads the transport's attributes of Thespian 4.0.1 (pinned in pyproject.toml). When they are not what this
module expects it returns None and the actor keeps Thespian's loop, so another Thespian version costs speed, never
correctness.
"""
from __future__ import annotations

# Seconds an actor waits on its own before Thespian gets a turn anyway: Thespian's chores without a descriptor or a
# timer (closing idle connections, timing out a half-received message) wait at most this long. After such a turn
# the actor's next wake-up comes through Thespian's loop, and the one after through its own wait again.
MAX_WAIT = 30.0

_NEEDED = ("socket", "_incomingSockets", "_transmitIntents", "_waitingTransmits", "_incomingEnvelopes",
           "_finished_intents", "_pendingWakeups", "_activeWakeups", "_aTB_queuedPendingTransmits",
           "_aTB_numPendingTransmits", "_checkChildren", "_shutdownSignalled")


class ThespianView:
    """The transport of this process, read-only: is it busy, which descriptors are its, when is its next timer."""

    __slots__ = ("_tr", "_manager")

    def __init__(self, manager, transport):
        self._manager = manager
        self._tr = transport

    def busy(self) -> bool:
        """Thespian has work of its own that only its loop does."""
        tr = self._tr
        return bool(tr._transmitIntents or tr._waitingTransmits or tr._incomingEnvelopes or tr._finished_intents
                    or tr._activeWakeups or tr._aTB_queuedPendingTransmits or tr._aTB_numPendingTransmits
                    or tr._checkChildren or tr._shutdownSignalled
                    or getattr(self._manager, "_receiveQueue", None))

    def fds(self) -> list[int]:
        """Descriptors whose readiness is Thespian's business: its listener (new connections, including the one a
        signal handler makes to wake it), the connections it receives on and its idle outgoing connections."""
        tr = self._tr
        out = [tr.socket.fileno()]
        out.extend(fd for fd in tr._incomingSockets if fd is not None and fd >= 0)
        for idle in getattr(tr, "_openSockets", {}).values():
            try:
                out.append(idle.socket.fileno())
            except OSError:
                return []       # a socket closed under it: let Thespian's turn clean up
        return out

    def wait_limit(self) -> float:
        """Seconds until Thespian's next timer is due (0 when one is), at most MAX_WAIT."""
        pending = self._tr._pendingWakeups
        if not pending:
            return MAX_WAIT
        return min(MAX_WAIT, pending[0][0].view().remainingSeconds(MAX_WAIT))


def view(actor) -> ThespianView | None:
    """The view of ``actor``'s transport, or None when this is not the transport this module knows."""
    manager = getattr(actor, "_myRef", None)
    transport = getattr(manager, "transport", None)
    if transport is None or not all(hasattr(transport, name) for name in _NEEDED):
        return None
    return ThespianView(manager, transport)
