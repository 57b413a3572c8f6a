"""End to end through a real resolver: unbound (QNAME minimisation, strict
and not, 0x20) resolving %{i} names from spfdbd, then pyspf evaluating
`exists:%{i}...` policies through that unbound."""
import os
import shutil
import signal
import subprocess
import time

import dns.message
import dns.rcode
import dns.resolver

import answers as A
import spfdbtest as T

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
CHECKCONF = shutil.which("unbound-checkconf") or "/usr/sbin/unbound-checkconf"

SENDERS = {
    "prov.senders.test": "v=spf1 exists:%{i}.spf.acme.iphmx.example -all",
    "dlg.senders.test": "v=spf1 exists:%{i}.spf.customer.example -all",
}

# (sender domain, client IP, pyspf result)
SPF_CASES = [
    ("prov.senders.test", "198.51.100.7", "pass"),
    ("prov.senders.test", "192.0.2.7", "pass"),
    ("prov.senders.test", "8.8.8.8", "pass"),
    ("prov.senders.test", "2001:db8:1::25", "pass"),
    ("prov.senders.test", "2001:db8:ff::7", "pass"),
    ("prov.senders.test", "::ffff:198.51.100.9", "pass"),  # verifiers treat it as IPv4
    ("prov.senders.test", "203.0.113.5", "fail"),
    ("prov.senders.test", "1.2.3.4", "fail"),
    ("prov.senders.test", "2001:db8:2::1", "fail"),
    ("prov.senders.test", "2001:db8:ff::8", "fail"),
    ("dlg.senders.test", "203.0.113.5", "pass"),
    ("dlg.senders.test", "203.0.113.127", "pass"),
    ("dlg.senders.test", "2001:db8:2::abcd", "pass"),
    ("dlg.senders.test", "203.0.113.128", "fail"),
    ("dlg.senders.test", "198.51.100.7", "fail"),
    ("dlg.senders.test", "8.8.8.8", "fail"),
    ("dlg.senders.test", "2001:db8:1::1", "fail"),
]

# (name, expected): resolved through unbound.
RESOLVE_CASES = [
    ("198.51.100.7.spf.acme.iphmx.example", "A"),
    ("8.8.8.8.spf.acme.iphmx.example", "A"),
    (T.nibbles("2001:db8:1::1") + ".spf.acme.iphmx.example", "A"),
    (T.nibbles("2001:db8:1::1").upper() + ".spf.acme.iphmx.example", "A"),
    (T.nibbles("::ffff:198.51.100.9") + ".spf.acme.iphmx.example", "A"),
    ("203.0.113.5.spf.customer.example", "A"),
    (T.nibbles("2001:db8:2::1") + ".spf.customer.example", "A"),
    ("203.0.113.5.spf.acme.iphmx.example", "NXDOMAIN"),
    (T.nibbles("2001:db8:2::1") + ".spf.acme.iphmx.example", "NXDOMAIN"),
    ("198.51.100.7.spf.customer.example", "NXDOMAIN"),
    (T.nibbles("2001:db8:1::1") + ".spf.customer.example", "NXDOMAIN"),
    ("198.51.100.7.spf.nope.iphmx.example", "NXDOMAIN"),
    ("1.2.3.4.spf.acme.iphmx.example", "NODATA"),
    ("8.8.8.8.spf.customer.example", "NODATA"),
]


def unbound_conf(top, port, spf_port, strict):
    lines = [
        "server:",
        "  interface: 127.0.0.1",
        "  port: %d" % port,
        "  do-ip4: yes", "  do-ip6: no", "  do-udp: yes", "  do-tcp: yes",
        '  username: ""', '  chroot: ""',
        '  directory: "%s"' % top, '  pidfile: "%s/unbound.pid"' % top,
        '  logfile: ""', "  use-syslog: no", "  verbosity: 1", "  num-threads: 1",
        "  so-reuseport: no",
        "  outgoing-interface: 127.0.0.1",   # nothing leaves loopback
        "  access-control: 127.0.0.0/8 allow",
        "  do-not-query-localhost: no",
        '  module-config: "iterator"',
        "  qname-minimisation: yes",
        "  qname-minimisation-strict: %s" % ("yes" if strict else "no"),
        "  use-caps-for-id: yes",
        "  harden-below-nxdomain: yes",
        '  local-zone: "senders.test." static',
    ]
    for name, txt in SENDERS.items():
        lines.append("  local-data: '%s. 300 IN TXT \"%s\"'" % (name, txt))
    for zone in (A.PROVIDER["zone"], A.DELEGATED["zone"]):
        lines += ["stub-zone:", '  name: "%s."' % zone, "  stub-addr: 127.0.0.1@%d" % spf_port]
    lines += ["remote-control:", "  control-enable: no", ""]
    return "\n".join(lines)


