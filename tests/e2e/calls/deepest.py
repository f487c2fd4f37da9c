"""The deepest recursion the interpreter runs: a program must reach as deep
while its calls are counted as without pyscope."""


def down(n):
    return 0 if n == 0 else 1 + down(n - 1)


def reaches(n):
    try:
        down(n)
        return True
    except RecursionError:
        return False


low, high = 1, 100000  # reaches(low), not reaches(high)
while high - low > 1:
    mid = (low + high) // 2
    if reaches(mid):
        low = mid
    else:
        high = mid
print("deepest recursion:", low)
