#!/usr/bin/python3
"""Write the seeds of tests/fuzz/corpus-{http,ctl,records,changelog,tcpframe}/.

Run once after changing the lists; the files are checked in beside the
inputs the fuzzers found (named by their hash, kept few with -merge=1).
Each target's first octet picks its mode (see the fuzz_*.c headers).
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(corpus, seeds):
    d = os.path.join(HERE, "corpus-" + corpus)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(data)


# ---- http: step octet (0x10: one read; else reads of (x & 15) + 1), request

def http(step, text):
    return bytes([step]) + text


CRLF = b"\r\n"
http_seeds = {
    "get": http(0x10, b"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"),
    "get-1byte-reads": http(0x00, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"),
    "get-3byte-reads": http(0x02, b"GET /metrics?x=1 HTTP/1.1\r\n\r\n"),
    "head": http(0x10, b"HEAD /metrics HTTP/1.0\r\n\r\n"),
    "lf-only": http(0x05, b"GET /metrics HTTP/1.1\nHost: a\n\n"),
    "lf-crlf": http(0x10, b"GET /metrics HTTP/1.1\n\r\n"),
    "leading-empty-lines": http(0x10, b"\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n"),
    "absolute-form": http(0x10, b"GET http://127.0.0.1:9153/metrics HTTP/1.1\r\n\r\n"),
    "absolute-https-upper": http(0x10, b"GET HTTPS://h/metrics?q HTTP/1.1\r\n\r\n"),
    "absolute-no-path": http(0x10, b"GET http://host HTTP/1.1\r\n\r\n"),
    "asterisk": http(0x10, b"OPTIONS * HTTP/1.1\r\n\r\n"),
    "star-get": http(0x10, b"GET * HTTP/1.1\r\n\r\n"),
    "post": http(0x10, b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
    "lowercase-get": http(0x10, b"get /metrics HTTP/1.1\r\n\r\n"),
    "http2": http(0x10, b"GET /metrics HTTP/2.0\r\n\r\n"),
    "http-x": http(0x10, b"GET /metrics HTTP/1.x\r\n\r\n"),
    "http-long-version": http(0x10, b"GET /metrics HTTP/1.11\r\n\r\n"),
    "two-spaces": http(0x10, b"GET  /metrics HTTP/1.1\r\n\r\n"),
    "trailing-space": http(0x10, b"GET /metrics HTTP/1.1 \r\n\r\n"),
    "tab": http(0x10, b"GET\t/metrics HTTP/1.1\r\n\r\n"),
    "no-version": http(0x10, b"GET /metrics\r\n\r\n"),
    "bare-cr": http(0x10, b"GET /metrics HTTP/1.1\r\r\n\r\n"),
    "ctl-in-target": http(0x10, b"GET /met\x7frics HTTP/1.1\r\n\r\n"),
    "utf8-target": http(0x10, b"GET /m\xc3\xa9trics HTTP/1.1\r\n\r\n"),
    "other-path": http(0x10, b"GET /metricsx HTTP/1.1\r\n\r\n"),
    "root": http(0x10, b"GET / HTTP/1.1\r\n\r\n"),
    "incomplete": http(0x10, b"GET /metrics HTTP/1.1\r\nHost: a\r\n"),
    "empty-line-only": http(0x10, b"\n\n"),
    "nul": http(0x10, b"GET /metrics\0 HTTP/1.1\r\n\r\n"),
    "oversize": http(0x10, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 8200 + b"\r\n\r\n"),
}

# ---- ctl: (mode | flags << 2); lines 0, args 1, options 2, quoting 3


def ctl(mode, flags, text):
    return bytes([mode | flags << 2]) + text


FORCE, WIDE_OK = 1, 2
ctl_seeds = {
    "lines": ctl(0, 0, b"192.0.2.0/24\n2001:db8::/32   # docs\n\n  10.0.0.1\t\r\n# only\n"),
    "lines-dups-unsorted": ctl(0, 0, b"198.51.100.0/24\n192.0.2.1\n198.51.100.0/24\n"
                                     b"2001:db8::1\n192.0.2.1/32\n::ffff:192.0.2.1\n"),
    "lines-sorted-dups": ctl(0, 0, b"1.0.0.0/8\n1.0.0.0/8\n2.0.0.0/8\n"),
    "lines-mapped": ctl(0, 0, b"::ffff:192.0.2.0/120\n::FFFF:C000:0201\n"),
    "lines-host-bits": ctl(0, 0, b"192.0.2.1/24\n"),
    "lines-wide": ctl(0, 0, b"0.0.0.0/0\n"),
    "lines-wide-force": ctl(0, FORCE, b"0.0.0.0/0\n::/0\n10.0.0.0/7\n"),
    "lines-wide-ok": ctl(0, WIDE_OK, b"::/15\n"),
    "lines-blank-inside": ctl(0, 0, b"192.0.2.1 192.0.2.2\n"),
    "lines-crlf-no-final-newline": ctl(0, 0, b"192.0.2.1\r\n2001:db8::2"),
    "lines-leading-zero": ctl(0, 0, b"192.0.2.01\n"),
    "lines-v6-forms": ctl(0, 0, b"::\n::1\n1::\n1:2:3:4:5:6:7:8\n::1.2.3.4\n1::2:3.4.5.6\n"
                                b"fe80::/10\nfc00::/7\n"),
    "lines-v6-bad": ctl(0, 0, b"1:2:3:4:5:6:7:8:9\n"),
    "lines-length-forms": ctl(0, 0, b"10.0.0.0/08\n"),
    "lines-special": ctl(0, 0, b"127.0.0.1\n169.254.0.0/16\n100.64.0.0/10\n"),
    "lines-many": ctl(0, 0, b"".join(b"10.%d.%d.0/24\n" % (i % 7, i) for i in range(40))),
    "args": ctl(1, 0, b"192.0.2.1\0" + b"2001:db8::/48\0" + b"192.0.2.1"),
    "args-dash-mixed": ctl(1, 0, b"192.0.2.1\0-"),
    "args-empty": ctl(1, 0, b""),
    "args-bad": ctl(1, 0, b"192.0.2.0/33"),
    "opt-ttl": ctl(2, 0, b"300"),
    "opt-ttl-max": ctl(2, 0, b"604800"),
    "opt-ttl-zero": ctl(2, 0, b"0"),
    "opt-ttl-huge": ctl(2, 0, b"99999999999999999999999"),
    "opt-since-date": ctl(2, 0, b"2026-11-23"),
    "opt-since-time": ctl(2, 0, b"2026-11-23T10:00:00Z"),
    "opt-since-minutes": ctl(2, 0, b"2026-11-23 10:00"),
    "opt-since-ago": ctl(2, 0, b"7d"),
    "opt-since-weeks": ctl(2, 0, b"2w"),
    "opt-since-big": ctl(2, 0, b"1653439153w"),
    "opt-since-1969": ctl(2, 0, b"1969-12-31T23:59:59Z"),
    "opt-mailbox": ctl(2, 0, b"dns.Admin@Example.COM."),
    "opt-mailbox-bad": ctl(2, 0, b"a..b@example.com"),
    "opt-ns-list": ctl(2, 1, b"NS1.Example.com.\0ns2.example.com\0ns1.example.com"),
    "opt-ns-17": ctl(2, 0, b"\0".join(b"ns%d.example" % i for i in range(17))),
    "opt-name-63-label": ctl(2, 0, b"a" * 63 + b".example"),
    "opt-alloc": ctl(2, 0, b"Acme-Corp"),
    "opt-alloc-dash": ctl(2, 0, b"-acme"),
    "quote-plain": ctl(3, 0, b"plain text"),
    "quote-escape": ctl(3, 5, b"\x1b[31mred\x1b[0m 'q' \\ \n\t"),
    "quote-utf8": ctl(3, 9, "é€𝄞".encode()),
    "quote-bad-utf8": ctl(3, 13, b"\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe0\x80 \xff"),
    "quote-long": ctl(3, 40, b"x" * 150 + b"\x01" * 60),
    "quote-dots": ctl(3, 2, b"." * 200),
}

# ---- records: (kind, key length) + key + value; kinds as fuzz_records.c


def rec(kind, key, value):
    return bytes([kind, len(key)]) + key + value


def s8(s):
    return bytes([len(s)]) + s


def zonerec(alloc_id=0, ttl=300, neg=60, hm=b"", ns=(b"ns1.example.net", b"ns2.example.net")):
    return (b"\x01" + struct.pack(">III", alloc_id, ttl, neg) + s8(hm) + bytes([len(ns)]) +
            b"".join(s8(n) for n in ns))


def unkeyed(kind, value):
    return bytes([kind]) + value


META3 = struct.pack(">IIQqIQQ", 3, 1700000000, 7, 1700000000, 4, 1, 9)
SECRET = bytes(range(32))
records_seeds = {
    "zone": rec(0, b"iphmx.example", zonerec()),
    "zone-delegated": rec(0, b"spf.customer.example",
                          zonerec(7, 3600, 300, b"dns.admin@customer.example")),
    "zone-16-ns": rec(0, b"big.example", zonerec(ns=[b"ns%02d.example.net" % i for i in range(16)])),
    "zone-0-ns": rec(0, b"z.example", zonerec(ns=[])),
    "zone-17-ns": rec(0, b"z.example", zonerec(ns=[b"n"] * 17)),
    "zone-trailing": rec(0, b"z.example", zonerec() + b"\0"),
    "zone-short": rec(0, b"z.example", zonerec()[:-3]),
    "zone-version-2": rec(0, b"z.example", b"\x02" + zonerec()[1:]),
    "zone-no-key": rec(0, b"", zonerec()),
    "zone-long-key": bytes([0, 255]) + b"a" * 255 + zonerec(),
    "meta-3": unkeyed(1, META3),
    "meta-2": unkeyed(1, META3[:28].replace(b"\0\0\0\x03", b"\0\0\0\x02", 1)),
    "meta-3-short": unkeyed(1, META3[:28]),
    "meta-long": unkeyed(1, META3 + b"\0" * 4),
    "alloc": rec(2, b"default", struct.pack(">IQQ", 1, 10, 3)),
    "alloc-short": rec(2, b"acme", struct.pack(">IQ", 2, 10)),
    "alloc-64": rec(2, b"a" * 64, struct.pack(">IQQ", 2, 0, 0)),
    "key": rec(3, b"tsig.example", b"\x01\x01" + s8(SECRET) + struct.pack(">q", 1700000000)),
    "key-short-secret": rec(3, b"k", b"\x01\x01" + s8(SECRET[:8]) + struct.pack(">q", 0)),
    "key-alg-2": rec(3, b"k", b"\x01\x02" + s8(SECRET) + struct.pack(">q", 0)),
    "key-secret-65": rec(3, b"k", b"\x01\x01\x41" + b"s" * 65 + struct.pack(">q", 0)),
    "xfr-zone": unkeyed(4, b"\x01" + s8(b"xfr.example") + s8(b"primary.invalid")),
    "xfr-zone-upper": unkeyed(4, b"\x01" + s8(b"XFR.example") + s8(b"ns.example")),
    "replica-v4": rec(5, b"192.0.2.1:53", b"\x01" + s8(b"tsig.example")),
    "replica-v6": rec(5, b"[2001:db8::1]:5300", b"\x01" + s8(b"k")),
    "replica-not-canonical": rec(5, b"192.0.2.1", b"\x01" + s8(b"k")),
    "primary": unkeyed(6, b"\x01" + s8(b"xfr.example") + s8(b"tsig.example") + b"\x02" +
                       s8(b"192.0.2.1:53") + s8(b"[2001:db8::1]:53")),
    "primary-9": unkeyed(6, b"\x01" + s8(b"x") + s8(b"k") + b"\x09" + s8(b"192.0.2.1:53") * 9),
    "follow": unkeyed(7, b"\x01\x01" + struct.pack(">Iqq", 1700000000, 1700000100, 1700000000)),
    "follow-short": unkeyed(7, b"\x01\x00" + struct.pack(">Iq", 1, 2)),
}

# ---- changelog: flags (bit 0: built; raw: json 4, --allocation 8), key, value

EV = dict(CTX=1, ALLOC_ADD=0x31, ALLOC_DEL=0x32, ZONE_ADD=0x41, ZONE_SET=0x42, ZONE_DEL=0x43,
          ZONE_ADD2=0x44, ZONE_SET2=0x45, ZONE_DEL2=0x46, MEMBER_ADD=0x51, MEMBER_DEL=0x52,
          ADD4=0x14, ADD6=0x16, DEL4=0x24, DEL6=0x26)


def s16(s):
    return struct.pack(">H", len(s)) + s + b"\0"


def head(version=2, when=1700000000, before=1, after=2, n=0, user=b"alice", sudo=b"",
         cmd=b"spfdb-ctl add 192.0.2.0/24"):
    h = bytes([version]) + struct.pack(">q", when)
    if version == 2:
        h += struct.pack(">III", before, after, n)
    return h + s16(user) + s16(sudo) + s16(cmd)


def raw(flags, value, seq=1):
    return bytes([flags << 1]) + struct.pack(">Q", seq) + value


def ctx(name):
    return bytes([EV["CTX"]]) + s16(name)


def entry(op, plen, addr):
    return bytes([EV[op], plen]) + addr


def zone2(op, name, old=None, new=None):
    out = bytes([EV[op]]) + s16(name)
    for side in (old, new):
        if side is not None:
            out += s16(side[0]) + s16(side[1])
    return out


V6 = bytes.fromhex("20010db8000000000000000000000000")
ENTRIES = (ctx(b"acme") + entry("ADD4", 24, bytes([192, 0, 2, 0])) + entry("ADD6", 32, V6) +
           entry("DEL4", 32, bytes([198, 51, 100, 7])) + ctx(b"default") +
           entry("DEL6", 128, V6[:15] + b"\1"))
Z_OLD = zonerec(7, 300, 60)
Z_NEW = zonerec(7, 600, 60, b"dns.admin@customer.example")
ZONES = (zone2("ZONE_ADD2", b"spf.customer.example", new=(b"cust", Z_OLD)) +
         zone2("ZONE_SET2", b"spf.customer.example", (b"cust", Z_OLD), (b"", Z_NEW)) +
         zone2("ZONE_DEL2", b"spf.customer.example", old=(b"", Z_NEW)))
OTHER = (bytes([EV["ALLOC_ADD"]]) + s16(b"cust") + bytes([EV["MEMBER_ADD"]]) + s16(b"acme") +
         s16(b"cust") + bytes([EV["MEMBER_DEL"]]) + s16(b"acme") + s16(b"cust") +
         bytes([EV["ALLOC_DEL"]]) + s16(b"cust"))
V1_ZONES = (bytes([EV["ZONE_ADD"]]) + s16(b"z.example") + s16(b"") +
            s16(b"ttl=300 negative-ttl=60 hostmaster=default ns=ns1.example.net") +
            bytes([EV["ZONE_DEL"]]) + s16(b"z.example") + s16(b"acme") + s16(b""))
JSON, ALLOC = 2, 4


def built(flags, data):
    return bytes([1 | flags << 1]) + data


changelog_seeds = {
    "entries": raw(0, head(n=4) + ENTRIES),
    "entries-json": raw(JSON, head(n=4) + ENTRIES),
    "entries-alloc": raw(ALLOC, head(n=4) + ENTRIES),
    "zones": raw(0, head(n=3) + ZONES),
    "zones-json": raw(JSON, head(n=3, sudo=b"bob") + ZONES),
    "other": raw(JSON, head(n=4) + OTHER),
    "version-1": raw(0, head(1, user=b"root", sudo=b"carol", cmd=b"zone add") + V1_ZONES),
    "version-1-json": raw(JSON, head(1) + V1_ZONES + ctx(b"x") + entry("ADD4", 8, b"\x0a\0\0\0")),
    "empty": raw(0, head(n=0)),
    "user-escapes": raw(0, head(user=b"\x1b]0;x\x07", sudo=b"\xff", cmd=b"a\nb\\c")),
    "user-long": raw(0, head(user=b"\x1b" * 300, sudo=b"bob", cmd=b"\x1b" * 300)),
    "entry-without-ctx": raw(0, head(n=1) + entry("ADD4", 24, bytes([192, 0, 2, 0]))),
    "entry-len-33": raw(0, head(n=2) + ctx(b"a") + entry("ADD4", 33, bytes(4))),
    "entry-cut": raw(0, head(n=1) + ctx(b"a") + entry("ADD6", 64, V6[:8])),
    "string-no-nul": raw(0, head(n=1) + bytes([EV["ALLOC_ADD"]]) + b"\0\3abcd"),
    "unknown-op": raw(0, head(n=1) + b"\x99"),
    "zone-bad-side": raw(0, head(n=1) + zone2("ZONE_ADD2", b"z", new=(b"", Z_OLD[:-1]))),
    "head-short": raw(0, head()[:15]),
    "key-short": bytes([0]) + b"\0\0\0\1" + head(),
    "built-mixed": built(0, b"\x03joe\x00\x05hello" + b"\x00\x04acme\x18\xc0\x00\x02\x00" +
                         b"\x01\x04cust" + b"\x02\x01a\x01b" +
                         b"\x03\x01z\x04cust" + b"\0\0\0\7" * 3 + b"\x00\x01" + b"\x02ns"),
    "built-zones-json": built(JSON, b"\0\0\0" + b"\x07\x05z.exa" + b"\x00" * 13 + b"\x02\x02n1\x02n2" +
                              b"\x04\x00" + b"\x00" * 13 + b"\x01\x01n" + b"\x0b\x01z" + b"\x00" * 20),
}

# ---- tcpframe: bound octet (bit 7: 65535, else 1 + x), read octet (reads
# of 1 + x), 8 octets of split seed, then the stream a client sends

def tcpframe(bound, read, stream, seed=b"\x01\x23\x45\x67\x89\xab\xcd\xef"):
    return bytes([bound, read]) + seed + stream


def framed(msg):
    return struct.pack(">H", len(msg)) + msg


# A query for 1.2.3.4.spf.acme.example A with an OPT record.
QUERY = (b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x01" +
         b"".join(bytes([len(l)]) + l for l in
                  (b"4", b"3", b"2", b"1", b"spf", b"acme", b"example")) + b"\x00" +
         b"\x00\x01\x00\x01" + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00")
tcpframe_seeds = {
    "one-query": tcpframe(0x80, 255, framed(QUERY)),
    "pipelined": tcpframe(0x80, 15, framed(QUERY) * 3 + framed(QUERY)[:7]),
    "octet-reads": tcpframe(0x80, 0, framed(QUERY) * 2),
    "length-split": tcpframe(0x80, 1, framed(QUERY) + b"\x00"),
    "zero-length": tcpframe(0x80, 255, framed(QUERY) + b"\x00\x00" + QUERY),
    "over-bound": tcpframe(29, 7, framed(b"x" * 30) + framed(b"y" * 30)),
    "at-bound": tcpframe(29, 7, framed(b"x" * 30) * 3),
    "one-octet-messages": tcpframe(0, 2, framed(b"a") * 40 + b"\x00\x02b"),
    "large": tcpframe(0x80, 255, framed(bytes(range(256)) * 16) + framed(QUERY)),
    "largest-length": tcpframe(0x80, 255, b"\xff\xff" + b"z" * 600),
    "empty": tcpframe(0x80, 255, b""),
}

if __name__ == "__main__":
    only = sys.argv[1:]
    for name, seeds in (("http", http_seeds), ("ctl", ctl_seeds), ("records", records_seeds),
                        ("changelog", changelog_seeds), ("tcpframe", tcpframe_seeds)):
        if not only or name in only:
            write(name, seeds)
