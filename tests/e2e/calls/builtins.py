"""Builtin functions and methods, named as cProfile names them."""


def key(x):
    return -x


def run():
    data = [5, 3, 8, 1, 9, 2]
    for _ in range(20):
        sorted(data, key=key)
        list(map(abs, data))
        max(data)
        len(data)
        isinstance(data, list)
    words = []
    for i in range(30):
        words.append(str(i))
    ",".join(words).split(",")
    d = {}
    for w in words:
        d.setdefault(w, 0)
        d.get(w)
    d.items()
    "abc".upper().lower()
    getattr(d, "keys")()
    print(len(d))


run()
