"""Whole transfers against an independent implementation (dnspython 2.3),
without sockets: xfr_pipe plays our server or our follower.

- Ours read by dnspython: every message parsed with the key
  (dns.message.from_wire, TSIG chained across messages, multi=True) and
  fed to dns.xfr.Inbound, which applies an IXFR's deletions exactly (a
  deletion of a record not present fails), into a dns.zone.Zone; the
  zone after AXFR(0) is layout-v1.txt, and AXFR(k) + IXFR(k -> 3) equals
  AXFR(3), whatever the split.
- dnspython's read by ours: AXFR and IXFR streams it signs, and each
  damage (a flipped byte, a wrong key, its clock off, another question, a
  cut, a broken chain, an error reply) gives our reader's code.

Usage: test_xfr_dnspython.py PATH/TO/xfr_pipe
"""
import os
import struct
import subprocess
import sys
import unittest

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.xfr
import dns.zone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import at  # dnspython's clock, fixed  # noqa: E402

PIPE = None
HERE = os.path.dirname(os.path.abspath(__file__))
T = 1796620000
ORIGIN = dns.name.from_text("xfr.esp.example.")

# in.h's codes
DONE, ETRUNCATED, ETSIG, ERCODE, EQUESTION, ECHAIN = 1, -1, -2, -3, -7, -10
TSIG_EBADSIG, TSIG_EBADTIME = -4, -5
FRAME_ECHAIN = -2


def serial(state):
    return T + 7 * state


def keyring(secret=None):
    name, hexsecret = subprocess.run([PIPE, "key"], capture_output=True, check=True,
                                     text=True).stdout.split()
    key = dns.tsig.Key(name, secret or bytes.fromhex(hexsecret), dns.tsig.HMAC_SHA256)
    return {dns.name.from_text(name): key}, dns.name.from_text(name)


def split(stream):
    out = []
    while stream:
        (n,) = struct.unpack(">H", stream[:2])
        out.append(stream[2:2 + n])
        stream = stream[2 + n:]
    return out


def frame(msgs):
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs)


def serve(wire, state, cap=65535, per=0, mask=0):
    out = subprocess.run([PIPE, "serve", str(state), str(cap), str(per), str(mask)],
                         input=frame([wire]), capture_output=True, check=True, timeout=30)
    return split(out.stdout)


def rrs(zone):
    """The zone's records as presentation lines, absolute."""
    lines = set()
    for name, ttl, rd in zone.iterate_rdatas():
        owner = name.derelativize(ORIGIN)
        lines.add("%s %d IN %s %s" % (owner, ttl, dns.rdatatype.to_text(rd.rdtype),
                                      rd.to_text(origin=ORIGIN, relativize=False)))
    return lines


def transfer(zone, state, from_serial=None, use_edns=False, **split_opts):
    """Our answer to dnspython's AXFR (from_serial None) or IXFR, applied
    to ZONE by dns.xfr.Inbound; returns the messages and the SOAs in them."""
    ring, name = keyring()
    q, base = dns.xfr.make_query(zone, serial=from_serial, use_edns=use_edns, keyring=ring,
                                 keyname=name, keyalgorithm=dns.tsig.HMAC_SHA256)
    wire = at(T, q.to_wire)
    msgs = serve(wire, state, **split_opts)
    rdtype = q.question[0].rdtype
    is_ixfr = rdtype == dns.rdatatype.IXFR
    done = False
    soas = 0
    with dns.xfr.Inbound(zone, rdtype, base) as inbound:
        ctx = None
        for w in msgs:
            assert not done, "messages after the end"
            r = at(T, lambda: dns.message.from_wire(
                w, keyring=q.keyring, request_mac=q.mac, xfr=True, origin=zone.origin,
                tsig_ctx=ctx, multi=True, one_rr_per_rrset=is_ixfr))
            done = inbound.process_message(r)
            ctx = r.tsig_ctx
            soas += sum(1 for rrset in r.answer if rrset.rdtype == dns.rdatatype.SOA)
            if use_edns is not False:
                assert r.edns == 0 and r.payload == 1232
        assert done and r.had_tsig
    return msgs, soas


