"""Direct and mutual recursion: primitive calls against all calls."""


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def walk(tree):
    return 1 + sum(walk(child) for child in tree)


def run():
    fib(16)
    for n in range(40):
        is_even(n)
    tree = [[[], [[]]], [], [[[], []]]]
    for _ in range(5):
        walk(tree)


run()
