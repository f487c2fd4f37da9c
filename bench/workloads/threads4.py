"""Four threads doing pure-Python CPU work (they take turns on the GIL)."""
import sys
import threading


def work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def main(scale):
    threads = [threading.Thread(target=work, args=(scale * 1_000_000,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
