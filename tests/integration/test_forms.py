"""Every publication form (SPEC §1, §4 "Names", "The `_spf` chain") end to
end: real SPF verifiers -- pyspf, libspf2's spfquery and Perl's Mail::SPF --
evaluate customer records that use exists:, include:%{i}._ip and
include:_spf, through unbound (QNAME minimisation strict and relaxed, 0x20)
resolving spfdbd's names, for IPv4 and IPv6 senders, listed and not; the
void-lookup limit both ways; the `_spf` chain at sizes needing 0-3 leaves
and one that falls back, checked record by record against the set.

The customers' domains (senders.test) are unbound local data.  spfquery
takes no server address: it runs in a private mount namespace whose
/etc/resolv.conf names an extra unbound interface on 127.x.y.z:53."""
import ipaddress
import os
import random
import shutil
import subprocess
import time

import dns.message
import dns.rdatatype

import spfdbtest as T
import test_unbound

SPFQUERY = shutil.which("spfquery") or "/usr/bin/spfquery"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
PERL = shutil.which("perl") or "/usr/bin/perl"
HERE = os.path.dirname(os.path.abspath(__file__))

PZ = "iphmx.example"          # provider zone
DZ = "spf.customer.example"   # delegated zone, bound to cust
ACME = ["198.51.100.0/24", "192.0.2.7", "2001:db8:1::/48"]
CUST = ["203.0.113.0/25", "2001:db8:2::/64"]
P2 = ["10.20.0.0/16"]
P3 = ["10.30.0.0/16"]

SENDERS = {
    "exists.senders.test": "v=spf1 exists:%%{i}.spf.acme.%s -all" % PZ,
    "ip.senders.test": "v=spf1 include:%%{i}._ip.acme.%s -all" % PZ,
    "spf.senders.test": "v=spf1 include:_spf.acme.%s -all" % PZ,
    "dexists.senders.test": "v=spf1 exists:%%{i}.%s -all" % DZ,
    "dip.senders.test": "v=spf1 include:%%{i}._ip.%s -all" % DZ,
    "dspf.senders.test": "v=spf1 include:_spf.%s -all" % DZ,
    # three providers in one record: a sender none lists
    "void-exists.senders.test": "v=spf1 exists:%%{i}.spf.acme.%s exists:%%{i}.spf.p2.%s "
                                "exists:%%{i}.spf.p3.%s ~all" % (PZ, PZ, PZ),
    "void-ip.senders.test": "v=spf1 include:%%{i}._ip.acme.%s include:%%{i}._ip.p2.%s "
                            "include:%%{i}._ip.p3.%s ~all" % (PZ, PZ, PZ),
}

# (domain prefix, IP, result) for each form: listed and not, IPv4 and IPv6.
FORM_CASES = []
for form in ("exists", "ip", "spf"):
    FORM_CASES += [
        (form, "198.51.100.7", "pass"), (form, "192.0.2.7", "pass"),
        (form, "2001:db8:1::25", "pass"), (form, "2001:db8:1:ffff::1", "pass"),
        # verifiers treat it as IPv4 (RFC 7208 §5); libspf2 does for %{i},
        # but matches it against ip6: terms only, and the chain has ip4:
        (form, "::ffff:198.51.100.9",
         {"*": "pass", "spfquery": "fail"} if form == "spf" else "pass"),
        (form, "192.0.2.8", "fail"), (form, "203.0.113.5", "fail"),
        (form, "2001:db8:2::1", "fail"), (form, "2001:db8:0:ffff::1", "fail"),
        ("d" + form, "203.0.113.5", "pass"), ("d" + form, "2001:db8:2::abcd", "pass"),
        ("d" + form, "203.0.113.128", "fail"), ("d" + form, "2001:db8:1::1", "fail"),
    ]
VOID_CASES = [
    ("void-exists", "10.99.0.1", "permerror"),  # three void lookups (RFC 7208 §4.6.4)
    ("void-exists", "2001:db8:99::1", "permerror"),
    ("void-exists", "10.30.1.1", "pass"),       # the third exists: matches: two voids only
    ("void-ip", "10.99.0.1", "softfail"),       # never void: the record's own ~all
    ("void-ip", "2001:db8:99::1", "softfail"),
    ("void-ip", "10.30.1.1", "pass"),
    ("void-ip", "198.51.100.200", "pass"),
]

# The `_spf` chain: random sets (seeded) needing 0, 1, 2 and 3 leaves, and
# one that falls back to exists: (SPEC §4: at most 3 leaves).
CHAIN_SIZES = {"c0": 10, "c1": 30, "c2": 47, "c3": 65, "cfb": 200}


