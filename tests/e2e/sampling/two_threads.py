"""Two threads burn CPU for the same time while the main thread waits in join()."""
import threading
import time


def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def work():
    burn(0.6)


threads = [threading.Thread(target=work, name=f"burner-{i}") for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
