"""A line that allocates (what the memory tracer hooks) and a line that
computes, in turns: under --memory the tracer's time goes to [pyscope], not
to the allocating line."""


def make(n):
    keep = []
    for i in range(n):
        keep.append((i, str(i), [i]))
    return keep


def compute(n):
    t = 0
    for i in range(n):
        t += i * i % 7
    return t


for _ in range(3):
    make(60000)
    compute(600000)
