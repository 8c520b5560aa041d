"""actors/price_subs.py: what an actor asks its price feeds for follows what it needs, across feed restarts."""
from actors import messages as m
from actors.price_subs import PriceSubscriptions


class Sender:
    """Records tell_peer calls; a path in ``down`` is not running (tell_peer answers False, nothing sent)."""

    def __init__(self):
        self.sent: list[tuple[str, tuple, bool]] = []
        self.down: set[str] = set()

    def tell_peer(self, path, msg) -> bool:
        assert isinstance(msg, m.PriceSubscribe)
        if path in self.down:
            return False
        self.sent.append((path, msg.symbols, msg.subscribe))
        return True


def test_only_the_difference_is_sent():
    a = Sender()
    subs = PriceSubscriptions(a, ["broker/pricefeed"])
    subs.want({"XAUUSD", "EURUSD"})
    subs.want({"XAUUSD", "EURUSD"})             # nothing changed: nothing sent
    subs.want({"XAUUSD", "GBPUSD"})
    subs.add("GBPUSD")                          # already wanted
    assert a.sent == [("broker/pricefeed", ("EURUSD", "XAUUSD"), True),
                      ("broker/pricefeed", ("GBPUSD",), True),
                      ("broker/pricefeed", ("EURUSD",), False)]


def test_a_feed_not_running_is_asked_at_the_next_call_and_a_restarted_one_gets_everything_again():
    a = Sender()
    subs = PriceSubscriptions(a, ["broker/pricefeed"])
    a.down.add("broker/pricefeed")
    subs.add("XAUUSD")
    assert a.sent == []
    a.down.clear()
    subs.add("EURUSD")
    assert a.sent == [("broker/pricefeed", ("EURUSD", "XAUUSD"), True)]
    subs.on_directory({"broker/pricefeed": "addr-1"}, {"broker/pricefeed": "addr-1"})    # same feed: nothing
    assert len(a.sent) == 1
    subs.on_directory({"broker/pricefeed": "addr-2"}, {"broker/pricefeed": "addr-1"})    # restarted
    assert a.sent[-1] == ("broker/pricefeed", ("EURUSD", "XAUUSD"), True)
