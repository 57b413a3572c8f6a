"""The first hop of a chain (SPEC §5): Knot DNS (knotd) and BIND (named) as
secondaries of spfdbd's transfer zone, with TSIG.  spfdbd's NOTIFY alone
makes them transfer (their SOA refresh is 300 s): after each commit on the
primary, `kdig @knotd SOA` shows the new serial within 1 s, the change
comes as IXFR, and at the end the secondary holds exactly the primary's
records.  The time from commit to the secondary's new serial is measured
over 20 commits and printed (median, max).

The configurations are the ones docs/operations.md shows ("Several name
servers")."""
import base64
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import unittest
import urllib.request

import dns.exception
import dns.message
import dns.query

import spfdbtest as T

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
NAMED = shutil.which("named") or "/usr/sbin/named"
KDIG = shutil.which("kdig") or "/usr/bin/kdig"
ZONE = "xfr.test"
SECRET = base64.b64encode(bytes(range(32))).decode()
COMMITS = 20

KNOT_CONF = """server:
    rundir: "{dir}"
    listen: 127.0.0.1@{port}
log:
  - target: stderr
    any: info
database:
    storage: "{dir}"
key:
  - id: {key}
    algorithm: hmac-sha256
    secret: {secret}
remote:
  - id: spfdb-primary
    address: 127.0.0.1@{primary}
    key: {key}
acl:
  - id: notify-from-primary
    address: 127.0.0.1
    key: {key}
    action: notify
  - id: transfer-out
    address: 127.0.0.1
    key: {key}
    action: transfer
template:
  - id: default
    storage: "{dir}"
zone:
  - domain: {zone}
    master: spfdb-primary
    acl: [notify-from-primary, transfer-out]
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
"""

NAMED_CONF = """options {{ directory "{dir}"; pid-file "{dir}/named.pid";
          session-keyfile "{dir}/session.key"; managed-keys-directory "{dir}";
          listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
          recursion no; notify no; dnssec-validation no;
          allow-query {{ 127.0.0.1; }}; allow-transfer {{ key "{key}"; }}; }};
controls {{ }};
key "{key}" {{ algorithm hmac-sha256; secret "{secret}"; }};
zone "{zone}" {{ type secondary; primaries port {primary} {{ 127.0.0.1 key "{key}"; }};
                  allow-notify {{ key "{key}"; }}; }};
"""