class Unbound:
    def __init__(self, top, spf_port, strict):
        self.top, self.spf_port, self.strict = top, spf_port, strict
        self.proc = None
        self.log = None

    def conf(self):
        """unbound.conf's text for self.port (a subclass serves other data)."""
        return unbound_conf(self.top, self.port, self.spf_port, self.strict)

    def probes(self):
        """(address, TXT name) pairs that answer once unbound is up."""
        return [(("127.0.0.1", self.port), "prov.senders.test")]

    def start(self):
        last = ""
        for _ in range(5):
            self.port = T.free_port()
            conf = os.path.join(self.top, "unbound.conf")
            with open(conf, "w") as f:
                f.write(self.conf())
            p = subprocess.run([CHECKCONF, conf], capture_output=True, text=True, timeout=30)
            if p.returncode != 0:
                raise AssertionError("unbound-checkconf: %s%s" % (p.stdout, p.stderr))
            self.log = os.path.join(self.top, "unbound.log")
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen([UNBOUND, "-d", "-c", conf], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log,
                                             preexec_fn=T.die_with_parent)
            deadline = time.time() + 15
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    for where, name in self.probes():
                        T.udp_raw(where, T.make_query(name, "TXT", rd=True).to_wire(),
                                  timeout=0.3, tries=1)
                    return self
                except OSError:
                    time.sleep(0.1)
            last = self.logtext()
            self.stop()
        raise AssertionError("unbound did not start:\n" + last)

    def logtext(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class ThroughUnbound(T.ServerCase):
    strict = True

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.unbound = None
        try:
            cls.unbound = Unbound(cls.db.top, cls.server.port, cls.strict).start()
        except BaseException:
            if cls.unbound is not None:
                cls.unbound.stop()
            super().tearDownClass()
            raise
        cls.saved_resolver = dns.resolver.default_resolver
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = ["127.0.0.1"]
        res.port = cls.unbound.port
        res.lifetime = 10
        dns.resolver.default_resolver = res

    @classmethod
    def tearDownClass(cls):
        dns.resolver.default_resolver = cls.saved_resolver
        cls.unbound.stop()
        super().tearDownClass()

    def resolve(self, name):
        q = T.make_query(T.randcase(name), "A", rd=True, edns=0)
        r = dns.message.from_wire(T.udp_raw(("127.0.0.1", self.unbound.port), q.to_wire(),
                                            timeout=5, tries=2))
        rc = r.rcode()
        addrs = [x.address for rrset in r.answer for x in rrset if hasattr(x, "address")]
        if rc == dns.rcode.NOERROR and addrs == ["127.0.0.2"]:
            return "A"
        if rc == dns.rcode.NOERROR and not r.answer:
            return "NODATA"
        return dns.rcode.to_text(rc) + ("" if not r.answer else " %r" % r.answer)

    def test_resolve_through_unbound(self):
        bad = []
        for name, want in RESOLVE_CASES + RESOLVE_CASES[::-1]:  # twice: from the cache too
            got = self.resolve(name)
            if got != want:
                bad.append("%s: want %s, got %s" % (name, want, got))
        self.assertFalse(bad, "through unbound (qname-minimisation-strict: %s):\n  %s\n"
                         "unbound log:\n%s" % (self.strict, "\n  ".join(bad),
                                               self.unbound.logtext()[-3000:]))

    def test_pyspf_through_unbound(self):
        import warnings
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # spf's dns.resolver.query
        import spf
        # pyspf resolves with dnspython's module-level resolver (DNSLookup_dnspython
        # calls dns.resolver.query), which is our Resolver pointed at unbound.
        self.assertIs(spf.DNSLookup, spf.DNSLookup_dnspython)
        bad = []
        for sender, ip, want in SPF_CASES:
            res, expl = spf.check2(i=ip, s="postmaster@" + sender, h="mail.example",
                                         querytime=10)
            if res != want:
                bad.append("%s from %s: want %s, got %s (%s)" % (sender, ip, want, res, expl))
        self.assertFalse(bad, "pyspf via unbound (strict %s):\n  %s" % (self.strict,
                                                                        "\n  ".join(bad)))


class ThroughUnboundNotStrict(ThroughUnbound):
    strict = False


if __name__ == "__main__":
    T.main()
