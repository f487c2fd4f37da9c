"""The same function compiled again and again, as a template engine or a
plugin loader that compiles on every request does: each round execs one
definition anew (new code objects each time: the function's and its
comprehension's) and calls it. Its functions and their globals form a
cycle, so many are alive at once until a collection frees them together.
Prints the calls' total and the process's peak RSS in KiB."""
import resource
import sys

SOURCE = """
def handler(n):
    items = [str(i) for i in range(n)]
    return len(",".join(items))
"""

total = 0
for _ in range(int(sys.argv[1])):
    space = {}
    exec(compile(SOURCE, "<template>", "exec"), space)
    total += space["handler"](20)
print(total, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
