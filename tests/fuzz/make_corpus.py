#!/usr/bin/python3
"""Write the seed queries of tests/fuzz/corpus/ (one per SPEC §4 rule).

Run once after changing the list; the files are checked in.  Crashers
found by fuzz_query go in the same folder under crash-* names.
"""
import os
import struct
import sys

PZ = "spf.acme.iphmx.example"
V6 = ".".join("20010db8000000000000000000000001")
MAPPED = ".".join("00000000000000000000ffffc6336407")


def name(n):
    out = b""
    for label in n.split(".") if n else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def opt(size=1232, version=0, do=False, rdata=b"", owner=b"\0"):
    ttl = version << 16 | (0x8000 if do else 0)
    return owner + struct.pack(">HHIH", 41, size, ttl, len(rdata)) + rdata


def query(qname, qtype=1, qclass=1, flags=0, counts=None, extra=b"", edns=None, qid=0x4242):
    body = name(qname) + struct.pack(">HH", qtype, qclass) if qname is not None else b""
    qd, an, ns, ar = counts or (1 if qname is not None else 0, 0, 0, 0)
    if edns is not None:
        extra += edns
        if counts is None:
            ar += 1
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar) + body + extra


A_RR = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 0, 4) + b"\x01\x02\x03\x04"
SOA_RR = b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, 0, 22) + b"\0" * 22
KEEPALIVE = struct.pack(">HH", 11, 0)

seeds = {
    "listed-v4": query("198.51.100.7." + PZ),
    "listed-v4-any": query("10.0.0.7." + PZ, 255),
    "listed-v4-txt": query("10.0.0.7." + PZ, 16, edns=opt()),
    "listed-v6": query(V6 + "." + PZ, edns=opt(do=True)),
    "listed-v6-upper": query(V6.upper().replace("D", "d") + "." + PZ),
    "mapped-v4": query(MAPPED + "." + PZ),
    "unlisted-v4": query("198.51.100.8." + PZ),
    "unlisted-v6": query(".".join("30010db8000000000000000000000001") + "." + PZ),
    "tail-octets": query("198.51." + PZ),
    "tail-nibbles": query(".".join("20010db8000") + "." + PZ, 28),
    "tail-8888": query("8.8.8.8.spf.customer.example"),
    "delegated-listed": query("192.0.2.1.spf.customer.example", edns=opt(512)),
    "absent-underscore": query("_." + PZ),
    "absent-256": query("256.1.2.3." + PZ),
    "absent-0a": query("0a." + PZ),
    "absent-01": query("01.2.3.4." + PZ),
    "alloc-node": query("acme.iphmx.example"),
    "address-base": query(PZ),
    "unknown-alloc": query("1.2.3.4.spf.nope.iphmx.example"),
    "apex-soa": query("iphmx.example", 6, edns=opt()),
    "apex-ns": query("iphmx.example", 2),
    "apex-any": query("iphmx.example", 255),
    "apex-ds": query("iphmx.example", 43),
    "big-ns-udp": query("big.example", 2),
    "big-ns-tiny-edns": query("big.example", 2, edns=opt(100)),
    "big-ns-keepalive": query("big.example", 2, edns=opt(4096, rdata=KEEPALIVE)),
    "axfr": query("iphmx.example", 252),
    "ixfr-soa": query("iphmx.example", 251, counts=(1, 0, 1, 0), extra=SOA_RR),
    "outside": query("example.org", 1),
    "class-ch": query("iphmx.example", 6, qclass=3),
    "servfail": query("1.2.3.7.spf.broken.iphmx.example"),
    "0x20": query("198.51.100.7.SpF.aCmE.IPHMX.example", flags=0x0100),
    "cd-rd": query("198.51.100.7." + PZ, flags=0x0110),
    "short": b"\x42\x42\x00\x00\x00\x01\x00\x00\x00\x00\x00",
    "qr-set": query("iphmx.example", flags=0x8000),
    "notify": query("iphmx.example", 6, flags=4 << 11),
    "qdcount-0": query(None),
    "qdcount-2": query("iphmx.example", counts=(2, 0, 0, 0), extra=name("iphmx.example") + b"\0\1\0\1"),
    "ancount-1": query("iphmx.example", counts=(1, 1, 0, 0), extra=A_RR),
    "nscount-1": query("iphmx.example", counts=(1, 0, 1, 0), extra=A_RR),
    "label-64": query("a" * 64 + ".iphmx.example"),
    "name-256": query(".".join(["b" * 63] * 4)),
    "pointer-in-question": struct.pack(">HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x01a\xc0\x0c\0\1\0\1",
    "extended-label": struct.pack(">HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x41\0\0\1\0\1",
    "truncated-question": query("iphmx.example")[:-3],
    "trailing": query("iphmx.example") + b"\0",
    "two-opts": query("iphmx.example", counts=(1, 0, 0, 2), extra=opt() + opt()),
    "opt-in-answer": query("iphmx.example", counts=(1, 1, 0, 0), extra=opt()),
    "opt-owner": query("iphmx.example", counts=(1, 0, 0, 1), extra=opt(owner=b"\xc0\x0c")),
    "opt-bad-option": query("iphmx.example", edns=opt(rdata=b"\0\x0a\0\x08\1\2")),
    "badvers": query("198.51.100.7." + PZ, edns=opt(version=1, do=True)),
    "extra-a-in-additional": query("iphmx.example", 6, counts=(1, 0, 0, 2), extra=A_RR + opt()),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(out, exist_ok=True)
for key, data in seeds.items():
    with open(os.path.join(out, "seed-" + key), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {out}", file=sys.stderr)
