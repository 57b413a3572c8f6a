"""Cross-check answer_query() replies with an independent parser (dnspython).

Usage: test_dnspython.py PATH/TO/answer_pipe
"""
import struct
import subprocess
import sys
import unittest

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

PIPE = None
PZ = "spf.acme.iphmx.example."


def ask_many(queries):
    """Each (wire, tcp) through answer_pipe; replies as bytes (b"" = none)."""
    data = b"".join(struct.pack(">HB", len(w), 1 if tcp else 0) + w for w, tcp in queries)
    out = subprocess.run([PIPE], input=data, capture_output=True, check=True, timeout=30).stdout
    replies, i = [], 0
    while i < len(out):
        (n,) = struct.unpack(">H", out[i:i + 2])
        replies.append(out[i + 2:i + 2 + n])
        i += 2 + n
    assert len(replies) == len(queries)
    return replies


def ask(q, tcp=False):
    wire = q.to_wire() if hasattr(q, "to_wire") else q
    r = ask_many([(wire, tcp)])[0]
    return dns.message.from_wire(r) if r else None


class Replies(unittest.TestCase):
    def test_listed(self):
        for qname in ("198.51.100.7." + PZ,
                      ".".join("20010DB8000000000000000000000001") + "." + PZ):
            q = dns.message.make_query(qname, "A", want_dnssec=True)
            r = ask(q)
            self.assertEqual(r.id, q.id)
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
            self.assertTrue(r.flags & dns.flags.AA)
            self.assertFalse(r.flags & dns.flags.RA)
            self.assertTrue(r.flags & dns.flags.RD)
            self.assertEqual(len(r.answer), 1)
            rrset = r.answer[0]
            self.assertEqual(rrset.name, dns.name.from_text(qname))
            self.assertEqual(rrset.ttl, 300)
            self.assertEqual([rd.address for rd in rrset], ["127.0.0.2"])
            self.assertEqual(r.edns, 0)
            self.assertEqual(r.payload, 1232)
            self.assertTrue(r.ednsflags & dns.flags.DO)
            self.assertEqual(list(r.options), [])

    def test_nxdomain_soa(self):
        r = ask(dns.message.make_query("198.51.100.8." + PZ, "A"))
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        self.assertEqual(r.edns, -1)
        self.assertEqual(len(r.authority), 1)
        soa = r.authority[0]
        self.assertEqual(soa.name, dns.name.from_text("iphmx.example."))
        self.assertEqual(soa.ttl, 60)
        rd = soa[0]
        self.assertEqual(rd.mname.to_text(), "ns1.esp.example.")
        self.assertEqual(rd.rname.to_text(), "dns\\.admin.esp.example.")
        self.assertEqual((rd.serial, rd.refresh, rd.retry, rd.expire, rd.minimum),
                         (1700000000, 14400, 3600, 1209600, 60))

    def test_tail_nodata_and_case(self):
        q = dns.message.make_query("198.51.SpF.AcMe.IPHMX.example.", "A")
        raw = ask_many([(q.to_wire(), False)])[0]
        self.assertIn(b"\x03SpF\x04AcMe\x05IPHMX", raw)  # 0x20 kept
        r = dns.message.from_wire(raw)
        self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertEqual(r.answer, [])
        self.assertEqual(r.authority[0].rdtype, dns.rdatatype.SOA)

    def test_apex_ns(self):
        r = ask(dns.message.make_query("iphmx.example.", "NS"), tcp=True)
        self.assertEqual(sorted(rd.target.to_text() for rd in r.answer[0]),
                         ["ns1.esp.example.", "ns2.esp.example."])
        self.assertEqual(r.answer[0].ttl, 300)

    def test_badvers(self):
        wire = bytearray(dns.message.make_query("iphmx.example.", "SOA", use_edns=0).to_wire())
        wire[-5] = 1  # the OPT's VERSION octet
        r = ask(bytes(wire))
        self.assertEqual(r.rcode(), dns.rcode.BADVERS)
        self.assertEqual(r.edns, 0)
        self.assertEqual(r.answer, [])

    def test_keepalive_tcp_only(self):
        opt = dns.edns.GenericOption(11, b"")
        q = dns.message.make_query("iphmx.example.", "SOA", use_edns=0, options=[opt])
        r = ask(q, tcp=True)
        self.assertEqual([(o.otype, o.to_wire()) for o in r.options], [(11, b"\x00\x64")])
        self.assertEqual(list(ask(q).options), [])

    def test_refused_and_formerr(self):
        r = ask(dns.message.make_query("example.org.", "A"))
        self.assertEqual(r.rcode(), dns.rcode.REFUSED)
        self.assertFalse(r.flags & dns.flags.AA)
        wire = dns.message.make_query("iphmx.example.", "A", use_edns=0).to_wire() + b"\0"
        r = ask(wire)
        self.assertEqual(r.rcode(), dns.rcode.FORMERR)
        self.assertEqual(r.edns, 0)
        self.assertIsNone(ask(wire[:11]))


if __name__ == "__main__":
    PIPE = sys.argv.pop(1)
    unittest.main()
