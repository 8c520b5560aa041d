"""ZepixActor's class-level guard: a subclass cannot silently replace the loop's internals."""
import pytest

from actors import messages as m
from actors.base import ZepixActor, handles


def test_a_subclass_redefining_an_internal_is_refused_when_defined():
    with pytest.raises(TypeError, match="_flush_outbox"):
        class Sloppy(ZepixActor):          # noqa: F841 - the class statement itself must fail
            def _flush_outbox(self, fd):
                pass


def test_extending_a_builtin_handler_with_super_is_allowed():
    class Extends(ZepixActor):
        def _on_event_subscribe(self, msg, sender):
            super()._on_event_subscribe(msg, sender)

        @handles(m.Ping)
        def _ping(self, msg, sender):
            pass
    assert Extends._dispatch[m.Ping] == "_ping"


def test_log_records_of_a_handler_run_leave_after_its_messages_in_order_with_their_arguments_as_they_were():
    import logging
    from actors.base import _AfterSends

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.INFO)
            self.got = []

        def handle(self, record):
            self.got.append(record.getMessage())

    inner = Keep()
    held = _AfterSends(inner)
    log = logging.getLogger("zepix.test.aftersends")
    log.propagate, log.handlers = False, [held]
    log.setLevel(logging.DEBUG)
    try:
        log.info("outside a run: at once")
        assert inner.got == ["outside a run: at once"]
        held.held = []                       # a handler run starts (batch_sends)
        figures = {"n": 1}
        log.info("first %s", figures)
        figures["n"] = 2                     # changed after the call: the record keeps what it said then
        log.debug("below the handler's level: dropped")
        log.warning("second")
        assert inner.got == ["outside a run: at once"]       # nothing left during the run
        held.release()                       # the run's messages have left
        assert inner.got == ["outside a run: at once", "first {'n': 1}", "second"]
        log.info("after the run: at once")
        assert inner.got[-1] == "after the run: at once"
    finally:
        log.handlers = []
