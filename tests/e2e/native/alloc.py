"""Memory that C code allocates: json's encoder (an extension module) makes
the strings, zlib's decompressor the bytes, each under its Python caller."""
import json
import zlib

keep = []


def dump_them():
    doc = {"k%d" % i: i for i in range(5000)}
    for _ in range(100):
        keep.append(json.dumps(doc))


def inflate_them():
    blob = zlib.compress(bytes(1 << 20))
    for _ in range(20):
        keep.append(zlib.decompress(blob))


dump_them()
inflate_them()
print("ok")
