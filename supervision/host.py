"""The host process of one actor system (started by run.py in its own process group).

It starts Thespian's admin and the root supervisor, prints one ``READY <json>`` line on stdout for run.py,
then waits. Every process of the system is forked from here, so the whole system is this process's group.
"""
from __future__ import annotations

import json
import signal
import sys

from config.loader import load_config
from supervision import hygiene
from supervision.system import start_member, start_system


def main(argv: list[str] | None = None) -> int:
    # argv: a JSON document {"config": {...}, "runtime": {...}, "member": {...}|null}
    args = json.loads((argv or sys.argv[1:])[0])
    cfg = args["config"]
    hygiene.set_title("zepix host")
    # Thespian double-forks its admin; as subreaper the host adopts it and reaps what exits below it
    hygiene.become_subreaper()
    signal.signal(signal.SIGCHLD, lambda *_: hygiene.reap_children())
    # the host only waits; the watchdog (run.py) decides when the system ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if args.get("member"):
            start_member(cfg, args["member"]["leader"], args["member"]["capabilities"])
        else:
            start_system(cfg, args["runtime"])
    except Exception as exc:  # reported to run.py, which prints it
        print("FAILED " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print("READY " + json.dumps({"admin_port": cfg["system"]["admin_port"]}), flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
