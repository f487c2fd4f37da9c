"""Code objects that live and die in a subinterpreter, whose allocations
pyscope's hooks see: the peak is reached inside it, with tracebacks through
functions made there, which are gone when the exit snapshot names them."""
try:
    import _xxsubinterpreters as interpreters
except ImportError:
    import _interpreters as interpreters

CODE = '''
made = []
for i in range(40):
    ns = {}
    exec("def grow_%d():\\n    return [str(k) * 20 for k in range(20000)]" % i, ns)
    made.append(ns["grow_%d" % i]())
del made, ns
'''

interp = interpreters.create()
interpreters.run_string(interp, CODE)
interpreters.destroy(interp)
print("ok")
