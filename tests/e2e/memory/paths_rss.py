"""2^17 call paths through one line of a recursion, each allocating: the
tracer's tables grow with the lines on the stack (17 of them), not with the
paths. Prints the process's peak RSS in KiB."""
import resource


def tree(depth):
    [depth] * 8
    if depth:
        tree(depth - 1), tree(depth - 1)


tree(16)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
