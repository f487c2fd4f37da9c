"""An allocation-heavy workload: small objects made at a moderate stack
depth, most freed soon, a share kept alive until the end."""
import sys


class Record:
    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.tags = [key, value]


def make(i):
    return Record(str(i), {"n": i, "sq": i * i, "s": "x" * (i % 32)})


def batch(start, n, keep):
    made = [make(i) for i in range(start, start + n)]
    keep.extend(made[::16])
    return len(made)


def layer(depth, start, n, keep):
    if depth == 0:
        return batch(start, n, keep)
    return layer(depth - 1, start, n, keep)


def main(total):
    keep = []
    done = 0
    while done < total:
        done += layer(6, done, 1000, keep)
    return len(keep)


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300000))
