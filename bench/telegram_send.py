"""Telegram delivery: Notify -> message at the (local, fake) Bot API server, through the real actors.

    python bench/telegram_send.py [--backlog 1000] [--sustain 10]

Starts a real Zepix system with one bot (telegram/bot) against tests/support/fake_botapi.py and measures, with
the server's arrival timestamps (CLOCK_MONOTONIC, shared by every process on the host):
1. idle latency per priority (Notify told to telegram/notifier -> sendMessage arrives at the server);
2. CRITICAL latency behind a backlog of LOW notifications (issue target: < 2 s);
3. sustained delivery to one chat under the default limits (1 message/s per chat), and the smallest gap between
   two messages to that chat (must be >= 1 s: the limit is never exceeded).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_system, machine_line, summary, table, wait_for  # noqa: E402
from actors import messages as m  # noqa: E402
from tests.support.fake_botapi import FakeBotApi  # noqa: E402

CHAT = 4242
TOML = "[telegram]\nheader_interval = 0\npoll_timeout = 5\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backlog", type=int, default=1000)
    ap.add_argument("--sustain", type=float, default=10.0)
    ap.add_argument("--per-priority", type=int, default=5)
    a = ap.parse_args()
    print(machine_line())
    with FakeBotApi() as api:
        env = {"ZEPIX_TELEGRAM_TOKEN": api.token, "ZEPIX_TELEGRAM_CHAT_ID": str(CHAT),
               "ZEPIX_TELEGRAM_ADMIN_IDS": str(CHAT), "ZEPIX_TELEGRAM_BASE_URL": api.base_url}
        with bench_system(TOML, env=env, ready_timeout=40) as system:
            api.wait_for_poll(timeout=20)
            notifier = wait_for(lambda: system.client.address_of("telegram/notifier"), 10, what="notifier")

            def tell(prio, text):
                system.client.asys.tell(notifier, m.encode(m.Notify(kind="bench", priority=prio, text=text)))

            def arrival(text):
                hits = [c for c in api.calls("sendMessage", chat_id=CHAT) if c.ok and text in c.params["text"]]
                return hits[0].t if hits else None

            # 1. idle latency per priority (1.05 s apart: the per-chat limit would otherwise be measured)
            rows = []
            last = 0.0
            for prio in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"):
                lat = []
                for i in range(a.per_priority):
                    wait_for(lambda: time.monotonic() >= last + 1.05, 5, interval=0.01)
                    text = f"idle-{prio}-{i}"
                    t0 = time.monotonic()
                    tell(prio, text)
                    last = wait_for(lambda: arrival(text), 10, interval=0.002, what=text)
                    lat.append((last - t0) * 1000)
                s = summary(lat)
                rows.append([prio, s["n"], s["p50"], s["p90"], s["max"]])
            table(["priority", "n", "p50 ms", "p90 ms", "max ms"], rows, "Notify -> sendMessage at the server, idle")

            # 2. CRITICAL behind a LOW backlog
            wait_for(lambda: time.monotonic() >= last + 1.05, 5, interval=0.01)
            start_seq = max(c.seq for c in api.calls())
            t_fill = time.monotonic()
            for i in range(a.backlog):
                tell("LOW", f"backlog-{i}")
            fill_s = time.monotonic() - t_fill

            def queued():
                st = system.client.ask_actor("telegram/bot", m.StatusRequest(corr="q"))
                sent_low = len([c for c in api.calls("sendMessage", chat_id=CHAT) if c.seq > start_seq])
                return st and st.data["queued"] + sent_low >= a.backlog and st.data["queued"]
            # the backlog must be in the bot's send queue (not still in actor mailboxes) before the CRITICAL
            in_queue = wait_for(queued, 60, interval=0.05, what="the backlog in the bot's queue")
            drain_s = time.monotonic() - t_fill
            t0 = time.monotonic()
            tell("CRITICAL", "crit-behind-backlog")
            t_crit = wait_for(lambda: arrival("crit-behind-backlog"), 30, interval=0.002, what="critical")
            lows_before = len([c for c in api.calls("sendMessage", chat_id=CHAT) if c.seq > start_seq and t0 <= c.t < t_crit
                               and "backlog-" in c.params.get("text", "")])
            table(["backlog (LOW)", "told in s", "all in the bot's queue after s", "queued then",
                   "CRITICAL latency ms", "LOW delivered before it"],
                  [[a.backlog, fill_s, drain_s, in_queue, (t_crit - t0) * 1000, lows_before]],
                  "CRITICAL behind a LOW backlog in the bot's send queue")

            # 3. sustained delivery under the limits
            t_end = t_crit + a.sustain
            wait_for(lambda: time.monotonic() >= t_end, a.sustain + 5, interval=0.05)
            sent = [c for c in api.calls("sendMessage", chat_id=CHAT) if c.seq > start_seq and c.ok and
                    t_crit <= c.t <= t_end]
            gaps = [b.t - x.t for x, b in zip(sent, sent[1:])]
            st = system.client.ask_actor("telegram/bot", m.StatusRequest(corr="bench"))
            table(["window s", "delivered", "per s", "min gap s", "429s", "dropped LOW"],
                  [[a.sustain, len(sent), len(sent) / a.sustain, min(gaps) if gaps else float("nan"),
                    len([c for c in api.calls() if c.status == 429]), st.data["dropped"]["LOW"] if st else "-"]],
                  "Sustained delivery to one chat (limit: 1 message/s per chat)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
