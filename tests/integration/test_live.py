"""SPEC §4: committed spfdb-ctl changes answered within one second (no
restart); no zones -> warning and REFUSED until a zone is added; start-up
errors; SIGTERM exits 0."""
import os
import random
import socket
import subprocess
import time
import unittest

import answers as A
import spfdbtest as T

LIMIT = 1.0   # SPEC: a committed change is answered within one second
SLACK = 0.3   # round trips of the polling queries themselves


def rcode_and_answer(addr, qname, qtype="A"):
    r = T.udp_raw(addr, T.make_query(qname, qtype).to_wire())
    h = T.Header(r)
    return h.rcode, [x for x in T.records(r) if x.section == 1], h


def soa_serial(addr, zone="iphmx.example"):
    r = T.udp_raw(addr, T.make_query(zone, "SOA").to_wire())
    soa = [x for x in T.records(r) if x.section == 1 and x.type == T.T_SOA]
    assert soa, "no SOA for %s: %s" % (zone, r.hex())
    return T.soa_fields((r, soa[0].rdata_off))[2]


def wait_for(pred, limit=LIMIT + SLACK):
    """Seconds until PRED() is true, polling every 10 ms; None after LIMIT."""
    t0 = time.time()
    while True:
        if pred():
            return time.time() - t0
        if time.time() - t0 > limit:
            return None
        time.sleep(0.01)


def is_a(addr, name):
    rc, ans, h = rcode_and_answer(addr, name)
    return rc == 0 and len(ans) == 1 and ans[0].rdata == b"\x7f\x00\x00\x02"


def is_rcode(addr, name, want, qtype="A"):
    rc, ans, h = rcode_and_answer(addr, name, qtype)
    return rc == want and not ans


