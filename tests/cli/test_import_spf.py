"""spfdb-ctl import-spf (SPEC §3) against a real authoritative server: knotd
serves realistic SPF chains on its own loopback address, port 53, and each
import-spf run sees it through the system resolver, in a private mount
namespace whose /etc/resolv.conf names that address.  Nothing is imported
on any error: the database is compared before and after.

Usage: test_import_spf.py CTL [--sanitize] [unittest args]
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_ctl  # noqa: E402

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KDIG = shutil.which("kdig") or "/usr/bin/kdig"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"

SOA = """$TTL 300
@ SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 60
@ NS ns.{zone}.
ns A 127.0.0.1
"""

# A regional chain like Mimecast's: one include of regional includes.  The
# records are long, so split in strings of at most 255 as publishers do.
MC = """
_netblocks TXT "v=spf1 include:eu._netblocks.mc.test include:us._netblocks.mc.test " "include:za._netblocks.mc.test ~all"
eu._netblocks TXT "v=spf1 ip4:195.130.217.0/24 ip4:91.220.42.0/24 ip4:146.101.78.0/24 ip4:207.82.80.0/24 ip4:193.7.206.0/25 ip4:193.7.207.0/25 " "ip6:2a0a:6b00::/32 ~all"
us._netblocks TXT "v=spf1 ip4:205.139.110.0/24 ip4:216.205.24.0/24 ip4:170.10.128.0/24 ip4:170.10.129.0/24 ip4:170.10.132.56/29 ip4:170.10.133.0/24 ip6:2607:f8b0:4864::/56 ~all"
za._netblocks TXT "v=spf1 ip4:41.74.192.0/24 ip4:41.74.193.0/24 ip4:41.74.194.0/23 ip4:41.74.196.0/22 ~all"
"""
MC_SET = ["41.74.192.0/21", "91.220.42.0/24", "146.101.78.0/24", "170.10.128.0/23",
          "170.10.132.56/29", "170.10.133.0/24", "193.7.206.0/25", "193.7.207.0/25",
          "195.130.217.0/24", "205.139.110.0/24", "207.82.80.0/24", "216.205.24.0/24",
          "2607:f8b0:4864::/56", "2a0a:6b00::/32"]

# A customer, and a university: one include for its whole network with a
# and mx terms with CIDR lengths.
CUST = """
acme TXT "v=spf1 include:_netblocks.mc.test -all"
acme TXT "google-site-verification=abc"
uni TXT "v=spf1 include:_spf.uni.cust.test ~all"
_spf.uni TXT "v=spf1 a:smtp.uni.cust.test/28 mx:uni.cust.test//64 mx:lists.uni.cust.test ip4:131.111.0.0/16 ip6:2001:630:212::/48 ~all"
smtp.uni A 193.60.88.19
smtp.uni AAAA 2001:630:212:8::19
uni MX 10 mx1.uni.cust.test.
uni MX 20 mx2.uni.cust.test.
mx1.uni A 128.232.132.10
mx1.uni AAAA 2001:630:212:700::10
mx2.uni A 128.232.132.11
mx2.uni AAAA 2001:630:212:700::11
lists.uni MX 10 lists-mx.uni.cust.test.
lists-mx.uni A 131.111.8.1
lists-mx.uni A 176.58.120.5
"""
UNI_SET = ["128.232.132.10/31", "131.111.0.0/16", "176.58.120.5/32", "193.60.88.16/28",
           "2001:630:212::/48"]

# Errors and the rest of the rules.
BAD = """
loop1 TXT "v=spf1 include:loop2.bad.test -all"
loop2 TXT "v=spf1 ip4:192.0.2.0/24 include:loop3.bad.test -all"
loop3 TXT "v=spf1 redirect=loop1.bad.test"
many TXT "v=spf1 include:n1.bad.test include:n2.bad.test include:n3.bad.test include:n4.bad.test include:n5.bad.test " "include:n6.bad.test include:n7.bad.test include:n8.bad.test include:n9.bad.test include:n10.bad.test include:n11.bad.test -all"
ten TXT "v=spf1 include:n1.bad.test include:n2.bad.test include:n3.bad.test include:n4.bad.test include:n5.bad.test " "include:n6.bad.test include:n7.bad.test include:n8.bad.test include:n9.bad.test include:n10.bad.test -all"
void TXT "v=spf1 a:gone1.bad.test mx:gone2.bad.test ip4:192.0.2.0/24 a:empty.bad.test -all"
void2 TXT "v=spf1 a:gone1.bad.test mx:gone2.bad.test ip4:192.0.2.0/24 -all"
empty TXT "not an address"
exists TXT "v=spf1 exists:%{i}._spf.bad.test ip4:198.51.100.0/24 -all"
ptr TXT "v=spf1 ip4:198.51.100.0/24 ptr ~all"
macro TXT "v=spf1 -include:%{l}._u.bad.test ip4:198.51.100.0/24 -all"
plusall TXT "v=spf1 ip4:198.51.100.0/24 +all"
sub TXT "v=spf1 -ip4:192.0.2.5 ip4:192.0.2.0/24 -all"
redir TXT "v=spf1 ip4:203.0.113.1 redirect=_spf.bad.test"
redirall TXT "v=spf1 ip4:203.0.113.1 ~all redirect=_spf.bad.test"
_spf TXT "v=spf1 ip4:203.0.113.0/30 ip6:2001:db8:5::/48 -all"
after TXT "v=spf1 ip4:203.0.113.1 -all ip4:198.51.100.0/24 include:nowhere.bad.test"
hostbits TXT "v=spf1 ip4:203.0.113.77/24 ip6:2001:db8::1/32 -all"
nospf TXT "hello"
nothing TXT "v=spf1 -all"
two TXT "v=spf1 -all"
two TXT "v=spf1 ip4:192.0.2.1 -all"
syntax TXT "v=spf1 ip4:192.0.2.1/33 -all"
incnone TXT "v=spf1 include:nospf.bad.test -all"
"""
for i in range(1, 12):
    BAD += "n%d TXT \"v=spf1 ip4:198.18.%d.0/24 -all\"\n" % (i, i)
# mx: at most 10 MX hosts (RFC 7208 section 4.6.4)
BAD += "mx10 TXT \"v=spf1 mx/30 -all\"\nmx11 TXT \"v=spf1 mx -all\"\n"
for i in range(1, 12):
    BAD += "m%d A 198.19.0.%d\nmx11 MX %d m%d.bad.test.\n" % (i, 4 * i, i, i)
    if i <= 10:
        BAD += "mx10 MX %d m%d.bad.test.\n" % (i, i)

ZONES = {"mc.test": MC, "cust.test": CUST, "bad.test": BAD}

KNOT_CONF = """server:
    rundir: "{dir}"
    listen: {addr}@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{dir}"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "{dir}"
    file: "{dir}/%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
