"""Keep N small blocks alive, then print the process's peak RSS in KiB and
the number of blocks made: for the memory tracer's bytes per live block."""
import resource
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
# Floats: one 24-byte pymalloc block each, with no interning or free list
# to hide them.
kept = [float(i) + 0.5 for i in range(n)]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, n + 1)
