"""Two functions burn CPU 3:1, interleaved so that neither gets a lucky streak."""
import time


def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def heavy():
    burn(0.03)


def light():
    burn(0.01)


for _ in range(40):
    heavy()
    light()
