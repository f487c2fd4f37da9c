"""Records far more than a small disk holds: 2,000 allocation sites kept
alive, each snapshot of them some tens of KiB, and 200 snapshots. Prints
how far it got and exits with the status given as its argument."""
import sys

try:
    import pyscope
except ImportError:
    pyscope = None

SITES = 2000
ns = {}
exec(compile("\n".join(f"def site{i}(): return [{i}] * 8" for i in range(SITES)),
             "sites.py", "exec"), ns)
keep = [ns[f"site{i}"]() for i in range(SITES)]
for n in range(200):
    keep.append(bytearray(1000))
    if pyscope:
        pyscope.snapshot(f"round {n}")
print("done", len(keep), flush=True)
sys.exit(int(sys.argv[1]))
