"""Generators and coroutines: every resumption counts as a call."""


def count(n):
    for i in range(n):
        yield i


def relay(n):
    yield from count(n)


def accumulator():
    total = 0
    while True:
        got = yield total
        if got is None:
            return total
        total += got


def squares(n):
    return [x * x for x in count(n)]


def driven():
    acc = accumulator()
    next(acc)
    for i in range(10):
        acc.send(i)
    try:
        acc.send(None)
    except StopIteration as stop:
        return stop.value


def closed():
    g = count(100)
    next(g)
    next(g)
    g.close()


async def leaf(x):
    return x + 1


async def chain(n):
    total = 0
    for i in range(n):
        total += await leaf(i)
    return total


def run_coroutine(n):
    co = chain(n)
    try:
        co.send(None)
    except StopIteration as stop:
        return stop.value


sum(relay(50))
sum(x for x in count(30))
squares(20)
driven()
closed()
run_coroutine(25)