def random_set(rnd, n):
    """N random prefixes, IPv4 and IPv6, some adjacent (they merge) and
    some nested; as spfdb-ctl add takes them."""
    out = set()
    while len(out) < n:
        r = rnd.random()
        if r < 0.55:
            a = ipaddress.IPv4Address(rnd.randrange(0x0A000000, 0x0AFFFFFF) & ~1)
            out.add("%s/%d" % (a, rnd.choice([32, 32, 32, 31, 24, 28])))
        elif r < 0.65:  # a pair that merges into one CIDR
            b = rnd.randrange(0x0A000000, 0x0AFFFFFF) & ~0xFF
            out.add("%s/25" % ipaddress.IPv4Address(b))
            out.add("%s/25" % ipaddress.IPv4Address(b + 128))
        else:
            a = ipaddress.IPv6Address((0x20010db8 << 96) | (rnd.getrandbits(64) << 32))
            out.add("%s/%d" % (a, rnd.choice([128, 64, 96, 48])))
    nets = [ipaddress.ip_network(p, strict=False) for p in out]
    return sorted({str(n) for n in nets})


def collapse(prefixes):
    nets = [ipaddress.ip_network(p) for p in prefixes]
    v4 = list(ipaddress.collapse_addresses([n for n in nets if n.version == 4]))
    v6 = list(ipaddress.collapse_addresses([n for n in nets if n.version == 6]))
    return v4 + v6


def edge_addresses(nets):
    """Every CIDR's first and last address, listed, and those just outside,
    not listed unless another CIDR holds them."""
    cases = []
    for n in nets:
        for a in (n.network_address, n.broadcast_address):
            cases.append((str(a), True))
        for a in (int(n.network_address) - 1, int(n.broadcast_address) + 1):
            if 0 <= a < (1 << n.max_prefixlen):
                ip = ipaddress.IPv6Address(a) if n.version == 6 else ipaddress.IPv4Address(a)
                cases.append((str(ip), any(ip in m for m in nets)))
    return cases


def unbound_conf(top, port, ns_addr, spf_port, senders, strict):
    lines = [
        "server:",
        "  interface: 127.0.0.1@%d" % port,
        "  interface: %s@53" % ns_addr,       # for spfquery (resolv.conf has no port)
        "  do-ip4: yes", "  do-ip6: no", "  do-udp: yes", "  do-tcp: yes",
        '  username: ""', '  chroot: ""',
        '  directory: "%s"' % top, '  pidfile: "%s/unbound.pid"' % top,
        '  logfile: ""', "  use-syslog: no", "  verbosity: 1", "  num-threads: 1",
        "  so-reuseport: no",
        "  outgoing-interface: 127.0.0.1",
        "  access-control: 127.0.0.0/8 allow",
        "  do-not-query-localhost: no",
        '  module-config: "iterator"',
        "  qname-minimisation: yes",
        "  qname-minimisation-strict: %s" % ("yes" if strict else "no"),
        "  use-caps-for-id: yes",
        "  harden-below-nxdomain: yes",
        '  local-zone: "senders.test." static',
    ]
    for name, txt in senders.items():
        lines.append("  local-data: '%s. 300 IN TXT \"%s\"'" % (name, txt))
    for zone in (PZ, DZ):
        lines += ["stub-zone:", '  name: "%s."' % zone, "  stub-addr: 127.0.0.1@%d" % spf_port]
    lines += ["remote-control:", "  control-enable: no", ""]
    return "\n".join(lines)


class Unbound(test_unbound.Unbound):
    """unbound with the customers' SPF records as local data, also on port
    53 of a loopback address of its own (for spfquery's resolv.conf)."""

    def __init__(self, top, spf_port, senders, strict):
        super().__init__(top, spf_port, strict)
        self.senders = senders

    def conf(self):
        self.ns_addr = "127.%d.%d.%d" % (random.randrange(64, 250), random.randrange(1, 250),
                                         random.randrange(2, 250))
        return unbound_conf(self.top, self.port, self.ns_addr, self.spf_port, self.senders,
                            self.strict)

    def probes(self):
        return [(("127.0.0.1", self.port), "ip.senders.test"),
                ((self.ns_addr, 53), "ip.senders.test")]


# ---- the three verifiers: [(domain, ip)] -> [result] -------------------------

