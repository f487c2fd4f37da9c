"""The classic leak demonstration: a function that appends 200,000
processed items to a list, against a generator that yields them."""
import snap


def processed_list(n):
    result = []
    for i in range(n):
        result.append(f"item-{i:07d}-processed")
    return result


def processed_gen(n):
    for i in range(n):
        yield f"item-{i:07d}-processed"


snap.take("before")
items = processed_list(200_000)
snap.take("after list")
total = sum(len(s) for s in processed_gen(200_000))
snap.take("after generator")
print(len(items), total)
