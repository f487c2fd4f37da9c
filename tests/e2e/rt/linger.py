"""Starts a named thread, says ready, then waits to be killed."""
import signal
import sys
import threading
import time

if len(sys.argv) > 1 and sys.argv[1] == "handle-term":
    def on_term(signum, frame):
        print("got SIGTERM", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)

t = threading.Thread(target=time.sleep, args=(60,), name="early", daemon=True)
t.start()
print("ready", flush=True)
time.sleep(60)
