"""NOTIFY (xfr/notify.h) against an independent implementation (dnspython
2.3): dnspython reads our request as a signed NOTIFY for the transfer
zone with the SOA in its answer section, and the replies dnspython makes
to it are checked by us: its signed answer is taken, its unsigned one,
one under another secret or another key name, or one to another ID, are
not.

Usage: test_notify_dnspython.py PATH/TO/notify_pipe
"""
import struct
import subprocess
import sys
import unittest

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig

from make_golden import at  # dnspython's clock, fixed

PIPE = None
T = 1796620000
ORIGIN = "xfr.example."
NS = "ns0.example.net"
SERIAL = 1796619990
KEY = "replica1.key."
SECRET = bytes(range(7, 39))
ID = 4242
VERIFIED, FOREIGN, UNVERIFIED = 0, -1, -2
TSIG_OK, UNSIGNED, BADKEY, BADSIG, BADTIME, PEER = 0, -1, -3, -4, -5, -7


def keyring(name=KEY, secret=SECRET):
    return {dns.name.from_text(name): dns.tsig.Key(name, secret, dns.tsig.HMAC_SHA256)}


class Pipe:
    def __init__(self, origin=ORIGIN, ns=NS, serial=SERIAL, now=T):
        self.p = subprocess.Popen([PIPE, KEY, SECRET.hex(), origin, ns, str(serial), str(ID),
                                   str(now)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        (n,) = struct.unpack(">H", self.p.stdout.read(2))
        self.request = self.p.stdout.read(n)

    def check(self, wire, now=T):
        self.p.stdin.write(struct.pack(">QH", now, len(wire)) + wire)
        self.p.stdin.flush()
        return struct.unpack(">hhhh", self.p.stdout.read(8))

    def close(self):
        self.p.stdin.close()
        self.p.stdout.close()
        assert self.p.wait(timeout=10) == 0


class Notify(unittest.TestCase):
    def setUp(self):
        self.pipe = Pipe()
        self.req = at(T, lambda: dns.message.from_wire(self.pipe.request, keyring=keyring()))

    def tearDown(self):
        self.pipe.close()

    def reply(self, ring=None, keyname=KEY, rcode=0, sign=True, qid=None):
        r = dns.message.make_response(self.req)
        r.set_rcode(rcode)
        if qid is not None:
            r.id = qid
        if not sign:
            r.tsig = None
        elif ring is not None:
            r.use_tsig(ring, keyname, algorithm=dns.tsig.HMAC_SHA256)
            r.request_mac = self.req.mac
        return at(T + 1, r.to_wire)

    def test_request(self):
        q = self.req
        self.assertTrue(q.had_tsig)
        self.assertEqual(q.keyname, dns.name.from_text(KEY))
        self.assertEqual(q.keyalgorithm, dns.tsig.HMAC_SHA256)
        self.assertEqual(q.opcode(), dns.opcode.NOTIFY)
        self.assertEqual(q.id, ID)
        self.assertEqual(q.flags, dns.flags.AA | (dns.opcode.NOTIFY << 11))
        self.assertEqual(len(q.question), 1)
        self.assertEqual(q.question[0].name, dns.name.from_text(ORIGIN))
        self.assertEqual(q.question[0].rdtype, dns.rdatatype.SOA)
        self.assertEqual(q.question[0].rdclass, dns.rdataclass.IN)
        self.assertEqual(len(q.answer), 1)
        soa = q.answer[0]
        self.assertEqual((soa.name, soa.rdtype), (dns.name.from_text(ORIGIN), dns.rdatatype.SOA))
        self.assertEqual(soa[0].serial, SERIAL)
        self.assertEqual(soa[0].mname, dns.name.from_text(NS + "."))
        self.assertEqual((soa[0].refresh, soa[0].retry, soa[0].expire), (300, 60, 1209600))
        self.assertEqual(q.authority, [])
        self.assertEqual(q.additional, [])
        self.assertEqual(q.tsig[0].time_signed, T)
        self.assertEqual(q.tsig[0].fudge, 300)
        # another secret under the same name does not verify
        with self.assertRaises(dns.tsig.BadSignature):
            at(T, lambda: dns.message.from_wire(self.pipe.request,
                                                keyring=keyring(secret=b"x" * 32)))

    def test_answer_taken(self):
        self.assertEqual(self.pipe.check(self.reply()), (VERIFIED, 0, TSIG_OK, 0))
        self.assertEqual(self.pipe.check(self.reply(rcode=dns.rcode.REFUSED)),
                         (VERIFIED, 5, TSIG_OK, 0))

    def test_other_replies_not_taken(self):
        self.assertEqual(self.pipe.check(self.reply(sign=False))[:3], (UNVERIFIED, 0, UNSIGNED))
        self.assertEqual(self.pipe.check(self.reply(ring=keyring(secret=b"y" * 32)))[:3],
                         (UNVERIFIED, 0, BADSIG))
        self.assertEqual(
            self.pipe.check(self.reply(ring=keyring("other.key."), keyname="other.key."))[:3],
            (UNVERIFIED, 0, BADKEY))
        self.assertEqual(self.pipe.check(self.reply(qid=ID + 1))[0], FOREIGN)
        self.assertEqual(self.pipe.check(self.reply(), now=T + 1000)[:3],
                         (UNVERIFIED, 0, BADTIME))
        # and the real answer is still taken after all of these
        self.assertEqual(self.pipe.check(self.reply()), (VERIFIED, 0, TSIG_OK, 0))

    def test_badkey_reported(self):
        """A replica without our key answers NOTAUTH, BADKEY, unsigned."""
        r = dns.message.make_response(self.req)
        r.set_rcode(dns.rcode.NOTAUTH)
        r.use_tsig(keyring(), KEY, tsig_error=dns.rcode.BADKEY, algorithm=dns.tsig.HMAC_SHA256)
        wire = bytearray(at(T, r.to_wire))
        # dnspython signs even an error; a real BADKEY has MAC size 0: cut it
        keyname = dns.name.from_text(KEY).to_wire()
        start = bytes(wire).rindex(keyname + b"\x00\xfa\x00\xff")
        rd = start + len(keyname) + 10
        alg = dns.name.from_text("hmac-sha256.").to_wire()
        mac_size_at = rd + len(alg) + 8
        (mac_size,) = struct.unpack(">H", wire[mac_size_at:mac_size_at + 2])
        del wire[mac_size_at + 2:mac_size_at + 2 + mac_size]
        wire[mac_size_at:mac_size_at + 2] = b"\x00\x00"
        (rdlen,) = struct.unpack(">H", wire[rd - 2:rd])
        wire[rd - 2:rd] = struct.pack(">H", rdlen - mac_size)
        self.assertEqual(self.pipe.check(bytes(wire)), (UNVERIFIED, 9, PEER, 17))


if __name__ == "__main__":
    PIPE = sys.argv.pop(1)
    unittest.main(verbosity=2)