class Secondary(unittest.TestCase):
    """spfdbd with a served zone and the transfer zone, the secondary as its
    replica; subclasses start the secondary."""
    KEY = None
    NAME = None
    LIMIT = 1.0  # seconds from spfdb-ctl's start to the new serial at the secondary

    def setUp(self):
        for tool in (KDIG, self.binary()):
            self.assertTrue(os.access(tool, os.X_OK), "missing %s" % tool)
        self.db = T.Db()
        self.server = self.proc = self.log = None
        try:
            db = self.db
            db.ctl("zone", "add", "iphmx.example", "--ns", "ns1.dns.example.net",
                   "--ns", "ns2.dns.example.net")
            db.ctl("allocation", "add", "acme")
            db.ctl("add", "--allocation", "acme", "198.51.100.0/24", "2001:db8:1234::/48")
            db.ctl("transfer", "set", ZONE)
            T.add_key(db, self.KEY, SECRET)
            self.sport = T.free_port()
            db.ctl("replica", "add", "127.0.0.1:%d" % self.sport, "--key", self.KEY)
            self.mport = T.free_port()
            self.server = T.Server(db.dir, args=["--metrics", "127.0.0.1:%d" % self.mport,
                                                 "--notify-source", "127.0.0.1"]).start()
            self.sdir = os.path.join(db.top, self.NAME)
            os.mkdir(self.sdir)
            self.log = open(os.path.join(self.sdir, "log"), "w+")
            self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=self.log,
                                         stdin=subprocess.DEVNULL, preexec_fn=T.die_with_parent)
        except BaseException:
            self.tearDown()
            raise

    def tearDown(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            if self.server is not None:
                rc = self.server.stop()
                self.assertEqual(rc, 0, self.server.stderr())
                self.assertNotIn("Sanitizer", self.server.stderr())
        finally:
            if self.log is not None:
                self.log.close()
            self.db.cleanup()

    def secondary_log(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def kdig(self, port, *args):
        return subprocess.run([KDIG, "@127.0.0.1", "-p", str(port), "+timeout=5", "+retry=1"]
                              + list(args), capture_output=True, text=True, timeout=60)

    def axfr(self, port):
        p = self.kdig(port, "-y", "hmac-sha256:%s:%s" % (self.KEY, SECRET), "axfr", ZONE)
        self.assertEqual(p.returncode, 0, p.stderr)
        return set(r for r in T.kdig_records(p.stdout) if r[1] != "TSIG")

    def notify_metrics(self):
        url = "http://127.0.0.1:%d/metrics" % self.mport
        with urllib.request.urlopen(url, timeout=5) as f:
            text = f.read().decode()
        return {k: int(v) for k, v in
                re.findall(r"^spfdb_notify_(\w+?)(?:_total)? (\d+)$", text, re.M)}

    def primary_serial(self):
        q = dns.message.make_query("iphmx.example", "SOA")
        return dns.query.udp(q, "127.0.0.1", port=self.server.port, timeout=2).answer[0][0].serial

    def secondary_serial(self):
        q = dns.message.make_query(ZONE, "SOA")
        try:
            r = dns.query.udp(q, "127.0.0.1", port=self.sport, timeout=0.2)
        except (dns.exception.Timeout, OSError):
            return None
        return r.answer[0][0].serial if r.answer else None

    def wait_serial(self, serial, limit):
        """Poll the secondary every 2 ms until it shows SERIAL: the
        monotonic time then, or None after LIMIT seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.secondary_serial() == serial:
                return time.monotonic()
            time.sleep(0.002)
        return None

    def run_chain(self):
        serial = self.primary_serial()
        self.assertIsNotNone(self.wait_serial(serial, 30),
                             "%s never loaded the zone\n%s\n%s"
                             % (self.NAME, self.secondary_log(), self.server.stderr()))
        # spfdbd's start-up NOTIFY may have come before the secondary
        # listened: wait until its retransmission is answered, so that the
        # timing below is the steady state's
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = self.notify_metrics()
            if m["answered"] >= 1 and m["outstanding"] == 0:
                break
            time.sleep(0.05)
        else:
            self.fail("the start-up NOTIFY was never answered\n" + self.server.stderr())
        from_start, from_commit = [], []
        for i in range(COMMITS):
            t0 = time.monotonic()
            self.db.ctl("add", "--allocation", "acme", "192.0.2.%d/32" % i)
            t1 = time.monotonic()
            serial = self.primary_serial()
            t2 = self.wait_serial(serial, 5)
            self.assertIsNotNone(t2, "commit %d: serial %d not at %s within 5 s\n%s"
                                 % (i, serial, self.NAME, self.secondary_log()[-3000:]))
            from_start.append(t2 - t0)
            from_commit.append(t2 - t1)
            if os.environ.get("SPFDBTEST_VERBOSE"):
                sys.stderr.write("commit %d: ctl %.0f ms, then %.0f ms; %r\n"
                                 % (i, (t1 - t0) * 1000, (t2 - t1) * 1000, self.notify_metrics()))
        # kdig sees it too
        p = self.kdig(self.sport, "soa", ZONE)
        self.assertIn(" %d " % serial, p.stdout, p.stderr)
        sys.stderr.write("%s: commit (spfdb-ctl exit) -> new serial at %s: median %.1f ms, "
                         "max %.1f ms; from spfdb-ctl start: median %.1f ms, max %.1f ms "
                         "(%d commits)\n"
                         % (self.NAME, self.NAME, statistics.median(from_commit) * 1000,
                            max(from_commit) * 1000, statistics.median(from_start) * 1000,
                            max(from_start) * 1000, COMMITS))
        # From the commit: spfdb-ctl's own start-up (an ASan build on a busy
        # machine can take a second) is not the chain's.  On a loaded
        # machine one commit in a run has been seen to take 0.96 s, with
        # the NOTIFY answered at once (no retransmission): the secondary's
        # scheduling, so one commit may exceed LIMIT, and none 2 x LIMIT.
        slow = [round(t, 3) for t in from_commit if t >= self.LIMIT]
        self.assertLessEqual(len(slow), 1, slow)
        self.assertLess(max(from_commit), 2 * self.LIMIT)
        self.assertLess(statistics.median(from_commit), self.LIMIT / 4)
        # the same records as the primary
        self.assertEqual(self.axfr(self.sport), self.axfr(self.server.port))
        return from_start


class Knot(Secondary):
    KEY = "knot1"
    NAME = "knotd"

    def binary(self):
        return KNOTD

    def command(self):
        conf = os.path.join(self.sdir, "knot.conf")
        with open(conf, "w") as f:
            f.write(KNOT_CONF.format(dir=self.sdir, port=self.sport, key=self.KEY, secret=SECRET,
                                     primary=self.server.port, zone=ZONE))
        p = subprocess.run([shutil.which("knotc") or "/usr/sbin/knotc", "-c", conf, "conf-check"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return [KNOTD, "-c", conf]

    def test_knot_follows_by_notify(self):
        self.run_chain()
        log = self.secondary_log()
        # each change came as IXFR, started by our NOTIFY
        self.assertGreaterEqual(len(re.findall(r"IXFR, incoming, remote 127\.0\.0\.1@%d"
                                               % self.server.port + r"[^\n]*finished", log)),
                                COMMITS // 2, log[-3000:])
        self.assertRegex(log, r"notify, incoming, remote 127\.0\.0\.1@\d+, serial \d+")
        m = self.notify_metrics()
        self.assertGreaterEqual(m["answered"], COMMITS)
        self.assertEqual((m["bad_replies"], m["failed"], m["refused"]), (0, 0, 0), m)


class Bind(Secondary):
    KEY = "bind1"
    NAME = "named"
    # named answers at once but starts some transfers a few hundred ms
    # later (its own pacing of refreshes): measured and printed, bounded
    # more loosely
    LIMIT = 2.0

    def binary(self):
        return NAMED

    def command(self):
        conf = os.path.join(self.sdir, "named.conf")
        with open(conf, "w") as f:
            f.write(NAMED_CONF.format(dir=self.sdir, port=self.sport, key=self.KEY, secret=SECRET,
                                      primary=self.server.port, zone=ZONE))
        return [NAMED, "-g", "-c", conf]

    def test_bind_follows_by_notify(self):
        self.run_chain()
        log = self.secondary_log()
        self.assertRegex(log, r"notify from 127\.0\.0\.1#\d+: serial \d+")
        self.assertRegex(log, r"transfer of '%s/IN' from 127\.0\.0\.1#%d: Transfer status: success"
                         % (re.escape(ZONE), self.server.port))
        # as IXFR: the new SOA, the old, the new again, one APL, the new
        self.assertGreaterEqual(len(re.findall(r"Transfer completed: 1 messages, 5 records", log)),
                                COMMITS // 2, log[-3000:])
        m = self.notify_metrics()
        self.assertGreaterEqual(m["answered"], COMMITS)
        self.assertEqual((m["bad_replies"], m["failed"], m["refused"]), (0, 0, 0), m)


if __name__ == "__main__":
    T.main()