def run_pyspf(port, cases):
    import warnings
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import dns.resolver
    import spf
    saved = dns.resolver.default_resolver
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = port
    res.lifetime = 10
    dns.resolver.default_resolver = res
    try:
        return [spf.check2(i=ip, s="postmaster@" + d, h="mail.example", querytime=10)[0]
                for d, ip in cases]
    finally:
        dns.resolver.default_resolver = saved


def run_mailspf(port, cases):
    p = subprocess.run([PERL, os.path.join(HERE, "mailspf.pl"), str(port)],
                       input="".join("%s postmaster@%s\n" % (ip, d) for d, ip in cases),
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("mailspf.pl: exit %d: %s" % (p.returncode, p.stderr))
    return p.stdout.split()


def run_spfquery(ns_addr, top, cases):
    """libspf2's spfquery through the system resolver: a private mount
    namespace gives it a resolv.conf naming unbound's port-53 address."""
    rc = os.path.join(top, "resolv.conf")
    with open(rc, "w") as f:
        f.write("nameserver %s\noptions timeout:5 attempts:2\n" % ns_addr)
    data = os.path.join(top, "spfquery.in")
    with open(data, "w") as f:
        for d, ip in cases:
            f.write("%s postmaster@%s mail.example\n" % (ip, d))
    script = 'mount --bind "$1" /etc/resolv.conf && exec "$2" -file "$3"'
    p = subprocess.run([UNSHARE, "-m", "sh", "-c", script, "sh", rc, SPFQUERY, data],
                       capture_output=True, text=True, timeout=300)
    # spfquery prints per query: the result, the smtp comment, the header
    # comment and Received-SPF; exit status is the last result's.
    codes = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")
    out = [line for line in p.stdout.splitlines() if line in codes]
    if len(out) != len(cases):
        raise AssertionError("spfquery: %d results for %d queries (exit %d)\nstdout:\n%s\n"
                             "stderr:\n%s" % (len(out), len(cases), p.returncode, p.stdout[-3000:],
                                              p.stderr[-3000:]))
    return out


class VerifierCase(T.ServerCase):
    """spfdbd with unbound in front of it, serving the customers' records
    (cls.senders(): name -> SPF text) as local data, and the verifiers."""
    strict = True  # unbound's QNAME minimisation: strict or relaxed

    @classmethod
    def senders(cls):
        return {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.unbound = None
        try:
            cls.unbound = Unbound(cls.db.top, cls.server.port, cls.senders(), cls.strict).start()
        except BaseException:
            if cls.unbound is not None:
                cls.unbound.stop()
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.unbound.stop()
        super().tearDownClass()

    def verify(self, cases, verifiers=("pyspf", "mailspf", "spfquery")):
        """CASES: (domain prefix, ip, want); each verifier must agree."""
        q = [("%s.senders.test" % d, ip) for d, ip, _ in cases]
        bad = []
        for v in verifiers:
            if v == "pyspf":
                got = run_pyspf(self.unbound.port, q)
            elif v == "mailspf":
                got = run_mailspf(self.unbound.port, q)
            else:
                got = run_spfquery(self.unbound.ns_addr, self.db.top, q)
            for (d, ip, want), g in zip(cases, got):
                if isinstance(want, dict):
                    want = want.get(v, want["*"])
                if g != want:
                    bad.append("%s: %s from %s: want %s, got %s" % (v, d, ip, want, g))
        self.assertFalse(bad, "(qname-minimisation-strict %s)\n  %s\nunbound log:\n%s"
                         % (self.strict, "\n  ".join(bad), self.unbound.logtext()[-2000:]))


class Forms(VerifierCase):
    @classmethod
    def setup_db(cls, db):
        for a in ("acme", "cust", "p2", "p3") + tuple(CHAIN_SIZES):
            db.ctl("allocation", "add", a)
        db.ctl("add", "--allocation", "acme", *ACME)
        db.ctl("add", "--allocation", "cust", *CUST)
        db.ctl("add", "--allocation", "p2", *P2)
        db.ctl("add", "--allocation", "p3", *P3)
        cls.chain_sets = {}
        for name, n in CHAIN_SIZES.items():
            s = random_set(random.Random(20261207), n)
            cls.chain_sets[name] = s
            db.ctl("add", "--allocation", name, "-", stdin="\n".join(s) + "\n")
        db.ctl("zone", "add", PZ, "--ns", "ns1.esp.example", "--ns", "ns2.esp.example")
        db.ctl("zone", "add", DZ, "--allocation", "cust", "--ns", "ns1.esp.example",
               "--ns", "ns2.esp.example")

    @classmethod
    def senders(cls):
        senders = dict(SENDERS)
        for name in CHAIN_SIZES:
            senders["%s.senders.test" % name] = "v=spf1 include:_spf.%s.%s -all" % (name, PZ)
        return senders

    def test_each_form_each_verifier(self):
        self.verify(FORM_CASES)

    def test_void_lookups_both_ways(self):
        # libspf2 does not count void lookups (RFC 4408 had no limit): for it
        # three missing exists: terms end at the record's ~all.
        cases = [(d, ip, {"*": w, "spfquery": "softfail"} if w == "permerror" else w)
                 for d, ip, w in VOID_CASES]
        self.verify(cases)

    def direct_txt(self, name):
        q = T.make_query(name, "TXT", edns=0)
        r = dns.message.from_wire(T.udp_raw(("127.0.0.1", self.server.port), q.to_wire()))
        self.assertEqual(r.rcode(), 0, name)
        self.assertEqual(len(r.answer), 1, name)
        rd = r.answer[0][0]
        for s in rd.strings:
            self.assertLessEqual(len(s), 255)
        for s in rd.strings[:-1]:
            self.assertTrue(s.endswith(b" "), "a string is cut right after a space")
        text = b"".join(rd.strings).decode()
        self.assertLessEqual(len(text), 450, name)
        self.assertLessEqual(len(r.to_wire()) + 28, 512, "with a COOKIE option: " + name)
        return text

    def chain_records(self, alloc):
        base = "_spf.%s.%s" % (alloc, PZ)
        top = self.direct_txt(base)
        leaves = [self.direct_txt("%d.%s" % (k, base)) for k in (1, 2, 3)]
        return top, leaves

    def test_chain_holds_exactly_the_set(self):
        seen = []
        for alloc, prefixes in self.chain_sets.items():
            top, leaves = self.chain_records(alloc)
            terms = top.split()
            self.assertEqual(terms[0], "v=spf1")
            self.assertEqual(terms[-1], "~all")
            if "exists:" in top:
                self.assertEqual(top, "v=spf1 exists:%%{i}.spf.%s.%s ~all" % (alloc, PZ))
                self.assertEqual(leaves, ["v=spf1 ~all"] * 3)
                seen.append("fallback")
                continue
            inc = [t for t in terms if t.startswith("include:")]
            k = len(inc)
            self.assertEqual(inc, ["include:%d._spf.%s.%s" % (i, alloc, PZ)
                                   for i in range(1, k + 1)])
            seen.append(k)
            got = [t for t in terms if t.startswith("ip")]
            for i, leaf in enumerate(leaves):
                lt = leaf.split()
                self.assertEqual((lt[0], lt[-1]), ("v=spf1", "~all"))
                if i >= k:
                    self.assertEqual(leaf, "v=spf1 ~all")
                else:
                    self.assertGreater(len(lt), 2, "a used leaf holds terms")
                got += lt[1:-1]
            nets = [ipaddress.ip_network(t[4:]) for t in got]
            want = collapse(prefixes)
            # exactly the set, as the fewest CIDRs, IPv4 first, in order
            self.assertEqual(nets, want, alloc)
        self.assertEqual(sorted(seen, key=str), [0, 1, 2, 3, "fallback"])

    def test_chain_with_real_verifiers(self):
        """Every CIDR's edges and the addresses just outside them, through
        unbound, by each verifier: pass exactly for the set."""
        cases = []
        for alloc, prefixes in self.chain_sets.items():
            nets = collapse(prefixes)
            edges = edge_addresses(nets)
            if alloc == "cfb":
                edges = edges[:40]  # the exists: fallback, by macro
            for ip, listed in edges:
                cases.append((alloc, ip, "pass" if listed else "fail"))
        self.verify(cases)

    def test_chain_is_live(self):
        """A commit changes the chain at once (no cache survives a snapshot)."""
        top, _ = self.chain_records("c0")
        self.assertNotIn("ip4:192.0.2.99", top)
        self.db.ctl("add", "--allocation", "c0", "192.0.2.99")
        try:
            deadline = time.time() + 2
            while time.time() < deadline:
                top, _ = self.chain_records("c0")
                if "ip4:192.0.2.99" in top:
                    break
                time.sleep(0.01)
            self.assertIn("ip4:192.0.2.99", top)
        finally:
            self.db.ctl("del", "--allocation", "c0", "192.0.2.99")
        top, _ = self.chain_records("c0")
        self.assertNotIn("ip4:192.0.2.99", top)


class FormsNotStrict(Forms):
    strict = False


if __name__ == "__main__":
    T.main()
