import os, signal, time
import psutil
from actors import messages as m
from supervision import hygiene
from tests.support.system import running_system, wait_for, find
from tests.actor.test_supervision import extra, corr, gone

def test_silent_subscriber(tmp_path):
    with running_system(tmp_path, "[supervision.subtrees.ops]\nintensity = 100\n" + extra("w1", heartbeat_interval=0.25, hang_timeout=1.0, backoff_max=0.1)) as s:
        root = s.client.root()
        with s.client.asys.private() as ep:
            ep.tell(root, m.encode(m.Subscribe()))
            ep.tell(root, m.encode(m.StatusRequest(corr="x")))
            print(m.decode(ep.listen(2)))
            for i in range(25):
                old = s.node("ops/w1")
                t0 = time.monotonic()
                os.kill(old["pid"], signal.SIGKILL)
                s.wait_node("ops/w1", lambda n: n["state"] == "running" and n["pid"] != old["pid"], timeout=10)
                t1 = time.monotonic(); s.tree(); t2 = time.monotonic()
                print(f"{i} restart {t1-t0:.3f} tree {t2-t1:.3f}")
