"""A second real client: kdig (knot-dnsutils) agrees with the SPEC."""
import re
import shutil
import subprocess

import answers as A
import spfdbtest as T

KDIG = shutil.which("kdig")


class Kdig(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def kdig(self, *args):
        cmd = [KDIG, "@%s" % self.server.host, "-p", str(self.server.port), "+norec",
               "+timeout=3", "+retry=1"] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        out = p.stdout
        self.assertEqual(p.returncode, 0, "%s\n%s%s" % (" ".join(cmd), out, p.stderr))
        res = {"out": out, "cmd": " ".join(cmd)}
        m = re.search(r"status: (\S+?);", out)
        res["status"] = m.group(1) if m else None
        m = re.search(r";; Flags: ([^;]*);", out)
        res["flags"] = set(m.group(1).split()) if m else None
        m = re.search(r"UDP size: (\d+) B", out)
        res["udp"] = int(m.group(1)) if m else None
        for sec in ("ANSWER", "AUTHORITY", "ADDITIONAL"):
            m = re.search(r";; %s SECTION:\n(.*?)(?:\n\n|\Z)" % sec, out, re.S)
            res[sec] = [l.split() for l in m.group(1).splitlines()] if m else []
        return res

    def test_listed_v4_v6_udp_tcp(self):
        for transport in ([], ["+tcp"]):
            for name in ("198.51.100.7.spf.acme.iphmx.example.",
                         T.nibbles("2001:db8:1::1") + ".spf.acme.iphmx.example.",
                         "203.0.113.5.spf.customer.example."):
                r = self.kdig(*(transport + [name, "A"]))
                ttl = "600" if "iphmx" in name else "300"
                self.assertEqual(r["status"], "NOERROR", r["out"])
                self.assertEqual(r["flags"], {"qr", "aa"}, r["out"])
                self.assertEqual(r["ANSWER"], [[name, ttl, "IN", "A", "127.0.0.2"]], r["out"])
                self.assertEqual(r["AUTHORITY"], [], r["out"])

    def test_nxdomain_and_nodata_with_soa(self):
        for name, status in (("203.0.113.5.spf.acme.iphmx.example.", "NXDOMAIN"),
                             ("7.spf.acme.iphmx.example.", "NOERROR"),
                             ("1.2.3.4.spf.acme.iphmx.example.", "NOERROR")):
            r = self.kdig(name, "A", "+edns")
            self.assertEqual(r["status"], status, r["out"])
            self.assertIn("aa", r["flags"], r["out"])
            self.assertEqual(r["ANSWER"], [], r["out"])
            self.assertEqual(len(r["AUTHORITY"]), 1, r["out"])
            soa = r["AUTHORITY"][0]
            self.assertEqual(soa[:4], ["iphmx.example.", "90", "IN", "SOA"], r["out"])
            self.assertEqual(soa[4:6], ["ns1.dns.example.net.", "dns\\.admin.example.net."],
                             r["out"])
            self.assertEqual(soa[7:], ["14400", "3600", "1209600", "90"], r["out"])
            self.assertEqual(r["udp"], 1232, r["out"])

    def test_apex(self):
        r = self.kdig("spf.customer.example.", "NS")
        self.assertEqual(sorted(x[4] for x in r["ANSWER"]),
                         ["ns-a.example.org.", "ns-b.example.org."], r["out"])
        r = self.kdig("spf.customer.example.", "ANY")
        self.assertEqual([x[3] for x in r["ANSWER"]], ["SOA"], r["out"])
        self.assertEqual(r["ANSWER"][0][5], "hostmaster.example.org.", r["out"])

    def test_errors(self):
        r = self.kdig("198.51.100.7.spf.acme.iphmx.example.", "A", "+edns=1")
        self.assertEqual(r["status"], "BADVERS", r["out"])
        self.assertNotIn("aa", r["flags"], r["out"])
        r = self.kdig("version.bind.", "TXT", "CH")
        self.assertEqual(r["status"], "REFUSED", r["out"])
        r = self.kdig("example.com.", "A")
        self.assertEqual(r["status"], "REFUSED", r["out"])
        self.assertNotIn("aa", r["flags"], r["out"])

    def test_tcp_keepalive(self):
        r = self.kdig("198.51.100.7.spf.acme.iphmx.example.", "A", "+tcp", "+ednsopt=11")
        # kdig prints option 11 by name or as generic hex (100 x 100 ms = 0x0064).
        self.assertRegex(r["out"], r"(?i)(keepalive|11).*(0064|10(\.0)? ?s)", r["out"])


if __name__ == "__main__":
    if not KDIG:
        raise SystemExit("kdig not found (knot-dnsutils, scripts/deps.sh)")
    T.main()
