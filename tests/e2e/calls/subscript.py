"""Subscripts that call a Python __getitem__, and the calls the interpreter
may make without a call of its own (a specialized subscript pushes the
__getitem__ frame itself; so do specialized calls of Python functions and
methods, with and without defaults or keywords). Each runs often enough to
be specialized, in functions, at module level and in a thread. With the
start-up module of startup/ loaded (a .pth file of a site directory), also
a subscript specialized before the program's first line."""
import sys
import threading


class Seq:
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError(i)
        return i * 2


class Child(Seq):
    pass  # inherits its __getitem__


class Grid(Seq):
    def __getitem__(self, key):  # more locals than its arguments, and a call
        row, col = key
        scale = helper(row)
        return row * scale + col


class Nested:
    def __init__(self, inner):
        self.inner = inner

    def __getitem__(self, i):  # a subscript inside a subscript
        return self.inner[i] + 1


def make_closed(k):
    class Closed:
        def __getitem__(self, i):  # a closure: free variables in the frame
            return i + k
    return Closed()


class Lazy:
    def __getitem__(self, i):  # a generator: only its resumptions are calls
        yield i
        yield i + 1


class Table:
    def __getitem__(self, key):
        return key


def other_getitem(self, key):
    return -key


def helper(x):
    return x + 1


def with_default(x, y=2):
    return x + y


class Point:
    def __init__(self, x):
        self.x = x

    def moved(self, d):
        return Point(self.x + d)


def subscripts(n):
    total = 0
    s, c, g = Seq(n), Child(n), Grid(n)
    nested, closed = Nested(s), make_closed(3)
    for i in range(n):
        total += s[i] + c[i] + g[i, 1] + nested[i] + closed[i]
    try:
        s[n]
    except IndexError:
        pass
    for i in range(n):  # a failing subscript, specialized like the others
        try:
            total += s[i + n]
        except IndexError:
            total += 1
    for x in s:  # the old iteration protocol: __getitem__ until IndexError
        total += x
    for i in range(n // 10):
        total += sum(Lazy()[i])
    return total


def replaced(n):
    t = Table()
    total = 0
    for i in range(n):
        total += t[i]
    Table.__getitem__ = other_getitem  # the specialized subscript must notice
    for i in range(n):
        total += t[i]
    return total


def plain_calls(n):
    total = 0
    p = Point(0)
    for i in range(n):
        total += helper(i) + with_default(i) + with_default(i, 3) + with_default(x=i, y=1)
        p = p.moved(1)
    return total + p.x


def in_thread(n):
    out = []
    t = threading.Thread(target=lambda: out.append(subscripts(n)))
    t.start()
    t.join()
    return out[0]


startup = sys.modules.get("inline_startup")  # loaded before the program, when it is
results = [subscripts(300), replaced(200), plain_calls(200), in_thread(100)]
seq = Seq(100)
total = 0
for i in range(100):
    total += seq[i]
results.append(total)
if startup:
    results.append(startup.walk(startup.Early(), 500))
print(results)
