"""Stress: code objects compiled, run and freed as fast as they can be,
while being sampled."""


def churn(n):
    for i in range(n):
        f = eval(compile(f"lambda x: x + {i}", f"<gen{i}>", "eval"))
        f(i)
        exec(f"def g{i}():\n    return {i}\ng{i}()", {})
        (lambda: i)()


churn(6000)
print("ok")
