"""Allocation-heavy workload for running CPython on pyalloc (with PYTHONMALLOC=malloc every
object goes through malloc). Prints digests that must match an unpreloaded run."""

import hashlib
import json
import random
import sys

sys.set_int_max_str_digits(0)

rng = random.Random(1234)
digest = hashlib.sha256()

# dicts and lists of mixed objects, grown and shrunk
table = {}
for i in range(80_000):
    table[f"key{i}"] = [i, str(i) * (i % 7), {"n": i, "sq": i * i}]
    if i % 3 == 0:
        del table[f"key{i // 2}"]
print("dict", len(table), sum(v[0] for v in table.values()))

# strings: concatenation, splitting, joining, formatting
words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 30))) for _ in range(30_000)]
text = " ".join(words)
parts = text.split(" ")
print("strings", len(text), len(parts), len(set(parts)), sorted(parts)[:3])
digest.update(text.encode())

# big integers
f = 1
for k in range(1, 3000):
    f *= k
big = pow(3, 40_000) + f
print("bigint", big.bit_length(), str(big)[:30], str(big)[-30:])
digest.update(str(big % (10 ** 5000)).encode())

# json round trip of a nested structure
data = [{"id": i, "tags": words[i: i + 5], "vals": [rng.random() for _ in range(10)],
         "child": {"x": i * 1.5, "y": None, "z": [True, False]}} for i in range(10_000)]
encoded = json.dumps(data, sort_keys=True)
decoded = json.loads(encoded)
assert decoded == data
print("json", len(encoded), hashlib.sha256(encoded.encode()).hexdigest())

# many short-lived objects and reference cycles for the GC
class Node:
    def __init__(self, v):
        self.v = v
        self.other = None

total = 0
for i in range(40_000):
    a, b = Node(i), Node(-i)
    a.other, b.other = b, a
    total += a.v + len(bytearray(i % 300))
print("objects", total)
print("digest", digest.hexdigest())
