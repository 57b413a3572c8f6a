"""Real resolvers in front of spfdbd (SPEC §4 "EDNS" DNS Cookies, "Abuse"):

- BIND (named 9.18, forwarding the zone to spfdbd) sends DNS Cookies: it
  learns spfdbd's server cookie on its first query and sends it back on the
  next ones, which spfdbd's metrics count valid.  Under --rate-limit 1 every
  one of 60 distinct names resolves all the same: a valid cookie is never
  limited.
- unbound 1.17 (Debian 12) sends no COOKIE option at all (cookie support
  came in later releases): spfdbd's cookie counters stay at zero.  Under
  --rate-limit 1 it still resolves every name: a truncated reply (slip)
  sends it to TCP, which is never limited, and a dropped one is retried.
"""
import os
import sys
import shutil
import subprocess
import time

import dns.message
import dns.rcode

import answers as A
import spfdbtest as T
import test_unbound
from test_cookies import scrape
from test_metrics import MetricsServer
from test_unbound import Unbound

_conf = test_unbound.unbound_conf


def probing_conf(*args):
    """unbound keeps asking a server that timed out (a dropped reply) instead
    of backing off from it for minutes: rate limiting drops by design."""
    return _conf(*args).replace("server:\n", "server:\n  infra-keep-probing: yes\n", 1)


test_unbound.unbound_conf = probing_conf

NAMED = shutil.which("named") or "/usr/sbin/named"
NAMED_CONF = """options {{ directory "{dir}"; pid-file "{dir}/named.pid";
          session-keyfile "{dir}/session.key"; managed-keys-directory "{dir}";
          listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
          query-source address 127.0.0.1; notify no;
          recursion yes; allow-recursion {{ 127.0.0.1; }}; allow-query {{ 127.0.0.1; }};
          dnssec-validation no; }};
controls {{ }};
zone "{zone}" {{ type forward; forward only; forwarders {{ 127.0.0.1 port {spf}; }}; }};
"""
ZONE = A.PROVIDER["zone"]


def names(n, start):
    """N names: even ones listed (198.51.100.0/24), odd ones not."""
    out = []
    for i in range(start, start + n):
        net = "198.51.100" if i % 2 == 0 else "198.51.101"
        out.append(("%s.%d.spf.acme.%s" % (net, i, ZONE), "A" if i % 2 == 0 else "NXDOMAIN"))
    return out


def resolve(port, name):
    q = T.make_query(name, "A", rd=True, edns=0)
    r = dns.message.from_wire(T.udp_raw(("127.0.0.1", port), q.to_wire(), timeout=6, tries=2))
    if r.rcode() == dns.rcode.NOERROR and \
            [x.address for rr in r.answer for x in rr] == ["127.0.0.2"]:
        return "A"
    return dns.rcode.to_text(r.rcode())


def counters(m):
    c = {k[1][0][1]: int(v) for k, v in m.items() if k[0] == "spfdb_cookie_queries_total"}
    c.update({"limited_" + k[1][0][1]: int(v) for k, v in m.items()
              if k[0] == "spfdb_rate_limited_total"})
    c["tcp"] = int(sum(v for k, v in m.items() if k[0] == "spfdb_queries_total"
                       and ("transport", "tcp") in k[1]))
    c["udp"] = int(sum(v for k, v in m.items() if k[0] == "spfdb_queries_total"
                       and ("transport", "udp") in k[1]))
    return c


class ResolverCase(T.ServerCase):
    rate = None

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    @classmethod
    def setUpClass(cls):
        cls.db = T.Db()
        cls.server = None
        try:
            cls.setup_db(cls.db)
            args = ["--rate-limit", str(cls.rate)] if cls.rate else []
            cls.server = MetricsServer(cls.db.dir, args=args).start()
        except BaseException:
            if cls.server is not None:
                cls.server.stop()
            cls.db.cleanup()
            raise

    def check_all(self, port, cases, log):
        bad = ["%s: want %s, got %s" % (n, w, g) for n, w in cases
               for g in [resolve(port, n)] if g != w]
        self.assertFalse(bad, "\n".join(bad) + "\nresolver log:\n" + log()[-3000:])


class Named(ResolverCase):
    rate = 1

    def setUp(self):
        self.ndir = os.path.join(self.db.top, "named")
        os.makedirs(self.ndir, exist_ok=True)
        self.log = open(os.path.join(self.ndir, "log"), "w+")
        for _ in range(5):
            self.nport = T.free_port()
            with open(os.path.join(self.ndir, "named.conf"), "w") as f:
                f.write(NAMED_CONF.format(dir=self.ndir, port=self.nport, zone=ZONE,
                                          spf=self.server.port))
            self.named = subprocess.Popen([NAMED, "-g", "-c",
                                           os.path.join(self.ndir, "named.conf")],
                                          stdout=self.log, stderr=self.log,
                                          preexec_fn=T.die_with_parent)
            deadline = time.time() + 15
            while time.time() < deadline and self.named.poll() is None:
                try:
                    T.udp_raw(("127.0.0.1", self.nport),
                              T.make_query(ZONE, "SOA", rd=True).to_wire(), timeout=0.3,
                              tries=1)
                    return
                except OSError:
                    time.sleep(0.1)
            if self.named.poll() is None:
                self.named.kill()
                self.named.wait(5)
        self.fail("named did not start:\n" + self.named_log())

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

    def test_named_sends_cookies(self):
        before = counters(scrape(self.server))
        self.check_all(self.nport, names(60, 10), self.named_log)
        time.sleep(0.3)
        after = counters(scrape(self.server))
        valid = after["valid"] - before["valid"]
        print("\nthrough named at --rate-limit 1: cookies %s" % {
            k: after[k] - before.get(k, 0) for k in after}, file=sys.stderr)
        d = {k: after[k] - before.get(k, 0) for k in after}
        # Its first query (the SOA probe, before these) had the client cookie
        # alone; from then on named sends the server cookie back.
        self.assertGreaterEqual(valid, 50, d)
        self.assertEqual(after["bad"], 0, d)
        # Only queries without a valid cookie are ever limited (named drops
        # EDNS, and with it the cookie, after a timeout on a busy machine).
        uncookied = d["udp"] - d["client_only"] - d["valid"] - d["bad"]
        self.assertLessEqual(d["limited_slip"] + d["limited_badcookie"] + d["limited_drop"],
                             uncookied + d["client_only"] + d["bad"], d)


class UnboundNoCookies(ResolverCase):
    rate = 1

    def test_unbound(self):
        ub = Unbound(self.db.top, self.server.port, False).start()
        try:
            before = counters(scrape(self.server))
            self.check_all(ub.port, names(40, 100), ub.logtext)
            time.sleep(0.3)
            after = counters(scrape(self.server))
        finally:
            ub.stop()
        print("\nthrough unbound at --rate-limit 1: %s" % {
            k: after[k] - before.get(k, 0) for k in after}, file=sys.stderr)
        # unbound 1.17 sends no COOKIE option ...
        self.assertEqual((after["client_only"], after["valid"], after["bad"]), (0, 0, 0), after)
        # ... so it is limited, slips to TCP, and resolves everything anyway.
        self.assertGreater(after["limited_slip"], before["limited_slip"], after)
        self.assertGreater(after["tcp"], before["tcp"], after)


if __name__ == "__main__":
    T.main()
