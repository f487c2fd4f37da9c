"""Stop the program's own process group, as `os.kill(0, SIGSTOP)` does;
whoever continues the program (the test) continues it alone."""
import os
import signal

print("pid", os.getpid(), flush=True)
os.kill(0, signal.SIGSTOP)
print("continued", flush=True)
