"""spfdb-follow (SPEC §5): a replica follows the primary's spfdbd.  The
first AXFR, then changes (entries added, deleted and replaced, zones and
allocations added, changed and deleted) reach the replica by SOA polling
and by a signed NOTIFY (UDP and TCP); the replica's serial is the
primary's; an oracle compares the two servers' answers; local changes
exit 2 naming the primary; NOTIFYs that are unsigned, wrongly signed or
from another address are refused; the replica's metrics; member
allocations (global with eu and us) made, changed and deleted on the
primary reach the replica by AXFR and IXFR, and kdig sees its answers
follow."""
import re
import shutil
import subprocess
import time
import unittest
import urllib.request

import dns.flags
import dns.rcode

import spfdbtest as T
import followtest as F


KDIG = shutil.which("kdig")


def kdig_a(server, name):
    """(status, sorted A addresses) of SERVER's answer to NAME A, by kdig."""
    if KDIG is None:
        raise AssertionError("kdig is not installed (scripts/deps.sh)")
    p = subprocess.run([KDIG, "@%s" % server.host, "-p", str(server.port), "+timeout=3",
                        "+retry=1", "+norec", name, "A"], capture_output=True, text=True,
                       timeout=30)
    m = re.search(r"status: (\S+?);", p.stdout)
    return ((m.group(1) if m else None),
            sorted(r[2] for r in T.kdig_records(p.stdout) if r[1] == "A"))