class Live(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def change(self, *args):
        self.db.ctl(*args)
        return time.time()

    def test_add_and_del_entries(self):
        addr = self.server.addr()
        cases = [("acme", "203.0.113.192/26", "203.0.113.200.spf.acme.iphmx.example"),
                 ("acme", "2001:db8:abcd::/48",
                  T.nibbles("2001:db8:abcd::99") + ".spf.acme.iphmx.example"),
                 ("cust", "192.0.2.128/25", "192.0.2.130.spf.customer.example"),
                 ("cust", "2001:db8:77::1", T.nibbles("2001:db8:77::1") + ".spf.customer.example")]
        for alloc, prefix, name in cases:
            zone = "iphmx.example" if "iphmx" in name else "spf.customer.example"
            self.assertTrue(is_rcode(addr, name, 3), "%s listed before the add" % name)
            s0 = soa_serial(addr, zone)
            self.change("add", "--allocation", alloc, prefix)
            t = wait_for(lambda: is_a(addr, name))
            self.assertIsNotNone(t, "%s not answered %.1f s after `add %s`" % (name, LIMIT + SLACK,
                                                                                prefix))
            s1 = soa_serial(addr, zone)
            self.assertGreater(s1, s0, "SOA serial did not increase after add")
            self.assertLess(s1, time.time() + 60, "serial %d is not the time of the change" % s1)
            self.change("del", "--allocation", alloc, prefix)
            t2 = wait_for(lambda: is_rcode(addr, name, 3))
            self.assertIsNotNone(t2, "%s still listed %.1f s after `del %s`" % (name, LIMIT + SLACK,
                                                                                 prefix))
            self.assertGreater(soa_serial(addr, zone), s1, "serial did not increase after del")
            print("  %s: add seen after %.0f ms, del after %.0f ms" % (prefix, t * 1000, t2 * 1000))

    def test_serial_is_time_of_change_or_previous_plus_one(self):
        """SPEC §2: serial = time of the last commit, or previous + 1 when that
        would not be larger."""
        addr = self.server.addr()
        for i in range(5):
            prev = soa_serial(addr)
            t0 = time.time()
            self.change("add", "--allocation", "other", "192.0.2.%d" % (200 + i))
            t1 = time.time()
            lo, hi = max(int(t0), prev + 1), max(int(t1), prev + 1)
            got = wait_for(lambda: soa_serial(addr) != prev)
            self.assertIsNotNone(got, "serial unchanged after a commit")
            s = soa_serial(addr)
            self.assertTrue(lo <= s <= hi, "serial %d after a commit at %.1f..%.1f with previous "
                            "%d: want %d..%d" % (s, t0, t1, prev, lo, hi))

    def test_mapped_entry_served_as_ipv4(self):
        """SPEC §2: an entry inside ::ffff:0:0/96 is stored as the IPv4 prefix it maps."""
        addr = self.server.addr()
        v4name = "192.0.2.65.spf.acme.iphmx.example"
        v6name = T.nibbles("::ffff:192.0.2.65") + ".spf.acme.iphmx.example"
        self.assertTrue(is_rcode(addr, v4name, 3))
        self.change("add", "--allocation", "acme", "::ffff:192.0.2.64/122")
        self.assertIsNotNone(wait_for(lambda: is_a(addr, v4name)), "mapped entry not IPv4")
        self.assertTrue(is_a(addr, v6name))
        self.assertTrue(is_rcode(addr, "192.0.2.128.spf.acme.iphmx.example", 3))
        self.change("del", "--allocation", "acme", "192.0.2.64/26")
        self.assertIsNotNone(wait_for(lambda: is_rcode(addr, v4name, 3)))

    def test_zone_set_fields_live(self):
        """zone set: NS set, hostmaster, negative TTL and the bound allocation
        are served within a second."""
        addr = self.server.addr()
        zone = "spf.customer.example"

        def soa():
            r = T.udp_raw(addr, T.make_query("nope." + zone, "A").to_wire())
            rr = [x for x in T.records(r) if x.type == T.T_SOA][0]
            f = T.soa_fields((r, rr.rdata_off))
            return (rr.ttl, b".".join(f[0]).decode(), f[1], f[6])

        def ns():
            r = T.udp_raw(addr, T.make_query(zone, "NS").to_wire())
            return sorted(b".".join(T.read_name(r, x.rdata_off)[0]).decode()
                          for x in T.records(r) if x.section == 1)

        self.assertEqual(soa(), (60, "ns-a.example.org", [b"hostmaster", b"example", b"org"], 60))
        self.change("zone", "set", zone, "--ns", "x1.example.com", "--ns", "x2.example.com",
                    "--ns", "x3.example.com", "--hostmaster", "spf.team@example.com",
                    "--negative-ttl", "45")
        want = (45, "x1.example.com", [b"spf.team", b"example", b"com"], 45)
        self.assertIsNotNone(wait_for(lambda: soa() == want), "SOA after zone set: %r" % (soa(),))
        self.assertEqual(ns(), ["x1.example.com", "x2.example.com", "x3.example.com"])
        # Rebind the delegated zone to acme: its names now follow acme's entries.
        self.change("zone", "set", zone, "--allocation", "acme")
        self.assertIsNotNone(wait_for(lambda: is_a(addr, "198.51.100.7." + zone)),
                             "zone set --allocation not live")
        self.assertTrue(is_rcode(addr, "203.0.113.5." + zone, 3))
        self.change("zone", "set", zone, "--allocation", "cust", "--ns", A.DELEGATED["ns"][0],
                    "--ns", A.DELEGATED["ns"][1], "--hostmaster", "hostmaster@example.org",
                    "--negative-ttl", "60")
        self.assertIsNotNone(wait_for(lambda: is_a(addr, "203.0.113.5." + zone)))
        self.assertEqual(ns(), A.DELEGATED["ns"])

    def test_noop_change_keeps_serial(self):
        addr = self.server.addr()
        s0 = soa_serial(addr)
        p = self.db.ctl("add", "--allocation", "acme", "198.51.100.0/24")  # already present
        self.assertEqual(p.returncode, 0)
        time.sleep(1.2)
        self.assertEqual(soa_serial(addr), s0, "a command that changed nothing moved the serial")
        self.assertEqual(soa_serial(addr, "spf.customer.example"), s0, "zones' serials differ")

    def test_allocation_add_del(self):
        addr = self.server.addr()
        name = "fresh.iphmx.example"
        self.assertTrue(is_rcode(addr, name, 3))
        self.change("allocation", "add", "fresh")
        self.assertIsNotNone(wait_for(lambda: is_rcode(addr, name, 0)),
                             "new allocation's node not NODATA within 1 s")
        self.assertTrue(is_rcode(addr, "spf." + name, 0))
        self.assertTrue(is_rcode(addr, "198.51.100.7.spf." + name, 3))
        self.change("add", "--allocation", "fresh", "198.51.100.0/25")
        self.assertIsNotNone(wait_for(lambda: is_a(addr, "198.51.100.7.spf." + name)))
        self.change("allocation", "del", "--force", "fresh")
        self.assertIsNotNone(wait_for(lambda: is_rcode(addr, "198.51.100.7.spf." + name, 3)),
                             "deleted allocation still answered")
        self.assertTrue(is_rcode(addr, name, 3))

    def test_allocations_come_and_go(self):
        """Allocations added and deleted in place of a rebuild: a random run,
        names coming back (with a new id, and new entries), every name
        checked after each commit."""
        addr = self.server.addr()
        rnd = random.Random(20261207)
        held = {}  # name -> the /32 it holds, or None
        for step in range(40):
            name = "churn%d" % rnd.randrange(6)
            if name in held and rnd.random() < 0.6:
                self.change("allocation", "del", "--force", name)
                del held[name]
            elif name not in held:
                self.change("allocation", "add", name)
                held[name] = None
            else:
                ip = "192.0.2.%d" % rnd.randrange(1, 255)
                if held[name]:
                    self.change("del", "--allocation", name, held[name])
                self.change("add", "--allocation", name, ip)
                held[name] = ip
            for k in range(6):
                n = "churn%d" % k
                base = "%s.iphmx.example" % n
                want = 0 if n in held else 3
                self.assertIsNotNone(wait_for(lambda: is_rcode(addr, base, want)),
                                     "step %d: %s not rcode %d" % (step, base, want))
                if held.get(n):
                    self.assertTrue(is_a(addr, "%s.spf.%s" % (held[n], base)),
                                    "step %d: %s's entry not listed" % (step, n))
        self.assert_alive()

    def test_zone_set_and_del_live(self):
        addr = self.server.addr()
        name = "198.51.100.7.spf.acme.iphmx.example"

        def ttl_is(n):
            rc, ans, h = rcode_and_answer(addr, name)
            return rc == 0 and len(ans) == 1 and ans[0].ttl == n

        self.assertTrue(ttl_is(A.PROVIDER["ttl"]))
        self.change("zone", "set", "iphmx.example", "--ttl", "1234")
        try:
            self.assertIsNotNone(wait_for(lambda: ttl_is(1234)), "zone set --ttl not live in 1 s")
        finally:
            self.change("zone", "set", "iphmx.example", "--ttl", str(A.PROVIDER["ttl"]))
        self.assertIsNotNone(wait_for(lambda: ttl_is(A.PROVIDER["ttl"])))
        # A zone added and deleted while running.
        self.change("zone", "add", "spf.other.test", "--allocation", "other",
                    "--ns", "ns1.example.net", "--ns", "ns2.example.net")
        self.assertIsNotNone(wait_for(lambda: is_rcode(addr, "1.2.3.40.spf.other.test", 3)),
                             "zone added while running not served within 1 s")
        self.change("zone", "del", "spf.other.test")
        self.assertIsNotNone(wait_for(lambda: is_rcode(addr, "1.2.3.40.spf.other.test", 5)),
                             "deleted zone still served")


def has_soa(addr, zone):
    rc, ans, h = rcode_and_answer(addr, zone, "SOA")
    return rc == 0 and len(ans) == 1 and ans[0].type == T.T_SOA


def mdb_put_zone(dbdir, name, value):
    """Write zone record NAME -> VALUE behind spfdb-ctl's back (lmdb-utils)."""
    text = ("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n %s\n %s\nDATA=END\n"
            % (name.encode().hex(), value.hex()))
    subprocess.run(["mdb_load", "-s", "zones", dbdir], input=text.encode(), check=True,
                   capture_output=True, timeout=30)


def mdb_zone_value(dbdir, name):
    out = subprocess.run(["mdb_dump", "-s", "zones", dbdir], check=True, capture_output=True,
                         timeout=30).stdout.decode().split("HEADER=END\n", 1)[1].split()
    return bytes.fromhex(out[out.index(name.encode().hex()) + 1])


class UnreadableZone(T.ServerCase):
    """A zone record the server cannot read (a newer record version) breaks
    the zone table rebuild: the last good table keeps serving, and the SOA
    serial still follows every commit."""

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def test_serial_follows_commits_while_rebuild_fails(self):
        addr = self.server.addr()
        s0 = soa_serial(addr)
        good = mdb_zone_value(self.db.dir, "iphmx.example")
        mdb_put_zone(self.db.dir, "forged.example", b"\x7f" + good[1:])
        # allocations added: a few change the table in place (which reads no
        # zone), more than spfdbd follows (256) rebuild it
        self.db.ctl("import", "-", stdin="zz\n" + "".join("bulk%d\n" % i for i in range(300)))
        self.db.ctl("add", "--allocation", "acme", "203.0.113.192/26")
        name = "203.0.113.200.spf.acme.iphmx.example"
        self.assertIsNotNone(wait_for(lambda: is_a(addr, name)), "entry change not served")
        s1 = soa_serial(addr)
        self.assertGreater(s1, s0, "SOA serial frozen while the zone table cannot be rebuilt")
        # Many batches meanwhile: each worker retries at most once a second.
        for i in range(200):
            T.udp_raw(addr, T.make_query(name, "A", qid=i).to_wire())
        # 1.2.3.4 is a tail (NODATA) once allocation zz is served, NXDOMAIN before.
        tail = "1.2.3.4.spf.zz.iphmx.example"
        self.assertTrue(is_rcode(addr, tail, 3), "allocation added with the unreadable "
                        "record served: the table was not kept")
        self.assertTrue(is_rcode(addr, "forged.example", 5, "SOA"), "unreadable zone served")
        # Repaired behind spfdb-ctl's back (no metadata change): the once-a-second
        # retry picks it up.
        mdb_put_zone(self.db.dir, "forged.example", good)
        self.assertIsNotNone(wait_for(lambda: has_soa(addr, "forged.example"), 2 + SLACK),
                             "repaired zone table not rebuilt by the retry")
        self.assertIsNotNone(wait_for(lambda: is_rcode(addr, tail, 0)),
                             "allocation added meanwhile not served after the repair")
        self.assertGreaterEqual(soa_serial(addr), s1)
        err = self.server.stderr()
        fails = err.count("cannot read the zones")
        self.assertTrue(0 < fails <= 2 * 2, "want one rate-limited failure line per worker, "
                        "got %d:\n%s" % (fails, err))


class NoZones(T.ServerCase):
    empty = False

    @classmethod
    def setup_db(cls, db):
        db.ctl("allocation", "add", "acme")

    def test_warns_refuses_then_serves(self):
        addr = self.server.addr()
        err = self.server.stderr().lower()
        self.assertTrue([l for l in err.splitlines() if "warn" in l and "zone" in l],
                        "no warning about serving no zones; stderr:\n" + err)
        for name, qtype in (("198.51.100.7.spf.acme.iphmx.example", "A"), ("iphmx.example", "SOA"),
                            (".", "NS"), ("example.", "A")):
            for proto in ("udp", "tcp"):
                w = T.make_query(name, qtype, qid=3).to_wire()
                r = T.exchange(addr, w, proto)
                chk = A.Checker(self.db)
                chk.check(w, r, "REFUSED", None, "no zones: %s %s over %s" % (name, qtype, proto))
                self.assertFalse(chk.failures, "\n".join(chk.failures))
        if self.empty:
            self.db.ctl("allocation", "add", "acme")
        self.db.ctl("add", "--allocation", "acme", "198.51.100.0/24")
        self.db.ctl("zone", "add", "iphmx.example", "--ns", "ns1.example.net",
                    "--ns", "ns2.example.net")
        t = wait_for(lambda: is_a(addr, "198.51.100.7.spf.acme.iphmx.example"))
        self.assertIsNotNone(t, "first zone not served within 1 s of `zone add`")
        self.assertTrue(is_rcode(addr, "203.0.113.1.spf.acme.iphmx.example", 3))
        self.assertTrue(is_rcode(addr, "nope.iphmx.example", 3))
        self.assertTrue(is_rcode(addr, "example.", 5))


# spfdbd on an empty directory: refused, since it never writes its database
# (SPEC §4); test_user.py's test_no_database_yet.


class StartupErrors(unittest.TestCase):
    def setUp(self):
        self.db = T.Db()
        self.db.ctl("allocation", "add", "acme")

    def tearDown(self):
        self.db.cleanup()

    def run_fail(self, args, what):
        """spfdbd must exit nonzero by itself within 10 s; returns stderr."""
        p = subprocess.Popen([T.SPFDBD] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("%s: spfdbd still running after 10 s; stderr:\n%s" % (what, err))
        self.assertNotEqual(p.returncode, 0, "%s: exit status 0; stderr:\n%s" % (what, err))
        self.assertGreater(p.returncode, 0, "%s: killed by signal %d (crash?); stderr:\n%s"
                           % (what, -p.returncode, err))
        self.assertTrue(err.strip(), "%s: no message on stderr" % what)
        return err

    def test_port_in_use(self):
        for kind, name in ((socket.SOCK_DGRAM, "UDP"), (socket.SOCK_STREAM, "TCP")):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", 0))
                if kind == socket.SOCK_STREAM:
                    s.listen(1)
                port = s.getsockname()[1]
                err = self.run_fail(["--db", self.db.dir, "--listen", "127.0.0.1:%d" % port,
                                     "--workers", "2"], "%s port in use" % name)
                self.assertIn("127.0.0.1", err, "message does not name the address:\n" + err)
                self.assertIn(str(port), err, "message does not name the port:\n" + err)
            finally:
                s.close()

    def test_second_listen_address_in_use(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.3", 0))
            port = s.getsockname()[1]
            free = T.free_port()
            err = self.run_fail(["--db", self.db.dir, "--listen", "127.0.0.1:%d" % free,
                                 "--listen", "127.0.0.3:%d" % port], "second address in use")
            self.assertIn("127.0.0.3:%d" % port, err.replace("[", "").replace("]", ""),
                          "message does not name 127.0.0.3:%d:\n%s" % (port, err))
        finally:
            s.close()

    def test_missing_db_dir(self):
        missing = os.path.join(self.db.top, "no-such-dir")
        err = self.run_fail(["--db", missing, "--listen", "127.0.0.1:%d" % T.free_port()],
                            "missing db dir")
        self.assertIn(missing, err, "message does not name the directory:\n" + err)
        self.assertFalse(os.path.exists(missing), "spfdbd created the missing db dir")

    def test_bad_arguments(self):
        port = T.free_port()
        for args in (["--db", self.db.dir, "--listen", "127.0.0.1:%d" % port, "--bogus"],
                     ["--db", self.db.dir, "--listen", "nonsense"],
                     ["--db", self.db.dir, "--listen", "127.0.0.1:99999"],
                     ["--db", self.db.dir, "--listen", "127.0.0.1:%d" % port, "--workers", "x"],
                     ["--listen", "127.0.0.1:%d" % port, "--db"]):
            self.run_fail(args, " ".join(args))

    def test_sigterm_under_load(self):
        import threading
        srv = T.Server(self.db.dir).start()
        stop = threading.Event()

        def load():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            w = T.make_query("1.2.3.4.spf.acme.x.example", "A").to_wire()
            t0 = time.time()
            while not stop.is_set() and time.time() - t0 < 10:
                try:
                    s.sendto(w, srv.addr())
                except OSError:
                    pass
                time.sleep(0.0005)
            s.close()

        th = threading.Thread(target=load)
        try:
            th.start()
            time.sleep(0.5)
            rc = srv.stop()
            self.assertEqual(rc, 0, "exit status after SIGTERM under load; stderr:\n"
                             + srv.stderr())
        finally:
            stop.set()
            th.join(15)
            srv.kill()

    def test_sigterm_exits_zero_with_open_connections(self):
        srv = T.Server(self.db.dir).start()
        try:
            idle = socket.create_connection(srv.addr(), timeout=3)
            part = socket.create_connection(srv.addr(), timeout=3)
            part.sendall(b"\x00")
            time.sleep(0.2)
            rc = srv.stop()
            self.assertEqual(rc, 0, "exit status after SIGTERM; stderr:\n" + srv.stderr())
            idle.close()
            part.close()
        finally:
            srv.kill()


if __name__ == "__main__":
    T.main()