def layout_text():
    with open(os.path.join(HERE, "layout-v1.txt")) as f:
        return f.read().splitlines()


SPLITS = [dict(), dict(cap=300), dict(cap=290, mask=0xAAAA), dict(per=1), dict(per=4, mask=6)]


class OursReadByDnspython(unittest.TestCase):
    def test_axfr(self):
        want = set(layout_text())
        for opts in SPLITS:
            for edns in (False, 0):
                with self.subTest(opts=opts, edns=edns):
                    zone = dns.zone.Zone(ORIGIN)
                    msgs, _ = transfer(zone, 0, use_edns=edns, **opts)
                    self.assertEqual(rrs(zone), want)
                    if opts.get("per") == 1:
                        self.assertEqual(len(msgs), 20)

    def test_ixfr(self):
        final = dns.zone.Zone(ORIGIN)
        transfer(final, 3)
        for start in (0, 1, 2):
            for opts in SPLITS:
                with self.subTest(start=start, opts=opts):
                    zone = dns.zone.Zone(ORIGIN)
                    transfer(zone, start)
                    self.assertNotEqual(rrs(zone), rrs(final))
                    _, soas = transfer(zone, 3, from_serial=serial(start), **opts)
                    self.assertEqual(rrs(zone), rrs(final))
                    # one difference sequence per commit
                    self.assertEqual(soas, 2 + 2 * (3 - start))

    def test_current_and_soa(self):
        zone = dns.zone.Zone(ORIGIN)
        transfer(zone, 2)
        before = rrs(zone)
        msgs, _ = transfer(zone, 2, from_serial=serial(2))
        self.assertEqual(len(msgs), 1)
        self.assertEqual(rrs(zone), before)
        ring, name = keyring()
        q = dns.message.make_query(ORIGIN, "SOA", use_edns=False)
        q.use_tsig(ring, name, algorithm=dns.tsig.HMAC_SHA256)
        wire = at(T, q.to_wire)
        (reply,) = serve(wire, 2)
        r = at(T, lambda: dns.message.from_wire(reply, keyring=ring, request_mac=q.mac))
        self.assertTrue(r.had_tsig and r.flags & dns.flags.AA)
        self.assertEqual(r.answer[0][0].serial, serial(2))
        self.assertEqual(len(r.answer), 1)


def records(lines):
    return [dns.rrset.from_text(*line.split(" ", 4)) for line in lines]


SOA0 = layout_text()[0]


def soa(n):
    return SOA0.replace(str(T), str(n))


