"""Exceptions unwinding through several frames, from Python and from builtins."""


class Stop(Exception):
    pass


def deep(n):
    if n == 0:
        raise Stop("bottom")
    return deep(n - 1)


def middle(n):
    try:
        return deep(n)
    finally:
        pass


def parse(text):
    try:
        return int(text)
    except ValueError:
        return None


def run():
    caught = 0
    for n in range(10):
        try:
            middle(n)
        except Stop:
            caught += 1
    for text in ["1", "x", "2", "y"]:
        parse(text)
    it = iter([1, 2])
    while True:
        try:
            next(it)
        except StopIteration:
            break
    return caught


run()
