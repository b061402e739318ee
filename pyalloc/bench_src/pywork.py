"""Allocation-heavy Python, run by `pyalloc bench` with PYTHONMALLOC=malloc so that every
object the interpreter creates comes from the allocator under test.

Usage: python pywork.py ROUNDS

Each round builds records (dicts, strings, tuples, instances), sorts and groups them,
round-trips them through JSON and drops them. Every derived value is checked against an
independent computation; a mismatch exits with status 3, like the C workloads.
"""
import gc
import json
import os
import sys


class Point:
    __slots__ = ("x", "y", "label")

    def __init__(self, x, y, label):
        self.x = x
        self.y = y
        self.label = label


class Node:
    def __init__(self, key, children):
        self.key = key
        self.children = children


def corrupt(what):
    print("CORRUPTION: pywork: %s" % what, file=sys.stderr)
    sys.exit(3)


def make_tree(depth, key):
    if depth == 0:
        return Node(key, [])
    return Node(key, [make_tree(depth - 1, key * 3 + i) for i in range(3)])


def tree_sum(node):
    return node.key + sum(tree_sum(c) for c in node.children)


def expected_tree_sum(depth, key):
    # Closed form of tree_sum(make_tree(depth, key)) computed level by level without objects.
    total, level = 0, [key]
    for _ in range(depth + 1):
        total += sum(level)
        level = [k * 3 + i for k in level for i in range(3)]
    return total


def one_round(r):
    n = 20000
    records = [
        {"id": i, "name": "user-%d-%s" % (i, "x" * (i % 17)), "group": (i * 7919 + r) % 101,
         "tags": ("t%d" % (i % 5), "u%d" % (i % 3)), "score": (i * 31 + r) % 997}
        for i in range(n)
    ]
    records.sort(key=lambda d: (d["group"], -d["score"], d["id"]))
    groups = {}
    for d in records:
        groups.setdefault(d["group"], []).append(d["score"])
    if sum(len(v) for v in groups.values()) != n:
        corrupt("grouping lost records")
    want = sum((i * 31 + r) % 997 for i in range(n))
    if sum(sum(v) for v in groups.values()) != want:
        corrupt("scores changed")

    text = json.dumps(records[: n // 4])
    if json.loads(text) != json.loads(json.dumps(records[: n // 4])):
        corrupt("JSON round trip differs")

    words = " ".join(d["name"] for d in records).split(" ")
    if len(words) != n or len(set(words)) != n:
        corrupt("string split/join lost names")

    points = [Point(i, i * 2, str(i)) for i in range(n)]
    if sum(p.y - p.x for p in points) != n * (n - 1) // 2:
        corrupt("instances changed")

    tree = make_tree(7, r)
    if tree_sum(tree) != expected_tree_sum(7, r):
        corrupt("object tree changed")

    # Cycles, so that the collector has work and frees in its own order.
    ring = [Node(i, []) for i in range(5000)]
    for a, b in zip(ring, ring[1:] + ring[:1]):
        a.children.append(b)
    del ring, tree, points, words, text, groups, records
    gc.collect()
    return want


def main():
    # -E and -I make the interpreter ignore PYTHONMALLOC and keep pymalloc, which would
    # leave the allocator under test only the few blocks above 512 bytes.
    if sys.flags.ignore_environment or os.environ.get("PYTHONMALLOC") != "malloc":
        sys.exit("pywork: run with PYTHONMALLOC=malloc and without -E or -I")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    checksum = 0
    for r in range(rounds):
        checksum = (checksum * 1000003 + one_round(r)) % (1 << 61)
    print("ok pywork checksum=%016x" % checksum)


if __name__ == "__main__":
    main()
