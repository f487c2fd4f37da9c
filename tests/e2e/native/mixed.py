"""Time in C: zlib, json and re, each called from its own Python function."""
import json
import os
import re
import zlib

data = os.urandom(1 << 14) * 16


def compress_all():
    for _ in range(60):
        zlib.compress(data, 9)


def dump_all():
    obj = {"k%d" % i: list(range(20)) for i in range(2000)}
    for _ in range(30):
        json.dumps(obj)


def sub_all():
    text = "abc def ghi " * 20000
    for _ in range(30):
        re.sub(r"d\w+", "X", text)


compress_all()
dump_all()
sub_all()
