"""A stand-in for the application's work: WORKERS (4) threads running
"SELECT session_user" with THINK_MS (5) between queries until SIGTERM or
SIGINT; then one line on stdout: queries=N failures=N users=role:N,..."""
import os
import signal
import sys
import threading
import time
from collections import Counter


def run(query, close=lambda: None):
    workers = int(os.environ.get("WORKERS", "4"))
    think = int(os.environ.get("THINK_MS", "5")) / 1000.0
    stop = threading.Event()
    lock = threading.Lock()
    users = Counter()
    failures = [0]

    def worker():
        while not stop.is_set():
            try:
                u = query("SELECT session_user")
                with lock:
                    users[u] += 1
            except Exception as e:  # the application would log and retry
                with lock:
                    failures[0] += 1
                print(f"query failed: {e}".strip(), file=sys.stderr, flush=True)
            time.sleep(think)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(0.2)
    for t in threads:
        t.join()
    close()
    total = sum(users.values()) + failures[0]
    u = ",".join(f"{k}:{v}" for k, v in sorted(users.items()))
    print(f"queries={total} failures={failures[0]} users={u}", flush=True)
