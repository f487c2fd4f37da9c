"""A process tree with named threads: threading and _thread threads, a fork
child, multiprocessing spawn and fork children, and a subprocess."""
import _thread
import multiprocessing
import os
import subprocess
import sys
import threading


def square(x):
    return x * x


def main():
    done = threading.Event()
    t = threading.Thread(target=lambda: None, name="alpha")
    t.start()
    t.join()

    def raw():
        done.set()

    _thread.start_new_thread(raw, ())
    done.wait()

    def renamed():
        threading.current_thread().name = "after-rename"

    t = threading.Thread(target=renamed, name="before-rename")
    t.start()
    t.join()

    pid = os.fork()
    if pid == 0:
        os._exit(4)
    os.waitpid(pid, 0)

    for method in ("spawn", "fork"):
        p = multiprocessing.get_context(method).Process(target=square, args=(3,))
        p.start()
        p.join()

    subprocess.run([sys.executable, "-c", "import sys; sys.exit(6)"])
    print("done")


if __name__ == "__main__":
    main()
