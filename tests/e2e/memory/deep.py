"""An allocation under a deep recursion, for the traceback depth limit."""
import pyscope


def down(n):
    if n == 0:
        return [bytes(100_000)]
    return down(n - 1)


kept = down(50)
print(pyscope.snapshot("deep"))
