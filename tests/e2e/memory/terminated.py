"""Ended by SIGTERM at its default action: the exit and peak snapshots still
reach the database."""
import os
import signal
import time

keep = [bytes(1000) for _ in range(2000)]
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(2)
