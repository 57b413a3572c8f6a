"""TSIG interop with an independent implementation (dnspython 2.3), live:
our signatures verified by dnspython, dnspython's verified by us, in both
roles, for single answers, AXFR streams with an unsigned middle, and the
error replies.

Usage: test_tsig_dnspython.py PATH/TO/tsig_pipe
"""
import struct
import subprocess
import sys
import unittest

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig

from make_golden import at  # dnspython's clock, fixed

PIPE = None
T = 1796620000
ORIGIN = "xfr.test."
SOA = ORIGIN + " 0 IN SOA primary.invalid. hostmaster.invalid. 1796620000 300 60 1209600 0"
KEY = "xfr-key.example."
SECRET = bytes(range(101, 133))

# Result codes of xfr/tsig.h
OK, UNSIGNED, FORMERR, BADKEY, BADSIG, BADTIME, BADTRUNC, PEER = 0, -1, -2, -3, -4, -5, -6, -7


def keyring(name=KEY, secret=SECRET):
    return {dns.name.from_text(name): dns.tsig.Key(name, secret, dns.tsig.HMAC_SHA256)}


class Pipe:
    def __init__(self, *keys):
        args = []
        for name, secret in keys or [(KEY, SECRET)]:
            args += [name, secret.hex()]
        self.p = subprocess.Popen([PIPE] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def op(self, code, now, wire=b""):
        self.p.stdin.write(code.encode() + struct.pack(">QH", now, len(wire)) + wire)
        self.p.stdin.flush()
        status, n = struct.unpack(">hH", self.p.stdout.read(4))
        return status, self.p.stdout.read(n)

    def close(self):
        self.p.stdin.close()
        self.p.stdout.close()
        assert self.p.wait(timeout=10) == 0


def query(rdtype="SOA", ring=None, name=KEY, qname=ORIGIN):
    q = dns.message.make_query(qname, rdtype, use_edns=False)
    if ring is not None:
        q.use_tsig(ring, name, fudge=300, algorithm=dns.tsig.HMAC_SHA256)
    return q


def unsigned_reply(q, *records, rcode=0):
    r = dns.message.make_response(q)
    r.tsig = None
    r.flags |= dns.flags.AA
    r.set_rcode(rcode)
    for text in records:
        r.answer.append(dns.rrset.from_text(*text.split(" ", 4)))
    return r.to_wire()


def tsig_rdata(wire, key=KEY):
    """The TSIG record we appended (owner uncompressed): (start, rdata)."""
    owner = dns.name.from_text(key).to_wire()
    start = wire.rindex(owner + b"\x00\xfa\x00\xff")
    at_rd = start + len(owner) + 10
    (rdlen,) = struct.unpack(">H", wire[at_rd - 2:at_rd])
    rd = dns.rdata.from_wire(dns.rdataclass.ANY, dns.rdatatype.TSIG, wire, at_rd, rdlen)
    return start, rd


class Interop(unittest.TestCase):
    def setUp(self):
        self.pipe = Pipe()

    def tearDown(self):
        self.pipe.close()

    def test_our_request(self):
        q = query()
        status, wire = self.pipe.op("R", T, q.to_wire())
        self.assertEqual(status, OK)
        m = at(T, lambda: dns.message.from_wire(wire, keyring=keyring()))
        self.assertTrue(m.had_tsig)
        self.assertEqual(m.keyname, dns.name.from_text(KEY))
        self.assertEqual(m.tsig[0].fudge, 300)
        self.assertEqual(m.tsig[0].time_signed, T)
        with self.assertRaises(dns.tsig.BadTime):
            at(T + 301, lambda: dns.message.from_wire(wire, keyring=keyring()))
        with self.assertRaises(dns.tsig.BadSignature):
            at(T, lambda: dns.message.from_wire(wire, keyring=keyring(secret=b"x" * 32)))

    def test_their_request(self):
        wire = at(T, query(ring=keyring()).to_wire)
        self.assertEqual(self.pipe.op("Q", T - 300, wire)[0], OK)
        self.assertEqual(self.pipe.op("Q", T + 301, wire)[0], BADTIME)
        wrong = at(T, query(ring=keyring(secret=b"y" * 32)).to_wire)
        self.assertEqual(self.pipe.op("Q", T, wrong)[0], BADSIG)
        other = at(T, query(ring=keyring("nobody.example."), name="nobody.example.").to_wire)
        self.assertEqual(self.pipe.op("Q", T, other)[0], BADKEY)

    def test_our_reply(self):
        q = query(ring=keyring())
        wire = at(T, q.to_wire)
        self.assertEqual(self.pipe.op("Q", T, wire)[0], OK)
        qp = at(T, lambda: dns.message.from_wire(wire, keyring=keyring()))
        status, reply = self.pipe.op("S", T + 1, unsigned_reply(qp, SOA))
        self.assertEqual(status, OK)
        r = at(T + 1, lambda: dns.message.from_wire(reply, keyring=keyring(), request_mac=qp.mac))
        self.assertTrue(r.had_tsig)
        self.assertEqual(r.answer[0].to_text(), SOA)

    def test_our_axfr_stream(self):
        """We sign messages 1 and 3 and leave 2 unsigned; dnspython reads
        them as a zone transfer; a changed middle fails message 3."""
        q = query("AXFR", keyring())
        wire = at(T, q.to_wire)
        self.assertEqual(self.pipe.op("Q", T, wire)[0], OK)
        qp = at(T, lambda: dns.message.from_wire(wire, keyring=keyring()))
        bodies = [
            unsigned_reply(qp, SOA, "_spfdb." + ORIGIN + " 0 IN TXT \"layout=1\""),
            unsigned_reply(qp, "default.a." + ORIGIN + " 0 IN TXT \"allocation\""),
            unsigned_reply(qp, "198-51-100-0-24.default.a." + ORIGIN
                           + " 0 IN APL 1:198.51.100.0/24", SOA),
        ]
        status, m1 = self.pipe.op("S", T + 2, bodies[0])
        self.assertEqual(status, OK)
        self.assertEqual(self.pipe.op("U", T, bodies[1])[0], OK)
        status, m3 = self.pipe.op("S", T + 3, bodies[2])
        self.assertEqual(status, OK)

        def read(msgs):
            ctx = None
            out = []
            for w in msgs:
                m = at(T + 3, lambda: dns.message.from_wire(
                    w, keyring=keyring(), request_mac=qp.mac, xfr=True, origin=None,
                    tsig_ctx=ctx, multi=True))
                ctx = m.tsig_ctx
                out.append(m)
            return out

        got = read([m1, bodies[1], m3])
        self.assertEqual([m.had_tsig for m in got], [True, False, True])
        changed = bytearray(bodies[1])
        changed[-1] ^= 1
        with self.assertRaises(dns.tsig.BadSignature):
            read([m1, bytes(changed), m3])

    def test_their_axfr_stream(self):
        """dnspython signs messages 1 and 3 (2 unsigned) to our request."""
        status, wire = self.pipe.op("R", T, query("AXFR").to_wire())
        self.assertEqual(status, OK)
        qp = at(T, lambda: dns.message.from_wire(wire, keyring=keyring()))
        ctx = None
        replies = []
        for i, body in enumerate([[SOA], ["acme.a." + ORIGIN + " 0 IN TXT \"allocation\""], [SOA]]):
            r = dns.message.make_response(qp)
            for text in body:
                r.answer.append(dns.rrset.from_text(*text.split(" ", 4)))
            if i == 1:
                r.tsig = None
                w = r.to_wire()
                ctx.update(w)
            else:
                w = at(T + i, lambda: r.to_wire(multi=True, tsig_ctx=ctx))
                ctx = r.tsig_ctx
            replies.append(w)
        for w in replies:
            self.assertEqual(self.pipe.op("V", T + 2, w)[0], OK)
        self.assertEqual(self.pipe.op("E", T)[0], OK)

    def test_badtime(self):
        """Signed with the request's MAC, Time Signed echoed, our clock in
        Other Data: dnspython reports PeerBadTime and its MAC verifies."""
        q = query(ring=keyring())
        wire = at(T, q.to_wire)
        self.assertEqual(self.pipe.op("Q", T + 400, wire)[0], BADTIME)
        qp = at(T, lambda: dns.message.from_wire(wire, keyring=keyring()))
        status, reply = self.pipe.op("X", T + 400, unsigned_reply(qp, rcode=dns.rcode.NOTAUTH))
        self.assertEqual(status, OK)
        with self.assertRaises(dns.tsig.PeerBadTime):
            at(T, lambda: dns.message.from_wire(reply, keyring=keyring(), request_mac=qp.mac))
        start, rd = tsig_rdata(reply)
        self.assertEqual((rd.error, rd.time_signed, rd.other),
                         (18, T, struct.pack(">HI", 0, T + 400)))
        (arcount,) = struct.unpack(">H", reply[10:12])
        body = reply[:10] + struct.pack(">H", arcount - 1) + reply[12:start]
        key = keyring()[dns.name.from_text(KEY)]
        mac = dns.tsig._digest(body, key, rd, None, qp.mac, None, False).sign()
        self.assertEqual(mac, rd.mac)

    def test_badsig_badkey(self):
        """Unsigned error TSIGs (MAC size 0) that dnspython reads as such."""
        wrong = at(T, query(ring=keyring(secret=b"z" * 32)).to_wire)
        self.assertEqual(self.pipe.op("Q", T, wrong)[0], BADSIG)
        qp = at(T, lambda: dns.message.from_wire(wrong, keyring=keyring(secret=b"z" * 32)))
        status, reply = self.pipe.op("X", T, unsigned_reply(qp, rcode=dns.rcode.NOTAUTH))
        self.assertEqual(status, OK)
        with self.assertRaises(dns.tsig.PeerBadSignature):
            at(T, lambda: dns.message.from_wire(reply, keyring=keyring(), request_mac=qp.mac))
        self.assertEqual(tsig_rdata(reply)[1].mac, b"")

        ring = keyring("nobody.example.")
        other = at(T, query(ring=ring, name="nobody.example.").to_wire)
        self.assertEqual(self.pipe.op("Q", T, other)[0], BADKEY)
        qp = at(T, lambda: dns.message.from_wire(other, keyring=ring))
        status, reply = self.pipe.op("X", T, unsigned_reply(qp, rcode=dns.rcode.NOTAUTH))
        self.assertEqual(status, OK)
        with self.assertRaises(dns.tsig.PeerBadKey):
            at(T, lambda: dns.message.from_wire(reply, keyring=ring, request_mac=qp.mac))

    def test_compressed_key_name(self):
        """dnspython compresses a key name that shares the question's suffix."""
        pipe = Pipe(("key.xfr.test.", SECRET))
        try:
            ring = keyring("key.xfr.test.")
            wire = at(T, query(ring=ring, name="key.xfr.test.").to_wire)
            self.assertIn(b"\x03key\xc0\x0c\x00\xfa", wire)
            self.assertEqual(pipe.op("Q", T, wire)[0], OK)
        finally:
            pipe.close()


if __name__ == "__main__":
    PIPE = sys.argv.pop(1)
    unittest.main(verbosity=2)
