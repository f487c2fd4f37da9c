"""Call-heavy recursive work: Python calls dominate (the call profilers' worst case)."""
import sys


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main(n):
    return fib(n)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 25)