class Follow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pdb = T.Db(prefix="primary-")
        cls.primary = None
        cls.replicas = []
        try:
            F.build_primary(cls.pdb)
            cls.primary = T.Server(cls.pdb.dir).start()
            addr = "127.0.0.1:%d" % cls.primary.port
            cls.metrics_port = T.free_port()
            # polling every second
            cls.poll = F.Replica(addr, server_args=["--metrics", "127.0.0.1:%d"
                                                    % cls.metrics_port]).start()
            cls.replicas.append(cls.poll)
            # NOTIFY only: polling every hour
            cls.notified = F.Replica(addr, refresh=3600).start()
            cls.replicas.append(cls.notified)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for r in cls.replicas:
            r.stop()
        if cls.primary is not None:
            cls.primary.stop()
        cls.pdb.cleanup()

    def primary_serial(self):
        return F.soa_serial(self.primary)

    def converged(self, r, timeout=10):
        F.wait_until(lambda: F.soa_serial(r.server) == self.primary_serial(), timeout,
                     "the replica's serial to reach the primary's\n" + r.follower.stderr())
        F.same_answers(self.primary, r.server, self)
        F.same_data(self.pdb, r.db, self)

    def notify(self, r, proto="udp"):
        reply = F.send_notify(r.follower.port, F.make_notify(self.primary_serial()), proto)
        self.assertEqual(reply.rcode(), dns.rcode.NOERROR)
        self.assertTrue(reply.flags & dns.flags.AA)
        self.assertTrue(reply.had_tsig)

    def test_1_initial_axfr(self):
        for r in self.replicas:
            self.converged(r)
            self.assertIn("applied AXFR", r.follower.stderr())
            st = F.follow_state(r.db)
            self.assertTrue(st["synced"])
            self.assertEqual(st["serial"], self.primary_serial())
            self.assertEqual(st["primary_serial"], st["serial"])

    def test_2_changes_by_polling(self):
        self.converged(self.poll)
        before = self.poll.follower.count("applied IXFR")
        self.pdb.ctl("add", "--allocation", "acme", "198.18.0.0/15", "192.0.2.8/32")
        self.pdb.ctl("del", "--allocation", "acme", "192.0.2.7/32")
        self.pdb.ctl("replace", "--allocation", "eu", "-", stdin="203.0.113.0/25\n11.0.0.0/24\n")
        self.pdb.ctl("zone", "set", "spf.customer.example", "--ttl", "900")
        self.pdb.ctl("allocation", "add", "newco")
        self.pdb.ctl("add", "--allocation", "newco", "100.64.0.0/10")
        self.pdb.ctl("zone", "add", "new.example", "--allocation", "newco",
                     "--ns", "ns1.dns.example.net", "--ns", "ns2.dns.example.net")
        self.converged(self.poll)
        self.assertGreater(self.poll.follower.count("applied IXFR"), before)
        # and back: the zone and allocation deleted
        self.pdb.ctl("zone", "del", "new.example")
        self.pdb.ctl("allocation", "del", "--force", "newco")
        self.pdb.ctl("add", "--force", "--allocation", "eu", "0.0.0.0/0")
        self.converged(self.poll)
        self.pdb.ctl("del", "--allocation", "eu", "0.0.0.0/0")
        self.converged(self.poll)

    def test_3_notify_udp_and_tcp(self):
        r = self.notified
        self.notify(r)  # it polls hourly: earlier tests' changes come by NOTIFY
        self.converged(r)
        for proto in ("udp", "tcp"):
            self.pdb.ctl("add", "--allocation", "acme", "172.16.%d.0/24" % (proto == "tcp"))
            t0 = time.time()
            self.notify(r, proto)
            self.converged(r, timeout=5)
            self.assertLess(time.time() - t0, 5)
        self.assertNotIn("SOA check from", r.follower.stderr())  # no failure logged

    def test_4_notify_refused(self):
        r = self.notified
        self.notify(r)
        self.converged(r)
        serial = r.serial()
        self.pdb.ctl("add", "--allocation", "acme", "172.17.0.0/24")
        # unsigned: REFUSED
        reply = F.send_notify(r.follower.port, F.make_notify(self.primary_serial(), sign=False))
        self.assertEqual(reply.rcode(), dns.rcode.REFUSED)
        # wrong secret: NOTAUTH (BADSIG), unsigned reply; dnspython cannot verify it
        q = F.make_notify(self.primary_serial(), secret=F.WRONG)
        wire = T.udp_raw(("127.0.0.1", r.follower.port), q.to_wire())
        self.assertEqual(wire[3] & 0xF, 9)
        # unknown key: NOTAUTH too
        q = F.make_notify(self.primary_serial(), keyname="other")
        wire = T.udp_raw(("127.0.0.1", r.follower.port), q.to_wire())
        self.assertEqual(wire[3] & 0xF, 9)
        # another zone: NOTAUTH
        q = F.make_notify(None, zone="other.test")
        wire = T.udp_raw(("127.0.0.1", r.follower.port), q.to_wire())
        self.assertEqual(wire[3] & 0xF, 9)
        # from another address than the primary's (127.0.0.2): REFUSED
        q = F.make_notify(self.primary_serial())
        wire = T.udp_raw(("127.0.0.1", r.follower.port), q.to_wire(), src="127.0.0.2")
        self.assertEqual(wire[3] & 0xF, 5)
        time.sleep(1.5)
        self.assertEqual(r.serial(), serial, "a refused NOTIFY started a transfer")
        self.assertGreaterEqual(r.follower.count("NOTIFY from .* refused"), 5)
        self.notify(r)
        self.converged(r, timeout=5)

    def test_5_local_changes_refused(self):
        r = self.poll
        for args in (("add", "192.0.2.99"), ("zone", "del", "iphmx.example"),
                     ("allocation", "add", "x")):
            p = r.db.ctl(*args, check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("127.0.0.1:%d" % self.primary.port, p.stderr)

    def test_6_metrics(self):
        self.converged(self.poll)
        F.wait_until(lambda: F.follow_state(self.poll.db)["last_contact"], 5, "a contact")
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                    timeout=5) as f:
            text = f.read().decode()
        m = dict(re.findall(r"^(spfdb_replica_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M))
        st = F.follow_state(self.poll.db)
        self.assertEqual(int(m["spfdb_replica_serial"]), self.primary_serial())
        self.assertEqual(int(m["spfdb_replica_primary_serial"]), st["primary_serial"])
        self.assertEqual(m["spfdb_replica_synced"], "1")
        self.assertEqual(m["spfdb_replica_lag_seconds"], "0")
        self.assertEqual(m["spfdb_replica_expired"], "0")
        self.assertGreaterEqual(int(m['spfdb_replica_transfers_total{result="success"}']), 1)
        self.assertIn('spfdb_replica_transfers_total{result="failure"}', m)
        self.assertIn("spfdb_replica_rollbacks_total", m)
        self.assertLess(int(m["spfdb_replica_contact_age_seconds"]), 30)
        # the primary has no primary: no replica series
        self.assertIsNotNone(self.primary)

    def test_7_commit_to_answer(self):
        """20 changes, each followed by a NOTIFY to both replicas (as the
        primary's sender does): time from the commit to both answering it."""
        import statistics
        for r in self.replicas:
            self.notify(r)
            self.converged(r)
        times = []
        for i in range(20):
            name = ("192.0.2.%d.spf.eu.iphmx.example" % (100 + i), "A")
            self.pdb.ctl("add", "--allocation", "eu", "192.0.2.%d/32" % (100 + i))
            t0 = time.time()
            serial = self.primary_serial()
            for r in self.replicas:
                F.send_notify(r.follower.port, F.make_notify(serial))
            for r in self.replicas:
                F.wait_until(lambda: F.answer_key(r.server, *name)[1], 5,
                             "the replica to answer %s\n%s" % (name[0], r.follower.stderr()),
                             step=0.001)
            times.append(time.time() - t0)
        print("\ncommit -> 2 replicas answer (NOTIFY from the test), 20 changes: "
              "median %.1f ms, max %.1f ms" % (statistics.median(times) * 1000,
                                               max(times) * 1000))
        self.assertLess(max(times), 2.0)
        self.pdb.ctl("del", "--allocation", "eu", *["192.0.2.%d/32" % (100 + i) for i in range(20)])

    def test_8_second_primary(self):
        """Primaries are tried in order: the first unreachable, the second
        serves; a failure is logged for the first."""
        dead = T.free_port()
        r = F.Replica("127.0.0.1:%d" % dead, follow_args=())
        r.db.ctl("primary", "set", "127.0.0.1:%d" % dead, "127.0.0.1:%d" % self.primary.port,
                 "--key", "k1", "--zone", F.ZONE)
        try:
            r.start()
            F.wait_until(lambda: F.soa_serial(r.server) == self.primary_serial(), 15,
                         "the second primary to serve\n" + r.follower.stderr())
            F.same_answers(self.primary, r.server, self)
            self.assertRegex(r.follower.stderr(),
                             r"SOA check from 127.0.0.1:%d failed: connect" % dead)
        finally:
            r.stop()

    def test_9_members(self):
        """Member allocations (SPEC §2): global with eu and us lists eu's
        addresses on the replica; eu taken out on the primary reaches it by
        IXFR and the answer changes; global deleted with its member too.
        A new replica gets the members by AXFR."""
        r = self.poll
        self.converged(r)
        self.pdb.ctl("allocation", "add", "us")
        self.pdb.ctl("allocation", "add", "global")
        self.pdb.ctl("add", "--allocation", "us", "198.51.200.0/24")
        F.set_members(self.pdb, "global", "eu", "us")
        self.converged(r)
        eu_name = "203.0.113.5.spf.global.iphmx.example"
        us_name = "198.51.200.1.spf.global.iphmx.example"
        self.assertEqual(kdig_a(r.server, eu_name), ("NOERROR", ["127.0.0.2"]))
        self.assertEqual(kdig_a(r.server, us_name), ("NOERROR", ["127.0.0.2"]))
        axfrs, ixfrs = r.follower.count("applied AXFR"), r.follower.count("applied IXFR")
        # eu out: an IXFR deleting one PTR record
        F.set_members(self.pdb, "global", "us")
        self.converged(r)
        self.assertEqual(kdig_a(r.server, eu_name), ("NXDOMAIN", []))
        self.assertEqual(kdig_a(r.server, us_name), ("NOERROR", ["127.0.0.2"]))
        self.assertEqual(r.follower.count("applied AXFR"), axfrs)
        self.assertGreater(r.follower.count("applied IXFR"), ixfrs)
        # a replica that was not following sees the members by AXFR
        fresh = F.Replica("127.0.0.1:%d" % self.primary.port)
        try:
            fresh.start()
            self.converged(fresh)
            self.assertIn("applied AXFR", fresh.follower.stderr())
            self.assertEqual(kdig_a(fresh.server, us_name), ("NOERROR", ["127.0.0.2"]))
        finally:
            fresh.stop()
        # global deleted while it has a member (its link goes first)
        self.pdb.ctl("allocation", "del", "global")
        self.converged(r)
        self.assertEqual(kdig_a(r.server, us_name), kdig_a(self.primary, us_name))
        self.assertNotEqual(kdig_a(r.server, us_name)[0], "NOERROR")
        self.assertEqual(r.follower.count("applied AXFR"), axfrs)
        self.pdb.ctl("allocation", "del", "--force", "us")
        self.converged(r)


if __name__ == "__main__":
    F.main()
