"""spfdb-follow under faults (SPEC §5).  In each case the replica keeps
answering the old data or the new (never a mix, never SERVFAIL), the
follower logs and counts the failure, and the replica converges once the
fault ends:
- a transfer cut short, and one with a flipped octet (a proxy between
  follower and primary);
- the primary killed mid-transfer (a large AXFR held by the proxy);
- the follower killed with kill -9 while applying a large transfer;
- a wrong key; a clock ten minutes off (libfaketime in the follower);
- the primary's log pruned past the replica's serial (IXFR answered in
  AXFR form);
- the primary restored from an older backup (a lower serial: data kept,
  counted; AXFR once its serial passes the replica's);
- past EXPIRE without contact, the replica's spfdbd raises the alert
  (libfaketime on spfdbd) and keeps answering."""
import os
import re
import shutil
import signal
import time
import unittest
import urllib.request

import spfdbtest as T
import followtest as F

BIG = 150000


def big_list(n, second=11):
    return "".join("%d.%d.%d.%d/32\n" % (second, i >> 16, (i >> 8) & 255, i & 255)
                   for i in range(n))


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pdb = T.Db(prefix="primary-")
        cls.primary = None
        cls.proxy = None
        try:
            F.build_primary(cls.pdb)
            cls.primary = T.Server(cls.pdb.dir).start()
            cls.proxy = F.Proxy(cls.primary.port)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.proxy is not None:
            cls.proxy.close()
        if cls.primary is not None:
            cls.primary.stop()
        cls.pdb.cleanup()

    def setUp(self):
        self.proxy.set("pass")
        self.replica = None
        if not self.primary.alive():  # an earlier test failed with it stopped
            self.restart_primary()

    def tearDown(self):
        if self.replica is not None:
            self.replica.stop()

    def new_replica(self, **kw):
        self.replica = F.Replica("127.0.0.1:%d" % self.proxy.port, **kw).start()
        self.converged()
        return self.replica

    def primary_serial(self):
        return F.soa_serial(self.primary)

    def converged(self, timeout=30):
        r = self.replica
        F.wait_until(lambda: r.server and F.soa_serial(r.server) == self.primary_serial(),
                     timeout, "the replica's serial to reach the primary's\n"
                     + r.follower.stderr())
        F.same_answers(self.primary, r.server, self)
        F.same_data(self.pdb, r.db, self)

    def watch(self, old):
        """Old answers now; the new ones are the primary's after the change."""
        new = F.answers(self.primary)
        allowed = {n: {old[n], new[n]} for n in old}
        return F.Watch(self.replica.server, allowed)

    def restart_primary(self):
        self.primary.stop()
        self.primary = T.Server(self.pdb.dir).start()
        self.proxy.target = ("127.0.0.1", self.primary.port)

    def failed_count(self):
        return self.replica.follower.count(r"failed: ")

    # ---- cut and corrupted ------------------------------------------------

    def metrics(self, port):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as f:
            text = f.read().decode()
        return dict(re.findall(r"(?m)^(spfdb_replica_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text))

    def cut_or_flip(self, mode):
        port = T.free_port()
        r = self.new_replica(server_args=["--metrics", "127.0.0.1:%d" % port])
        old = F.answers(r.server)
        serial = r.serial()
        n0 = self.failed_count()
        m0 = self.metrics(port)
        self.assertEqual(m0["spfdb_replica_lag_seconds"], "0")
        self.proxy.set(mode, 3000)
        self.pdb.ctl("replace", "--allocation", "eu", "-",
                     stdin=big_list(2000, 20 if mode == "cut" else 21) + "203.0.113.0/24\n")
        w = self.watch(old)
        F.wait_until(lambda: self.failed_count() >= n0 + 2, 20,
                     "two failed transfers\n" + r.follower.stderr())
        self.assertEqual(r.serial(), serial, "a broken transfer changed the data")
        self.assertEqual(F.answers(r.server), old)
        # behind a newer serial it cannot apply: lag grows, failures count
        F.wait_until(lambda: int(self.metrics(port)["spfdb_replica_lag_seconds"]) >= 2, 20,
                     "the lag to show\n" + r.follower.stderr())
        m = self.metrics(port)
        self.assertGreater(int(m["spfdb_replica_primary_serial"]), serial)
        self.assertEqual(int(m["spfdb_replica_serial"]), serial)
        self.assertGreaterEqual(int(m['spfdb_replica_transfers_total{result="failure"}']),
                                int(m0['spfdb_replica_transfers_total{result="failure"}']) + 2)
        self.proxy.set("pass")
        self.converged()
        w.stop(self)
        m = self.metrics(port)
        self.assertEqual(m["spfdb_replica_lag_seconds"], "0")
        self.assertEqual(int(m["spfdb_replica_serial"]), self.primary_serial())
        return r.follower.stderr()

    def test_cut(self):
        err = self.cut_or_flip("cut")
        self.assertRegex(err, r"closed the connection mid-message|ended before its closing SOA")

    def test_flip(self):
        err = self.cut_or_flip("flip")
        self.assertRegex(err, r"(IXFR|AXFR) from .* failed: ")

    # ---- killed -----------------------------------------------------------

    def test_primary_killed_mid_transfer(self):
        r = self.new_replica()
        old = F.answers(r.server)
        serial = r.serial()
        self.proxy.set("hold", 1 << 20)  # 1 MiB of a large transfer, then nothing
        relayed = self.proxy.relayed
        self.pdb.ctl("replace", "--allocation", "eu", "-", stdin=big_list(BIG)
                     + "203.0.113.0/24\n")
        w = self.watch(old)
        F.wait_until(lambda: self.proxy.relayed >= relayed + (1 << 20), 20, "1 MiB relayed")
        self.primary.kill()
        F.wait_until(lambda: "no progress" in r.follower.stderr(), 20,
                     "the follower to give up\n" + r.follower.stderr())
        self.assertEqual(r.serial(), serial)
        self.assertEqual(F.answers(r.server), old)
        self.proxy.set("pass")
        self.restart_primary()
        self.converged(60)
        w.stop(self)

    def test_follower_killed_mid_apply(self):
        r = self.new_replica()
        for i, delay in enumerate((0.0, 0.05, 0.15)):
            old = F.answers(r.server)
            serial = r.serial()
            relayed = self.proxy.relayed
            self.pdb.ctl("replace", "--allocation", "eu", "-", stdin=big_list(BIG, 12 + i)
                         + "203.0.113.0/24\n")
            new_serial = self.primary_serial()
            w = self.watch(old)
            # the whole transfer relayed: the follower is staging or applying
            F.wait_until(lambda: self.proxy.relayed >= relayed + BIG * 30, 30, "the transfer")
            time.sleep(delay)
            r.follower.kill(signal.SIGKILL)
            got = r.serial()
            self.assertIn(got, (serial, new_serial))
            w.stop(self)
            # old or new data, whole
            if got == serial:
                self.assertEqual(F.answers(r.server), old)
            r.follower.start()
            self.converged(60)

    # ---- keys and clocks --------------------------------------------------

    def test_wrong_key(self):
        r = self.new_replica()
        old = F.answers(r.server)
        serial = r.serial()
        T.add_key(r.db, "k2", F.WRONG)
        T.add_key(self.pdb, "k2", F.SECRET)
        r.db.ctl("primary", "set", "127.0.0.1:%d" % self.proxy.port, "--key", "k2",
                 "--zone", F.ZONE)
        self.pdb.ctl("add", "--allocation", "acme", "198.18.0.0/15")
        w = self.watch(old)
        F.wait_until(lambda: "BADSIG" in r.follower.stderr(), 20,
                     "a BADSIG failure\n" + r.follower.stderr())
        time.sleep(1.5)
        self.assertEqual(r.serial(), serial)
        self.assertGreater(self.failed_count(), 0)
        r.db.ctl("primary", "set", "127.0.0.1:%d" % self.proxy.port, "--key", "k1",
                 "--zone", F.ZONE)
        self.converged()
        w.stop(self)
        self.pdb.ctl("del", "--allocation", "acme", "198.18.0.0/15")

    def test_clock_skew(self):
        r = self.new_replica()
        old = F.answers(r.server)
        serial = r.serial()
        r.follower.stop()
        skewed = F.Follower(r.db.dir, env=F.faketime_env("-10m")).start()
        try:
            self.pdb.ctl("add", "--allocation", "acme", "198.18.0.0/15")
            w = self.watch(old)
            F.wait_until(lambda: "BADTIME" in skewed.stderr(), 20,
                         "a BADTIME failure\n" + skewed.stderr())
            self.assertEqual(r.serial(), serial)
        finally:
            skewed.stop()
        r.follower.start()
        self.converged()
        w.stop(self)
        self.pdb.ctl("del", "--allocation", "acme", "198.18.0.0/15")

    # ---- the primary's history --------------------------------------------

    def test_log_pruned(self):
        r = self.new_replica()
        r.follower.stop()
        self.pdb.ctl("add", "--allocation", "acme", "198.18.0.0/15")
        time.sleep(1.1)
        self.pdb.ctl("add", "--allocation", "acme", "11.0.0.0/24")
        time.sleep(1.1)
        self.pdb.ctl("log", "prune", "--before", "0d")
        r.follower.start()  # a new log file
        self.converged()
        # asked for IXFR, answered with the whole zone
        self.assertEqual(r.follower.count("applied AXFR"), 1, r.follower.stderr())
        self.assertEqual(r.follower.count("applied IXFR"), 0, r.follower.stderr())
        self.pdb.ctl("del", "--allocation", "acme", "198.18.0.0/15", "11.0.0.0/24")
        self.converged()

    def test_primary_restored_from_backup(self):
        r = self.new_replica()
        bdir = os.path.join(self.pdb.top, "backup")
        shutil.rmtree(bdir, ignore_errors=True)
        os.mkdir(bdir)
        self.pdb.ctl("backup", bdir)
        time.sleep(1.1)
        self.pdb.ctl("add", "--allocation", "acme", "198.18.0.0/15")
        self.converged()
        newer = F.answers(r.server)
        held = r.serial()
        # the primary comes back from the backup: an older serial
        self.primary.stop()
        for f in ("data.mdb", "lock.mdb"):
            os.unlink(os.path.join(self.pdb.dir, f))
        shutil.copy(os.path.join(bdir, "data.mdb"), os.path.join(self.pdb.dir, "data.mdb"))
        self.primary = T.Server(self.pdb.dir).start()
        self.proxy.target = ("127.0.0.1", self.primary.port)
        self.assertLess(self.primary_serial(), held)
        F.wait_until(lambda: F.follow_state(r.db).get("rollbacks", 0) >= 1
                     or "older than ours" in r.follower.stderr(), 20,
                     "the rollback to be seen\n" + r.follower.stderr())
        time.sleep(2.5)  # more checks: counted once, data kept
        self.assertEqual(r.follower.count("older than ours"), 1, r.follower.stderr())
        self.assertEqual(r.serial(), held)
        self.assertEqual(F.answers(r.server), newer)
        # the primary's next commit has a serial above the replica's
        time.sleep(1.1)
        self.pdb.ctl("add", "--allocation", "acme", "11.0.0.0/24")
        self.converged()
        self.assertIn("applied AXFR", r.follower.stderr().split("older than ours")[-1])
        self.pdb.ctl("del", "--allocation", "acme", "11.0.0.0/24")
        self.converged()

    def test_expired_alert(self):
        """spfdbd on the replica, its clock 15 days ahead: no contact for
        longer than EXPIRE; it still answers, and the metric says so."""
        r = self.new_replica()
        r.follower.stop()
        port = T.free_port()
        env = F.faketime_env("+15d")
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # T.Server's spfdbd inherits it
        try:
            s = T.Server(r.db.dir, args=["--metrics", "127.0.0.1:%d" % port]).start()
        finally:
            for k, v in saved.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as f:
                text = f.read().decode()
            self.assertRegex(text, r"(?m)^spfdb_replica_expired 1$")
            F.same_answers(self.primary, s, self)
        finally:
            s.stop()


if __name__ == "__main__":
    F.main()
