"""The transfer zone (SPEC §5) served by spfdbd: kdig and dnspython read it
over TSIG; AXFR equals an oracle built from spfdb-ctl's listings; IXFR after
three commits is three difference sequences that bring an AXFR copy to the
new AXFR; member links (SPEC §2) are PTR records, in AXFR and in IXFR
(changed, and deleted before their allocation); SOA over UDP and TCP is signed; unsigned queries are REFUSED; a
wrong secret gets BADSIG, a skewed clock BADTIME; customer zones stay
REFUSED; a 100,000-entry AXFR completes (timed)."""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.tsig
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.xfr
import dns.zone

import spfdbtest as T

KDIG = shutil.which("kdig")
FAKETIME = shutil.which("faketime")
ZONE = "xfr.test"
SECRET = base64.b64encode(bytes(range(32))).decode()
WRONG = base64.b64encode(bytes(range(1, 33))).decode()


def plabel(prefix):
    return prefix.replace(".", "-").replace(":", "-").replace("/", "-")


def default_hostmaster(ns):
    return "hostmaster@" + ns.split(".", 1)[1]


class Xfr(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        db.ctl("zone", "add", "iphmx.example", "--ns", "ns1.dns.example.net",
               "--ns", "ns2.dns.example.net", "--hostmaster", "dns.admin@example.net",
               "--ttl", "600")
        db.ctl("allocation", "add", "acme")
        db.ctl("allocation", "add", "eu")
        db.ctl("zone", "add", "spf.customer.example", "--allocation", "acme",
               "--ns", "ns1.dns.example.net", "--ns", "ns2.dns.example.net")
        db.ctl("add", "--allocation", "acme", "198.51.100.0/24", "2001:db8:1234::/48",
               "192.0.2.7/32")
        db.ctl("add", "--allocation", "eu", "203.0.113.0/24")
        db.ctl("add", "10.0.0.0/8", "2001:db8::1/128")
        db.ctl("allocation", "add", "global", "--member", "eu")
        db.ctl("transfer", "set", ZONE)
        T.add_key(db, "k1", SECRET)
        T.add_key(db, "k2", WRONG)

    def kdig(self, *args, key=SECRET, keyname="k1", pre=()):
        cmd = list(pre) + [KDIG, "@%s" % self.server.host, "-p", str(self.server.port),
                           "+timeout=5", "+retry=0"]
        if key is not None:
            cmd += ["-y", "hmac-sha256:%s:%s" % (keyname, key)]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)
        m = re.search(r"status: (\S+?);", p.stdout)
        return p, (m.group(1) if m else None)

    def oracle(self):
        """The transfer zone's records, from spfdb-ctl's own listings."""
        recs = {("%s." % ZONE, "NS", "primary.invalid."),
                ("_spfdb.%s." % ZONE, "TXT", '"layout=1"')}
        for z in json.loads(self.db.ctl("zone", "list", "--json").stdout):
            hm = z["hostmaster"]
            if hm == default_hostmaster(z["ns"][0]):
                hm = ""
            strings = ['"allocation=%s"' % (z["allocation"] or ""), '"ttl=%d"' % z["ttl"],
                       '"negative-ttl=%d"' % z["negative_ttl"], '"hostmaster=%s"' % hm]
            strings += ['"%s."' % h for h in z["ns"]]
            recs.add(("%s.z.%s." % (z["zone"], ZONE), "TXT", " ".join(strings)))
        for a in json.loads(self.db.ctl("allocation", "list", "--json").stdout):
            name = a["name"]
            recs.add(("%s.a.%s." % (name, ZONE), "TXT", '"allocation"'))
            for m in a.get("members", []):
                recs.add(("%s.m.%s.a.%s." % (m, name, ZONE), "PTR", "%s.a.%s." % (m, ZONE)))
            entries = json.loads(self.db.ctl("list", "--allocation", name, "--json").stdout)
            for e in entries["entries"]:
                fam = "2" if ":" in e else "1"
                recs.add(("%s.%s.a.%s." % (plabel(e), name, ZONE), "APL", "%s:%s" % (fam, e)))
        return recs

    def axfr_set(self):
        p, status = self.kdig("axfr", ZONE)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        recs = T.kdig_records(p.stdout)
        soas = [r for r in recs if r[1] == "SOA"]
        self.assertEqual(len(soas), 2, p.stdout)
        self.assertEqual(recs[0], soas[0])
        self.assertEqual(recs[-2], soas[1])  # then the TSIG of the last message
        self.assertEqual(recs[-1][1], "TSIG")
        body = [r for r in recs if r[1] not in ("SOA", "TSIG")]
        self.assertEqual(len(body), len(set(body)), "a record twice")
        return set(body), int(soas[0][2].split()[2])

    def test_axfr_equals_oracle(self):
        got, serial = self.axfr_set()
        self.assertEqual(got, self.oracle())
        self.assertIn(("eu.m.global.a.%s." % ZONE, "PTR", "eu.a.%s." % ZONE), got)

    def ixfr_sequences(self, old):
        """kdig's IXFR from OLD as [(deleted, added)] per sequence, each a
        list of (owner, type, rdata) in the order sent."""
        p, status = self.kdig("ixfr=%d" % old, ZONE)
        recs = [r for r in T.kdig_records(p.stdout) if r[1] != "TSIG"]
        self.assertEqual(recs[0][1], "SOA", p.stdout)
        self.assertNotEqual(recs[1][1], "NS", "an AXFR, not an IXFR:\n" + p.stdout)
        seqs, part = [], None
        for r in recs[1:-1]:
            if r[1] == "SOA":
                if part is None or part == 1:
                    seqs.append(([], []))
                    part = 0
                else:
                    part = 1
                continue
            seqs[-1][part].append(r)
        return seqs

    def test_ixfr_members(self):
        """Member links changed and an allocation with members deleted: the
        IXFR deletes and adds exactly those PTR records, a union's links
        before the union, and dnspython's copy then equals a fresh AXFR."""
        keyring = dns.tsigkeyring.from_text({"k1": SECRET})
        copy = dns.zone.Zone(ZONE + ".")
        q, _ = dns.xfr.make_query(copy, serial=None, keyring=keyring, keyname="k1",
                                  keyalgorithm="hmac-sha256")
        dns.query.inbound_xfr(self.server.host, copy, q, port=self.server.port, timeout=10)
        old = copy.get_soa().serial
        time.sleep(1.1)

        def ptr(m, a):
            return ("%s.m.%s.a.%s." % (m, a, ZONE), "PTR", "%s.a.%s." % (m, ZONE))
        self.db.ctl("allocation", "add", "world", "--member", "acme")
        self.db.ctl("allocation", "set", "global", "--member", "acme")
        self.db.ctl("allocation", "del", "world")
        seqs = self.ixfr_sequences(old)
        self.assertEqual(len(seqs), 3)
        self.assertEqual(seqs[0], ([], [("world.a.%s." % ZONE, "TXT", '"allocation"'),
                                        ptr("acme", "world")]))
        self.assertEqual(seqs[1], ([ptr("eu", "global")], [ptr("acme", "global")]))
        self.assertEqual(seqs[2], ([ptr("acme", "world"),
                                    ("world.a.%s." % ZONE, "TXT", '"allocation"')], []))
        q, _ = dns.xfr.make_query(copy, keyring=keyring, keyname="k1",
                                  keyalgorithm="hmac-sha256")
        self.assertEqual(q.question[0].rdtype, dns.rdatatype.IXFR)
        dns.query.inbound_xfr(self.server.host, copy, q, port=self.server.port, timeout=10)
        fresh = dns.zone.Zone(ZONE + ".")
        q, _ = dns.xfr.make_query(fresh, serial=None, keyring=keyring, keyname="k1",
                                  keyalgorithm="hmac-sha256")
        dns.query.inbound_xfr(self.server.host, fresh, q, port=self.server.port, timeout=10)
        self.assertTrue(copy == fresh)
        got, serial = self.axfr_set()
        self.assertEqual(got, self.oracle())
        self.assertIn(ptr("acme", "global"), got)
        self.db.ctl("allocation", "set", "global", "--member", "eu")

    def test_soa_signed_udp_tcp(self):
        for proto in ("+notcp", "+tcp"):
            p, status = self.kdig("soa", ZONE, proto)
            self.assertEqual(status, "NOERROR", p.stdout)
            self.assertIn(" aa", p.stdout.split("Flags:")[1].split(";")[0])
            self.assertIn("TSIG PSEUDOSECTION", p.stdout)
            self.assertNotIn("WARNING", p.stderr + p.stdout)
            soa = [r for r in T.kdig_records(p.stdout) if r[1] == "SOA"]
            self.assertEqual(soa[0][2].split()[:2], ["primary.invalid.", "hostmaster.invalid."])
            self.assertEqual(soa[0][2].split()[3:], ["300", "60", "1209600", "0"])

    def test_unsigned_refused(self):
        for args in (["axfr", ZONE], ["soa", ZONE, "+notcp"], ["soa", ZONE, "+tcp"],
                     ["txt", "_spfdb." + ZONE]):
            p, status = self.kdig(*args, key=None)
            # kdig prints no header for a failed AXFR, only the error
            self.assertIn(status or "", ("REFUSED", ""))
            self.assertIn("REFUSED", p.stdout + p.stderr)

    def test_wrong_secret_badsig(self):
        for proto in ("+notcp", "+tcp"):
            p, status = self.kdig("soa", ZONE, proto, key=WRONG)
            self.assertEqual(status, "BADSIG", p.stdout + p.stderr)
        p, status = self.kdig("axfr", ZONE, key=WRONG)
        self.assertIn("BADSIG", p.stdout + p.stderr)
        p, status = self.kdig("soa", ZONE, key=SECRET, keyname="nokey")
        self.assertEqual(status, "BADKEY", p.stdout + p.stderr)

    def test_skewed_clock_badtime(self):
        if FAKETIME:
            p, status = self.kdig("soa", ZONE, pre=[FAKETIME, "-f", "+10m"])
            self.assertIn("BADTIME", p.stdout + p.stderr)
        # dnspython, signing with a time ten minutes behind
        key = dns.tsig.Key("k1", SECRET, "hmac-sha256")
        q = dns.message.make_query(ZONE, "SOA")
        q.use_tsig(key)
        real = time.time
        try:
            time.time = lambda: real() - 600
            wire = q.to_wire()
        finally:
            time.time = real
        data = T.udp_raw(self.server.addr(), wire)
        self.assertEqual(data[3] & 0xF, 9)  # NOTAUTH
        # the TSIG ends: Error BADTIME (18), Other Len 6, the server's time
        self.assertEqual(data[-10:-6], b"\x00\x12\x00\x06")
        self.assertLess(abs(int.from_bytes(data[-6:], "big") - time.time()), 5)

    def test_ixfr_of_many_changes_is_axfr(self):
        """Commits changing more than half the zone (plus 16) come as AXFR."""
        old = self.axfr_set()[1]
        self.db.ctl("add", *["11.0.0.%d/32" % i for i in range(60)])
        p, status = self.kdig("ixfr=%d" % old, ZONE)
        recs = T.kdig_records(p.stdout)
        self.assertEqual(recs[1][1], "NS", p.stdout)
        self.assertEqual(set(r for r in recs if r[1] not in ("SOA", "TSIG")), self.oracle())
        self.db.ctl("del", *["11.0.0.%d/32" % i for i in range(60)])

    def test_key_added_while_running(self):
        """Keys change in quiet commits (no serial, no meta_gen): seen at once."""
        new = base64.b64encode(bytes(range(2, 34))).decode()
        p, status = self.kdig("soa", ZONE, key=new, keyname="late")
        self.assertEqual(status, "BADKEY", p.stdout)
        serial = self.axfr_set()[1]
        T.add_key(self.db, "late", new)
        p, status = self.kdig("soa", ZONE, key=new, keyname="late")
        self.assertEqual(status, "NOERROR", p.stdout)
        self.assertEqual(self.axfr_set()[1], serial)
        self.db.ctl("key", "del", "late")
        p, status = self.kdig("soa", ZONE, key=new, keyname="late")
        self.assertEqual(status, "BADKEY", p.stdout)

    def test_customer_zone_axfr_refused(self):
        for zone in ("iphmx.example", "spf.customer.example"):
            for key in (None, SECRET):
                p, status = self.kdig("axfr", zone, key=key)
                self.assertIn("REFUSED", p.stdout + p.stderr)

    def test_ixfr_three_commits(self):
        keyring = dns.tsigkeyring.from_text({"k1": SECRET})
        copy = dns.zone.Zone(ZONE + ".")
        q, _ = dns.xfr.make_query(copy, serial=None, keyring=keyring, keyname="k1",
                                  keyalgorithm="hmac-sha256")
        dns.query.inbound_xfr(self.server.host, copy, q, port=self.server.port, timeout=10)
        old = copy.get_soa().serial
        # IXFR from the current serial: the single SOA
        p, status = self.kdig("ixfr=%d" % old, ZONE)
        self.assertEqual([r[1] for r in T.kdig_records(p.stdout)], ["SOA", "TSIG"], p.stdout)
        time.sleep(1.1)
        self.db.ctl("add", "--allocation", "eu", "198.18.0.0/15")
        self.db.ctl("del", "--allocation", "acme", "192.0.2.7/32")
        self.db.ctl("zone", "set", "spf.customer.example", "--ttl", "900")
        p, status = self.kdig("ixfr=%d" % old, ZONE)
        recs = T.kdig_records(p.stdout)
        soas = [int(r[2].split()[2]) for r in recs if r[1] == "SOA"]
        self.assertEqual(len(soas), 8, p.stdout)  # current, 3 x (before, after), current
        self.assertEqual(soas[1], old)
        self.assertEqual(soas[0], soas[-1])
        self.assertEqual(soas[6], soas[0])
        # over UDP the current SOA alone
        p, status = self.kdig("ixfr=%d" % old, ZONE, "+notcp")
        self.assertEqual([r[1] for r in T.kdig_records(p.stdout)], ["SOA", "TSIG"], p.stdout)
        # dnspython applies the sequences; the copy equals a fresh AXFR
        q, _ = dns.xfr.make_query(copy, keyring=keyring, keyname="k1",
                                  keyalgorithm="hmac-sha256")
        self.assertEqual(q.question[0].rdtype, dns.rdatatype.IXFR)
        dns.query.inbound_xfr(self.server.host, copy, q, port=self.server.port, timeout=10)
        fresh = dns.zone.Zone(ZONE + ".")
        q, _ = dns.xfr.make_query(fresh, serial=None, keyring=keyring, keyname="k1",
                                  keyalgorithm="hmac-sha256")
        dns.query.inbound_xfr(self.server.host, fresh, q, port=self.server.port, timeout=10)
        self.assertEqual(copy.get_soa().serial, soas[0])
        self.assertTrue(copy == fresh)
        got, serial = self.axfr_set()
        self.assertEqual(got, self.oracle())
        # a serial the log never held: the whole zone, in AXFR form
        p, status = self.kdig("ixfr=12345", ZONE)
        recs = T.kdig_records(p.stdout)
        self.assertEqual(recs[1][1], "NS", p.stdout)
        self.assertEqual(set(r for r in recs if r[1] not in ("SOA", "TSIG")), got)


