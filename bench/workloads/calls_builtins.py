"""A loop dominated by calls of builtin functions and methods."""
import sys


def main(n):
    out = []
    total = 0
    for i in range(n):
        out.append(abs(-i))
        total += len(out) + min(i, 7)
        if len(out) > 1000:
            out.clear()
    return total


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
