"""A server's shape under light load: a pool of worker threads that mostly
wait for work, and requests arriving a few dozen times a second, each a
millisecond or so of Python work on one of the workers.

  python pool_server.py SECONDS [WORKERS] [REQUESTS_PER_SECOND]"""
import json
import queue
import sys
import threading
import time


def handle(request):
    doc = {"id": request, "items": [{"k": i, "v": str(i * i)} for i in range(40)]}
    text = json.dumps(doc)
    return len(json.loads(text)["items"])


def worker(work):
    while True:
        request = work.get()
        if request is None:
            return
        handle(request)


def main(seconds, workers, rate):
    work = queue.Queue()
    pool = [threading.Thread(target=worker, args=(work,), name=f"worker-{k}")
            for k in range(workers)]
    for t in pool:
        t.start()
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        work.put(n)
        n += 1
        time.sleep(1.0 / rate)
    for _ in pool:
        work.put(None)
    for t in pool:
        t.join()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0,
         int(sys.argv[2]) if len(sys.argv) > 2 else 200,
         float(sys.argv[3]) if len(sys.argv) > 3 else 50.0)