class TheirsReadByOurs(unittest.TestCase):
    def read(self, qtype, base, bodies, ring=None, skew=0, damage=None, question=None, rcode=0,
             sign=None, now=T):
        """Our reader asks; dnspython answers with BODIES (a list of record
        line lists), each message signed unless SIGN says otherwise."""
        args = [PIPE, "read", qtype, str(base)] + ([str(skew)] if skew else [])
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        (n,) = struct.unpack(">H", p.stdout.read(2))
        req = p.stdout.read(n)
        qp = at(T, lambda: dns.message.from_wire(req, keyring=keyring()[0]))
        ctx = None
        out = []
        for i, body in enumerate(bodies):
            r = dns.message.make_response(qp)
            r.flags |= dns.flags.AA
            r.set_rcode(rcode)
            if question is not None:
                r.question = [dns.rrset.RRset(dns.name.from_text(question[0]),
                                              dns.rdataclass.IN,
                                              dns.rdatatype.from_text(question[1]))]
            for rrset in records(body):
                r.answer.append(rrset)
            if ring is not None:  # the key's name, another secret
                r.use_tsig(ring, qp.keyname, fudge=300, algorithm=dns.tsig.HMAC_SHA256)
            if sign is not None and not sign[i]:
                r.tsig = None
                w = r.to_wire()
                if ctx is not None:
                    ctx.update(w)
            else:
                w = at(now, lambda: r.to_wire(multi=True, tsig_ctx=ctx))
                ctx = r.tsig_ctx
            out.append(w)
        if damage:
            out = damage(out)
        got, _ = p.communicate(frame(out), timeout=30)
        self.assertEqual(p.returncode, 0)
        return got.decode().splitlines()

    def test_axfr(self):
        lines = layout_text()
        bodies = [lines[:5], lines[5:12], lines[12:] + [SOA0]]
        got = self.read("axfr", 0, bodies)
        self.assertEqual(got[0], "begin axfr %d" % T)
        self.assertEqual(got[-2:], ["end axfr %d" % T, "result 1 0"])
        self.assertEqual(len(got), 3 + 16)
        self.assertIn("add entry acme 198.51.100.0/24", got)
        self.assertIn("add member global eu", got)
        # an unsigned message between two signed ones
        self.assertEqual(self.read("axfr", 0, bodies, sign=[True, False, True])[-1],
                         "result 1 0")

    def test_ixfr(self):
        o = ORIGIN.to_text()
        bodies = [[soa(T + 20), soa(T), "10-0-0-0-8.default.a.%s 0 IN APL 1:10.0.0.0/8" % o,
                   soa(T + 10)],
                  ["us.a.%s 0 IN TXT \"allocation\"" % o, soa(T + 10),
                   "eu.m.global.a.%s 0 IN PTR eu.a.%s" % (o, o), soa(T + 20)],
                  ["us.m.global.a.%s 0 IN PTR us.a.%s" % (o, o), soa(T + 20)]]
        got = self.read("ixfr", T, bodies)
        self.assertEqual(got, [
            "begin ixfr %d" % (T + 20), "seq %d" % T, "del entry default 10.0.0.0/8",
            "adds %d %d" % (T, T + 10), "add alloc us", "end-seq %d %d" % (T, T + 10),
            "seq %d" % (T + 10), "del member global eu", "adds %d %d" % (T + 10, T + 20),
            "add member global us", "end-seq %d %d" % (T + 10, T + 20),
            "end ixfr %d" % (T + 20), "result 1 0"])
        # up to date
        self.assertEqual(self.read("ixfr", T, [[soa(T)]]),
                         ["begin current %d" % T, "end current %d" % T, "result 1 0"])

    def test_errors(self):
        lines = layout_text()
        bodies = [lines[:5], lines[5:12], lines[12:] + [SOA0]]

        def flip(msgs):
            m = bytearray(msgs[1])
            m[m.index(b"\xc6\x33\x64") + 2] ^= 1  # 198.51.100.0/24 in an APL
            return [msgs[0], bytes(m), msgs[2]]

        cases = [
            (dict(damage=flip), ETSIG, TSIG_EBADSIG),
            (dict(ring=keyring(b"another secret of 32 octets....")[0]), ETSIG, TSIG_EBADSIG),
            (dict(now=T + 400), ETSIG, TSIG_EBADTIME),
            (dict(skew=-301), ETSIG, TSIG_EBADTIME),
            (dict(question=("other.example.", "AXFR")), EQUESTION, 0),
            (dict(question=(ORIGIN.to_text(), "IXFR")), EQUESTION, 0),
            (dict(damage=lambda msgs: msgs[:2]), ETRUNCATED, 0),
            (dict(damage=lambda msgs: msgs[:2] + [msgs[2][:-1]]), -8, 0),
            (dict(rcode=dns.rcode.REFUSED), ERCODE, 5),
            (dict(rcode=dns.rcode.REFUSED, sign=[False] * 3), ERCODE, 5),
            (dict(sign=[True, True, False]), ETSIG, -1),
        ]
        for opts, code, detail in cases:
            with self.subTest(opts=opts):
                got = self.read("axfr", 0, bodies, **opts)
                self.assertEqual(got[-1], "result %d %d" % (code, detail))
                self.assertFalse([line for line in got if line.startswith("end ")])
        # an IXFR chain that does not start at our serial
        got = self.read("ixfr", T, [[soa(T + 20), soa(T + 1), soa(T + 20), soa(T + 20)]])
        self.assertEqual(got[-1], "result %d %d" % (ECHAIN, FRAME_ECHAIN))


if __name__ == "__main__":
    PIPE = sys.argv.pop(1)
    unittest.main(verbosity=2)
