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
