"""tracemalloc used by the program itself under --memory: it must still see
its own allocations."""
import tracemalloc

tracemalloc.start()
data = [bytes(1000) for _ in range(1000)]
current, peak = tracemalloc.get_traced_memory()
stats = tracemalloc.take_snapshot().statistics("lineno")
top = stats[0].traceback[0]
print(current >= 1_000_000, peak >= current, top.lineno)
