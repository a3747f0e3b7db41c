#!/usr/bin/env python3
"""Compute mailtrace trace and span IDs without mailtrace (standard library only).

Usage: trace_id.py MESSAGE-ID [HOST QUEUE-ID]
Prints the 32-hex trace ID, and the hop's 16-hex span ID when HOST and QUEUE-ID are given.
The scheme is documented in the README ("Trace and span IDs").
"""
import sys

MASK = (1 << 64) - 1
KEY = b"mailtrace-ids-v1"


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & MASK


def siphash24(data: bytes, out128: bool) -> int:
    k0 = int.from_bytes(KEY[:8], "little")
    k1 = int.from_bytes(KEY[8:], "little")
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573
    if out128:
        v1 ^= 0xEE

    def rounds(n):
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & MASK; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & MASK; v3 = _rotl(v3, 16); v3 ^= v2
            v0 = (v0 + v3) & MASK; v3 = _rotl(v3, 21); v3 ^= v0
            v2 = (v2 + v1) & MASK; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)

    tail = len(data) % 8
    for i in range(0, len(data) - tail, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v3 ^= m; rounds(2); v0 ^= m
    b = (len(data) & 0xFF) << 56
    b |= int.from_bytes(data[len(data) - tail:], "little")
    v3 ^= b; rounds(2); v0 ^= b
    v2 ^= 0xEE if out128 else 0xFF
    rounds(4)
    h1 = v0 ^ v1 ^ v2 ^ v3
    if not out128:
        return h1
    v1 ^= 0xDD
    rounds(4)
    h2 = v0 ^ v1 ^ v2 ^ v3
    return h1 | (h2 << 64)


def normalize(message_id: str) -> str:
    t = message_id.strip()
    if t.startswith("<"):
        t = t[1:]
    if t.endswith(">"):
        t = t[:-1]
    return t.strip()


def trace_id(message_id: str) -> str:
    v = siphash24(normalize(message_id).encode(), True) or 1
    return v.to_bytes(16, "big").hex()


def span_id(*parts: str) -> str:
    v = siphash24(b"\x1f".join(p.encode() for p in parts), False) or 1
    return v.to_bytes(8, "big").hex()


if __name__ == "__main__":
    if len(sys.argv) not in (2, 4):
        sys.exit(__doc__)
    mid = normalize(sys.argv[1])
    print(trace_id(mid))
    if len(sys.argv) == 4:
        print(span_id("hop", mid, sys.argv[2], sys.argv[3]))