NAMED = shutil.which("named") or ("/usr/sbin/named" if os.access("/usr/sbin/named", os.X_OK)
                                  else None)
NAMED_CONF = """options {{ directory "{dir}"; pid-file "{dir}/named.pid";
          session-keyfile "{dir}/session.key"; managed-keys-directory "{dir}";
          listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
          recursion no; notify no; dnssec-validation no;
          allow-query {{ 127.0.0.1; }}; allow-transfer {{ key "bind1"; }}; }};
controls {{ }};
key "bind1" {{ algorithm hmac-sha256; secret "{secret}"; }};
zone "{zone}" {{ type secondary; primaries port {primary} {{ 127.0.0.1 key "bind1"; }};
                  allow-notify {{ key "bind1"; }}; file "{zone}.db"; }};
"""


class XfrBind(T.ServerCase):
    """BIND as a secondary of spfdbd holds exactly the primary's records,
    member links included, after its first AXFR, after an IXFR of three
    commits and after one of a member list changed."""

    @classmethod
    def setup_db(cls, db):
        Xfr.setup_db(db)
        T.add_key(db, "bind1", SECRET)

    def setUp(self):
        self.ndir = os.path.join(self.db.top, "named")
        os.makedirs(self.ndir, 0o755, exist_ok=True)
        self.nport = T.free_port()
        with open(os.path.join(self.ndir, "named.conf"), "w") as f:
            f.write(NAMED_CONF.format(dir=self.ndir, port=self.nport, secret=SECRET, zone=ZONE,
                                      primary=self.server.port))
        self.log = open(os.path.join(self.ndir, "log"), "w+")
        self.named = subprocess.Popen([NAMED, "-g", "-c", os.path.join(self.ndir, "named.conf")],
                                      stdout=self.log, stderr=self.log,
                                      preexec_fn=T.die_with_parent)

    def tearDown(self):
        if self.named.poll() is None:
            self.named.terminate()
            try:
                self.named.wait(10)
            except subprocess.TimeoutExpired:
                self.named.kill()
                self.named.wait(5)
        self.log.close()

    def named_log(self):
        self.log.seek(0)
        return self.log.read()

    def axfr(self, port):
        p = subprocess.run([KDIG, "@127.0.0.1", "-p", str(port), "-y",
                            "hmac-sha256:bind1:" + SECRET, "axfr", ZONE, "+timeout=5"],
                           capture_output=True, text=True, timeout=60)
        return set(r for r in T.kdig_records(p.stdout) if r[1] != "TSIG")

    def wait_serial(self, serial):
        deadline = time.time() + 20
        while time.time() < deadline:
            q = dns.message.make_query(ZONE, "SOA")
            try:
                r = dns.query.udp(q, "127.0.0.1", port=self.nport, timeout=0.5)
                if r.answer and r.answer[0][0].serial == serial:
                    return
            except (dns.exception.Timeout, OSError):
                pass
            time.sleep(0.1)
        self.fail("named did not reach serial %d\n%s" % (serial, self.named_log()))

    def notify(self):
        m = dns.message.make_query(ZONE, "SOA")
        m.flags = dns.flags.AA
        m.set_opcode(dns.opcode.NOTIFY)
        m.use_tsig(dns.tsigkeyring.from_text({"bind1": SECRET}), keyname="bind1",
                   algorithm="hmac-sha256")
        r = dns.query.udp(m, "127.0.0.1", port=self.nport, timeout=3)
        self.assertEqual(r.rcode(), 0)

    def primary_serial(self):
        recs = self.axfr(self.server.port)
        return int([r for r in recs if r[1] == "SOA"][0][2].split()[2]), recs

    def test_bind_secondary(self):
        serial, primary = self.primary_serial()
        self.wait_serial(serial)
        self.assertEqual(self.axfr(self.nport), primary)
        time.sleep(1.1)
        self.db.ctl("add", "--allocation", "eu", "198.18.0.0/15")
        self.db.ctl("del", "--allocation", "acme", "192.0.2.7/32")
        self.db.ctl("zone", "set", "iphmx.example", "--ttl", "900")
        serial2, primary = self.primary_serial()
        self.assertNotEqual(serial2, serial)
        self.notify()
        self.wait_serial(serial2)
        self.assertEqual(self.axfr(self.nport), primary)
        # it came as an IXFR: 1 + 3 x 2 SOA records and 4 changes (the zone: out, in)
        self.assertRegex(self.named_log(), r"Transfer completed: 1 messages, 12 records")
        # a member list changed: the member PTR records follow by IXFR too
        time.sleep(1.1)
        self.db.ctl("allocation", "set", "global", "--member", "eu", "--member", "acme")
        serial3, primary = self.primary_serial()
        self.assertIn("acme.m.global.a." + ZONE + ".", {r[0] for r in primary})
        self.notify()
        self.wait_serial(serial3)
        self.assertEqual(self.axfr(self.nport), primary)
        # an IXFR: the current SOA, one sequence (its two SOAs and the link
        # added), the current SOA again
        self.assertRegex(self.named_log(), r"Transfer completed: 1 messages, 5 records")


