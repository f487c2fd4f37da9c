"""Pure-Python CPU work: recursion, loops, dict and list operations."""
import sys


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def loops(n):
    total = 0
    table = {}
    for i in range(n):
        total += i * i % 7
        table[i % 1000] = total
    return total, len(table)


def main(scale):
    for _ in range(scale):
        fib(24)
        loops(300_000)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