"""


class Knot:
    """knotd on 127.a.b.c:53, authoritative for ZONES."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="knot-spf-")
        self.addr = "127.%d.%d.%d" % (random.randrange(64, 250), random.randrange(1, 250),
                                       random.randrange(2, 250))
        self.proc = None
        conf = KNOT_CONF.format(dir=self.dir, addr=self.addr)
        for zone, body in ZONES.items():
            with open(os.path.join(self.dir, zone + ".zone"), "w") as f:
                f.write(SOA.format(zone=zone) + body)
            conf += "  - domain: %s\n" % zone
        with open(os.path.join(self.dir, "knot.conf"), "w") as f:
            f.write(conf)
        self.resolv = os.path.join(self.dir, "resolv.conf")
        with open(self.resolv, "w") as f:
            f.write("nameserver %s\noptions timeout:2 attempts:2\n" % self.addr)

    def start(self):
        if not os.access(KNOTD, os.X_OK):
            raise AssertionError("knotd is not installed (scripts/deps.sh)")
        self.log = open(os.path.join(self.dir, "knotd.log"), "wb")
        self.proc = subprocess.Popen([KNOTD, "-c", os.path.join(self.dir, "knot.conf")],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        for zone in ZONES:
            while True:
                r = subprocess.run([KDIG, "@" + self.addr, "+short", "+timeout=1", "+retry=0",
                                    zone, "SOA"], capture_output=True, text=True, timeout=10)
                if r.returncode == 0 and r.stdout.strip():
                    break
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError("knotd did not serve %s:\n%s" % (zone, self.knot_log()))
                time.sleep(0.1)
        return self

    def knot_log(self):
        with open(os.path.join(self.dir, "knotd.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, True)


KNOT = None


class NsDb(test_ctl.Db):
    """A database whose import-spf runs see knotd as the system resolver."""

    def run(self, *args, input=None, env=None, db=True, timeout=120, leaks=True):
        if not args or args[0] != "import-spf":
            return super().run(*args, input=input, env=env, db=db, timeout=timeout, leaks=leaks)
        e = dict(os.environ)
        e.pop("SPFDB_DB", None)
        argv = [test_ctl.CTL, "--db", self.dir] + list(args)
        script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
        return subprocess.run([UNSHARE, "-m", "sh", "-c", script, "sh", KNOT.resolv] + argv,
                              input=input, env=e, capture_output=True, text=True,
                              timeout=timeout)


class ImportSpf(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        global KNOT
        KNOT = Knot()
        try:
            KNOT.start()
        except BaseException:
            KNOT.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        KNOT.stop()

    def setUp(self):
        self.db = NsDb(self)
        self.db.ok("allocation", "add", "acme")
        self.db.ok("add", "--allocation", "acme", "192.0.2.200")

    def entries(self):
        return self.db.ok("list", "--allocation", "acme", leaks=False).stdout.split()

    def dry(self, domain, *opts):
        r = self.db.ok("import-spf", "--allocation", "acme", "--dry-run", *opts, domain)
        self.assertIn("dry run: nothing changed", r.stderr)
        return r

    def test_regional_chain(self):
        before = self.db.state()
        r = self.dry("acme.cust.test")
        self.assertEqual(r.stdout.split(), MC_SET)
        self.assertEqual(self.db.state(), before)
        r = self.db.ok("import-spf", "--allocation", "acme", "acme.cust.test")
        self.assertEqual(r.stdout, "added %d, skipped 0\n" % len(MC_SET))
        self.assertEqual(sorted(self.entries()), sorted(MC_SET + ["192.0.2.200/32"]))
        # the change log names the command
        self.assertIn("import-spf --allocation acme acme.cust.test",
                      self.db.ok("log", "--allocation", "acme").stdout)
        # again: everything present
        r = self.db.ok("import-spf", "--allocation", "acme", "acme.cust.test")
        self.assertEqual(r.stdout, "added 0, skipped %d\n" % len(MC_SET))

    def test_university_a_mx_cidr(self):
        r = self.dry("uni.cust.test")
        self.assertEqual(r.stdout.split(), UNI_SET)
        # mx//64 widened the IPv6 MX addresses; they lie in the /48 already
        self.assertNotIn("2001:630:212:700::10/128", r.stdout)

    def test_replace_with_diff(self):
        r = self.db.ok("import-spf", "--allocation", "acme", "--replace", "--dry-run",
                       "uni.cust.test")
        self.assertIn("- 192.0.2.200/32\n", r.stdout)
        self.assertIn("+ 131.111.0.0/16\n", r.stdout)
        self.assertEqual(self.entries(), ["192.0.2.200/32"])
        r = self.db.ok("import-spf", "--allocation", "acme", "--replace", "uni.cust.test")
        want = "".join("+ %s\n" % p for p in UNI_SET[:3]) + "- 192.0.2.200/32\n" + \
            "".join("+ %s\n" % p for p in UNI_SET[3:]) + "added 5, removed 1, kept 0\n"
        self.assertEqual(r.stdout, want)
        self.assertEqual(self.entries(), UNI_SET)
        # an empty result needs --allow-empty, as replace
        self.db.fails(2, "import-spf", "--allocation", "acme", "--replace", "nothing.bad.test",
                      want=["--allow-empty"])
        self.db.ok("import-spf", "--allocation", "acme", "--replace", "--allow-empty",
                   "nothing.bad.test")
        self.assertEqual(self.entries(), [])
        self.db.ok("import-spf", "--allocation", "acme", "--replace", "after.bad.test")
        self.assertEqual(self.entries(), ["203.0.113.1/32"])

    def test_loop(self):
        r = self.db.fails(2, "import-spf", "--allocation", "acme", "loop1.bad.test",
                          want=["loop1.bad.test", "loop", "nothing imported"])
        self.assertIn("loop1.bad.test -> loop2.bad.test -> loop3.bad.test -> loop1.bad.test",
                      r.stderr)

    def test_more_than_ten_lookups(self):
        self.db.fails(2, "import-spf", "--allocation", "acme", "many.bad.test",
                      want=["many.bad.test", "more than 10 DNS lookups", "nothing imported"])
        for opts in ([], ["--force"], ["--replace"]):
            self.db.fails(2, "import-spf", "--allocation", "acme", *opts, "many.bad.test")
        r = self.dry("ten.bad.test")
        self.assertEqual(r.stdout.split(), ["198.18.1.0/24", "198.18.2.0/23", "198.18.4.0/22",
                                            "198.18.8.0/23", "198.18.10.0/24"])

    def test_void_lookups(self):
        self.db.fails(2, "import-spf", "--allocation", "acme", "void.bad.test",
                      want=["void.bad.test", "more than 2 void DNS lookups", "empty.bad.test"])
        r = self.dry("void2.bad.test")
        self.assertEqual(r.stdout, "192.0.2.0/24\n")
        self.assertIn("gone2.bad.test has no MX record", r.stderr)

    def test_mx_hosts_limit(self):
        self.assertEqual(self.dry("mx10.bad.test").stdout.split(),
                         ["198.19.0.4/30", "198.19.0.8/29", "198.19.0.16/28", "198.19.0.32/29",
                          "198.19.0.40/30"])
        self.db.fails(2, "import-spf", "--allocation", "acme", "mx11.bad.test",
                      want=["mx11.bad.test", "11 MX hosts, more than 10", "nothing imported"])

    def test_unimportable(self):
        for dom, term in (("exists.bad.test", "exists:%{i}._spf.bad.test"),
                          ("macro.bad.test", "-include:%{l}._u.bad.test"),
                          ("plusall.bad.test", "+all")):
            self.db.fails(2, "import-spf", "--allocation", "acme", dom,
                          want=["cannot import %s: %s" % (dom, term), "--force",
                                "nothing imported"])
            self.db.fails(2, "import-spf", "--allocation", "acme", "--replace", dom)
            r = self.db.ok("import-spf", "--allocation", "acme", "--force", dom)
            self.assertIn("cannot import %s: %s" % (dom, term), r.stderr)
            self.assertEqual(r.stdout, "added 1, skipped 0\n")
            self.db.ok("del", "--allocation", "acme", "198.51.100.0/24")
        # after every pass term: listed, imported without --force
        r = self.db.ok("import-spf", "--allocation", "acme", "ptr.bad.test")
        self.assertIn("cannot import ptr.bad.test: ptr", r.stderr)
        self.assertIn("198.51.100.0/24", self.entries())

    def test_subtraction(self):
        r = self.dry("sub.bad.test")
        self.assertEqual(r.stdout.split(),
                         ["192.0.2.0/30", "192.0.2.4/32", "192.0.2.6/31", "192.0.2.8/29",
                          "192.0.2.16/28", "192.0.2.32/27", "192.0.2.64/26", "192.0.2.128/25"])

    def test_redirect_and_all(self):
        r = self.dry("redir.bad.test")
        self.assertEqual(r.stdout.split(), ["203.0.113.0/30", "2001:db8:5::/48"])
        # redirect= only without all
        self.assertEqual(self.dry("redirall.bad.test").stdout, "203.0.113.1/32\n")
        # nothing after all: not imported, not looked up
        self.assertEqual(self.dry("after.bad.test").stdout, "203.0.113.1/32\n")

    def test_host_bits(self):
        r = self.dry("hostbits.bad.test")
        self.assertEqual(r.stdout.split(), ["203.0.113.0/24", "2001:db8::/32"])
        self.assertIn("ip4:203.0.113.77/24: host bits masked: 203.0.113.0/24", r.stderr)
        self.assertIn("ip6:2001:db8::1/32: host bits masked: 2001:db8::/32", r.stderr)

    def test_permerrors(self):
        for dom, want in (("nospf.bad.test", "publishes no SPF record"),
                          ("nxdomain.bad.test", "publishes no SPF record"),
                          ("two.bad.test", "publishes 2 SPF records"),
                          ("syntax.bad.test", "bad term 'ip4:192.0.2.1/33'"),
                          ("incnone.bad.test", "nospf.bad.test publishes no SPF record")):
            self.db.fails(2, "import-spf", "--allocation", "acme", dom,
                          want=[dom, want, "nothing imported"])
        # unknown allocation: before any lookup
        self.db.fails(2, "import-spf", "--allocation", "nosuch", "acme.cust.test",
                      want=["nosuch"])
        self.db.fails(2, "import-spf", "--allocation", "acme", "not a domain")
        self.db.fails(2, "import-spf", "--allocation", "acme", "--allow-empty", "acme.cust.test",
                      want=["--replace"])

    def test_committed_report_lost_exits_4(self):
        # SPEC section 3: a commit whose report cannot be written exits 4
        for opts, want in (([], MC_SET + ["192.0.2.200/32"]), (["--replace"], MC_SET)):
            with open("/dev/full", "wb") as full:
                script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
                r = subprocess.run([UNSHARE, "-m", "sh", "-c", script, "sh", KNOT.resolv,
                                    test_ctl.CTL, "--db", self.db.dir, "import-spf",
                                    "--allocation", "acme", *opts, "acme.cust.test"],
                                   stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
            self.assertEqual(r.returncode, 4, r.stderr)
            self.assertIn("the change was committed", r.stderr)
            self.assertEqual(sorted(self.entries()), sorted(want))
            self.db.ok("replace", "--allocation", "acme", "-", input="192.0.2.200/32\n")
        # nothing committed: a dry run's lost output is 3, as for replace
        with open("/dev/full", "wb") as full:
            r = subprocess.run([UNSHARE, "-m", "sh", "-c", script, "sh", KNOT.resolv,
                                test_ctl.CTL, "--db", self.db.dir, "import-spf", "--allocation",
                                "acme", "--dry-run", "acme.cust.test"],
                               stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(self.entries(), ["192.0.2.200/32"])

    def test_replica_refuses(self):
        self.db.ok("key", "add", "k")
        self.db.ok("primary", "set", "127.0.0.1:5399", "--key", "k", "--zone", "xfr.example",
                   "--force")
        # refused before any lookup: the domain's missing record goes unseen
        for opts in ([], ["--replace"]):
            r = self.db.fails(2, "import-spf", "--allocation", "acme", *opts,
                              "nxdomain.bad.test", want=["replica"])
            self.assertNotIn("SPF record", r.stderr)


def main():
    test_ctl.run(test_ctl.take_args()[1])


if __name__ == "__main__":
    main()
