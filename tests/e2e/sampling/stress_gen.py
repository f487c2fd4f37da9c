"""Stress: generators and coroutines suspended and resumed constantly,
while being sampled."""
import asyncio


def numbers(n):
    for i in range(n):
        yield i


def relay(n):
    yield from numbers(n)


async def leaf(i):
    await asyncio.sleep(0)
    return i


async def fan(n):
    total = 0
    for _ in range(n):
        total += sum(await asyncio.gather(*(leaf(i) for i in range(10))))
    return total


assert sum(relay(200_000)) == 199_999 * 200_000 // 2
assert sum(x for x in numbers(100_000)) == 99_999 * 100_000 // 2
assert asyncio.run(fan(1500)) == 45 * 1500
print("ok")