class XfrPool(T.ServerCase):
    """16 transfer connections at most, outside --tcp-max (2 here): a 17th
    AXFR gets a signed REFUSED, and the slots come back when clients go."""
    server_args = ("--tcp-max", "2")

    @classmethod
    def setup_db(cls, db):
        Xfr.setup_db(db)

    def signed_axfr(self):
        q = dns.message.make_query(ZONE, "AXFR")
        q.use_tsig(dns.tsigkeyring.from_text({"k1": SECRET}), keyname="k1",
                   algorithm="hmac-sha256")
        return q

    def test_pool_limit(self):
        held = []
        try:
            for _ in range(16):
                s = socket.create_connection(self.server.addr(), timeout=5)
                s.sendall(T.tcp_frame(self.signed_axfr().to_wire()))
                T.tcp_recv_msg(s)  # its transfer thread answers (and then waits 10 s)
                held.append(s)
            q = self.signed_axfr()
            with socket.create_connection(self.server.addr(), timeout=5) as s:
                s.sendall(T.tcp_frame(q.to_wire()))
                wire = T.tcp_recv_msg(s)
            r = dns.message.from_wire(wire, keyring=q.keyring, request_mac=q.mac)
            self.assertEqual(r.rcode(), dns.rcode.REFUSED)  # signed: from_wire verified it
            self.assertTrue(r.had_tsig)
            # ordinary queries and signed SOA still work
            p = subprocess.run([KDIG, "@127.0.0.1", "-p", str(self.server.port), "-y",
                                "hmac-sha256:k1:" + SECRET, "soa", ZONE, "+tcp"],
                               capture_output=True, text=True, timeout=20)
            self.assertIn("status: NOERROR", p.stdout)
        finally:
            for s in held:
                s.close()
        deadline = time.time() + 10
        while True:
            p = subprocess.run([KDIG, "@127.0.0.1", "-p", str(self.server.port), "-y",
                                "hmac-sha256:k1:" + SECRET, "axfr", ZONE],
                               capture_output=True, text=True, timeout=20)
            if "REFUSED" not in p.stdout + p.stderr or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertIn("_spfdb.%s." % ZONE, p.stdout, p.stderr)


class XfrLarge(T.ServerCase):
    N = 100000

    @classmethod
    def setup_db(cls, db):
        db.ctl("zone", "add", "iphmx.example", "--ns", "ns1.dns.example.net",
               "--ns", "ns2.dns.example.net")
        path = os.path.join(db.top, "entries")
        with open(path, "w") as f:
            for i in range(cls.N):
                f.write("11.%d.%d.%d/32\n" % (i >> 16, (i >> 8) & 255, i & 255))
        db.ctl("replace", "--allocation", "default", path)
        db.ctl("transfer", "set", ZONE)
        T.add_key(db, "k1", SECRET)

    def test_axfr_100k(self):
        t0 = time.time()
        p = subprocess.run([KDIG, "@%s" % self.server.host, "-p", str(self.server.port),
                            "-y", "hmac-sha256:k1:" + SECRET, "axfr", ZONE, "+noall",
                            "+answer"], capture_output=True, text=True, timeout=120)
        dt = time.time() - t0
        apl = sum(1 for l in p.stdout.splitlines() if "\tAPL\t" in l or " APL " in l)
        sys.stderr.write("AXFR of %d entries by kdig: %.2f s\n" % (self.N, dt))
        self.assertEqual(apl, self.N, p.stderr)
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    T.main()
