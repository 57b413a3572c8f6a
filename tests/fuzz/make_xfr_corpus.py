#!/usr/bin/python3
"""Write the seeds of tests/fuzz/corpus-xfr-in/ (fuzz_xfr_in.c: replies
to our SOA, AXFR and IXFR requests) and tests/fuzz/corpus-xfr-parse/
(fuzz_xfr_parse.c: messages of layout-1 records, good and refused).

Run once after changing the list; the files are checked in.  Crashers
found by the targets go in the same folders under crash-* names.
"""
import os
import struct
import sys

import dns.flags
import dns.message
import dns.rcode
import dns.rrset

HERE = os.path.dirname(os.path.abspath(__file__))
XFR = os.path.join(HERE, "..", "xfr")
ORIGIN = "xfr.esp.example."
T = 1796620000
SIGNED, FOLDED, BARE = 1, 0, 2  # fuzz_xfr_in's frame flags


def layout():
    with open(os.path.join(XFR, "layout-v1.txt")) as f:
        return f.read().splitlines()


def soa(n):
    return layout()[0].replace(str(T), str(n))


def body(qtype, lines, rcode=0, question=True):
    q = dns.message.make_query(ORIGIN, qtype, use_edns=False)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    r.set_rcode(rcode)
    if not question:
        r.question = []
    for line in lines:
        r.answer.append(dns.rrset.from_text(*line.split(" ", 4)))
    return r.to_wire()


def reply(mode, serial, qtype, bodies, flags=None):
    out = struct.pack(">BI", mode, serial)
    for i, lines in enumerate(bodies):
        b = lines if isinstance(lines, bytes) else body(qtype, lines)
        out += struct.pack(">HB", len(b), flags[i] if flags else SIGNED) + b
    return out


def in_seeds():
    lines = layout()
    axfr = [lines[:5], lines[5:12], lines[12:] + [lines[0]]]
    o = ORIGIN
    ixfr = [[soa(T + 20), soa(T), "10-0-0-0-8.default.a.%s 0 IN APL 1:10.0.0.0/8" % o,
             soa(T + 10)],
            ["us.a.%s 0 IN TXT \"allocation\"" % o, soa(T + 10),
             "eu.m.global.a.%s 0 IN PTR eu.a.%s" % (o, o), soa(T + 20)],
            ["us.m.global.a.%s 0 IN PTR us.a.%s" % (o, o), soa(T + 20)]]
    return {
        "axfr": reply(1, 0, "AXFR", axfr),
        "axfr-one-message": reply(1, 0, "AXFR", [lines + [lines[0]]]),
        "axfr-unsigned-middle": reply(1, 0, "AXFR", axfr, [SIGNED, FOLDED, SIGNED]),
        "axfr-unsigned-end": reply(1, 0, "AXFR", axfr, [SIGNED, FOLDED, FOLDED]),
        "axfr-cut": reply(1, 0, "AXFR", axfr[:2]),
        "axfr-no-question-after": reply(1, 0, "AXFR", [
            axfr[0], body("AXFR", axfr[1], question=False), axfr[2]]),
        "axfr-nested-member": reply(1, 0, "AXFR", [
            lines + ["global.m.eu.a.%s 0 IN PTR global.a.%s" % (o, o), lines[0]]]),
        "axfr-after-end": reply(1, 0, "AXFR", [lines + [lines[0], lines[2]]]),
        "ixfr": reply(2, T, "IXFR", ixfr),
        "ixfr-unsigned-middle": reply(2, T, "IXFR", ixfr, [SIGNED, FOLDED, SIGNED]),
        "ixfr-current": reply(2, T, "IXFR", [[soa(T)]]),
        "ixfr-behind": reply(2, T + 50, "IXFR", [[soa(T)]]),
        "ixfr-axfr-form": reply(3, T - 5, "IXFR", axfr),
        "ixfr-chain-break": reply(2, T + 1, "IXFR", ixfr),
        "ixfr-refused": reply(2, T, "IXFR", [body("IXFR", [], dns.rcode.REFUSED)],
                              [BARE]),
        "soa": reply(0, 0, "SOA", [[lines[0]]]),
        "soa-empty": reply(0, 0, "SOA", [[]]),
        "axfr-kept-id": reply(5, 0, "AXFR", axfr),
    }


def parse_seeds():
    lines = layout()
    o = ORIGIN
    bad = [
        "198-51-100-0-24.acme.a.%s 0 IN APL 1:198.51.100.1/24" % o,
        "198-51-100-0-24.acme.a.%s 0 IN APL !1:198.51.100.0/24" % o,
        "--ffff-c633-6400-120.acme.a.%s 0 IN APL 2:::ffff:198.51.100.0/120" % o,
        "eu.m.global.a.%s 0 IN PTR us.a.%s" % (o, o),
        "x.z.%s 0 IN TXT \"allocation=\" \"ttl=1\" \"negative-ttl=1\" \"hostmaster=\""
        " \"colour=red\" \"ns.example.\"" % o,
        "_spfdb.%s 0 IN TXT \"layout=2\"" % o,
        "a.b.c.d.a.%s 0 IN TXT \"allocation\"" % o,
        "%s 0 IN RRSIG SOA 13 3 0 20300101000000 20200101000000 1 %s AAAA" % (o, o),
    ]
    upper = [line.split(" ", 1)[0].upper() + " " + line.split(" ", 1)[1] for line in lines]
    with open(os.path.join(XFR, "layout-v1.wire"), "rb") as f:
        golden = f.read()
    seeds = {"layout-v1": golden, "upper": body("AXFR", upper), "refused": body("AXFR", bad)}
    for i, line in enumerate(lines):
        seeds["record-%02d" % i] = body("AXFR", [line])
    return seeds


def main():
    for folder, seeds in (("corpus-xfr-in", in_seeds()), ("corpus-xfr-parse", parse_seeds())):
        path = os.path.join(HERE, folder)
        os.makedirs(path, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(path, "seed-" + name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
