"""Layout 1 against an independent DNS implementation (dnspython 2.3).

- What we render (names in full or compressed), and the frozen
  layout-v1.wire, read by dnspython as layout-v1.txt: the presentation a
  secondary admin sees in `kdig axfr` (docs/transfer-zone.md).
- What dnspython writes from that text (its own compression, letter
  case changed) parses to the same objects as our rendering; records
  dnspython writes from bad text are refused with the right code.

Usage: test_layout_dnspython.py PATH/TO/layout_pipe
"""
import os
import subprocess
import sys
import unittest

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

PIPE = None
HERE = os.path.dirname(os.path.abspath(__file__))
ORIGIN = "xfr.esp.example."

# Error codes of xfr/layout.h
ESET_UNKNOWN, EMEMBER, EAPL_NEG, EAPL_ITEMS, EAPL_HOSTBITS, EAPL_MAPPED, EAPL_OWNER = (
    -12, -17, -19, -20, -22, -23, -24)


def run(*args, data=None):
    return subprocess.run([PIPE, *args], input=data, capture_output=True, check=True,
                          timeout=30).stdout


def presentation(wire):
    m = dns.message.from_wire(wire, one_rr_per_rrset=True)
    return [rr.to_text() for rr in m.answer]


def expected_text():
    with open(os.path.join(HERE, "layout-v1.txt")) as f:
        return f.read().splitlines()


def message(lines, upper=False):
    """A response message holding one record per line, written by dnspython."""
    q = dns.message.make_query(ORIGIN, "AXFR", use_edns=False)
    r = dns.message.make_response(q)
    for line in lines:
        owner, ttl, rdclass, rdtype, rdata = line.split(" ", 4)
        if upper:
            owner = owner.upper()
            if rdtype in ("PTR", "NS", "SOA"):
                rdata = rdata.upper()
        r.answer.append(dns.rrset.from_text(owner, int(ttl), rdclass, rdtype, rdata))
    return r.to_wire()


def parse(wire):
    return run("parse", ORIGIN, data=wire).decode().splitlines()


class Render(unittest.TestCase):
    def test_presentation(self):
        want = expected_text()
        self.assertEqual(len(want), 19)
        self.assertEqual(presentation(run("render")), want)
        self.assertEqual(presentation(run("render", "compress")), want)
        with open(os.path.join(HERE, "layout-v1.wire"), "rb") as f:
            self.assertEqual(presentation(f.read()), want)

    def test_what_admins_see(self):
        text = "\n".join(expected_text())
        for line in [
            "xfr.esp.example. 0 IN SOA primary.invalid. hostmaster.invalid. 1796620000 300 60"
            " 1209600 0",
            "_spfdb.xfr.esp.example. 0 IN TXT \"layout=1\"",
            "198-51-100-0-24.acme.a.xfr.esp.example. 0 IN APL 1:198.51.100.0/24",
            "2001-db8-1234---48.acme.a.xfr.esp.example. 0 IN APL 2:2001:db8:1234::/48",
            "eu.m.global.a.xfr.esp.example. 0 IN PTR eu.a.xfr.esp.example.",
            "spf.customer.example.z.xfr.esp.example. 0 IN TXT \"allocation=acme\" \"ttl=600\""
            " \"negative-ttl=60\" \"hostmaster=dns.admin@customer.example\""
            " \"ns1.iphmx.example.\" \"ns2.iphmx.example.\"",
        ]:
            self.assertIn(line, text)
        # one record per owner and type: every RRset holds one record
        owners = [(line.split()[0], line.split()[3]) for line in expected_text()]
        self.assertEqual(len(owners), len(set(owners)))

    def test_docs_example(self):
        """docs/transfer-zone.md shows exactly these records (spacing aside),
        closed by the SOA as an AXFR is."""
        with open(os.path.join(HERE, "..", "..", "docs", "transfer-zone.md")) as f:
            block = f.read().split("```")[1].strip().splitlines()
        self.assertTrue(block[0].startswith("$ kdig -y hmac-sha256:"))
        shown = [" ".join(line.split()) for line in block[1:]]
        want = [" ".join(line.split()) for line in expected_text()]
        self.assertEqual(shown, want + [want[0]])

    def test_apl_wire(self):
        """The APL RDATA Knot and BIND make from 1:198.51.100.0/24."""
        self.assertIn(b"\x00\x2a\x00\x01\x00\x00\x00\x00\x00\x07\x00\x01\x18\x03\xc6\x33\x64",
                      run("render"))


class Parse(unittest.TestCase):
    def test_dnspython_wire(self):
        ours = parse(run("render"))
        self.assertIn("entry acme 198.51.100.0/24", ours)
        self.assertIn("member global eu", ours)
        self.assertIn("zone spf.customer.example alloc=acme ttl=600 neg=60"
                      " hostmaster=dns.admin@customer.example"
                      " ns=ns1.iphmx.example,ns2.iphmx.example", ours)
        self.assertFalse([line for line in ours if line.startswith("error")])
        self.assertEqual(parse(message(expected_text())), ours)
        self.assertEqual(parse(message(expected_text(), upper=True)), ours)
        # any order
        self.assertEqual(parse(message(expected_text()[::-1])), ours[::-1])

    def test_refused(self):
        a = "198-51-100-0-24.acme.a." + ORIGIN + " 0 IN APL "
        cases = [
            (a + "1:198.51.100.1/24", EAPL_HOSTBITS),
            (a + "!1:198.51.100.0/24", EAPL_NEG),
            (a + "1:198.51.100.0/24 1:10.0.0.0/8", EAPL_ITEMS),
            (a + "1:198.51.100.0/25", EAPL_OWNER),
            ("--ffff-c633-6400-120.acme.a." + ORIGIN + " 0 IN APL 2:::ffff:198.51.100.0/120",
             EAPL_MAPPED),
            ("eu.m.global.a." + ORIGIN + " 0 IN PTR us.a." + ORIGIN, EMEMBER),
            ("x.z." + ORIGIN + " 0 IN TXT \"allocation=\" \"ttl=1\" \"negative-ttl=1\""
             " \"hostmaster=\" \"colour=red\" \"ns.example.\"", ESET_UNKNOWN),
        ]
        got = parse(message([line for line, _ in cases]))
        self.assertEqual(got, ["error %d" % code for _, code in cases])


if __name__ == "__main__":
    PIPE = sys.argv.pop(1)
    unittest.main(verbosity=2)
