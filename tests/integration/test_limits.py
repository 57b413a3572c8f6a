"""Edges of SPEC §2 and §4: longest zone and allocation names (a full IPv6
name fits 253 characters), large NS sets and SOAs within 512 octets, the
reply size bound, the 64 KiB unread limit on TCP, answers during concurrent
writes, map growth under a running server, worker counts."""
import os
import random
import socket
import subprocess
import threading
import time

import answers as A
import spfdbtest as T


def name_of_length(n, suffix="example"):
    """A lowercase name of exactly N characters ending in SUFFIX."""
    labels, left = [], n - len(suffix)  # characters for the labels before SUFFIX, dots included
    while left > 0:
        take = min(63, left - 1)
        if left - (take + 1) == 1:  # one character left over cannot make a label
            take -= 1
        labels.append("x" * take)
        left -= take + 1
    name = ".".join(labels + [suffix])
    assert len(name) == n, (len(name), n)
    return name


LONG_ALLOC = "a" + "b" * 61 + "c"                  # 63 characters, the label limit
LONG_PROVIDER = name_of_length(120, "example")     # the provider zone limit
LONG_DELEGATED = name_of_length(188, "test")       # the delegated zone limit
HOSTMASTER = "first.last@" + name_of_length(60, "example.net")
BIG_NS = ["ns%d.%s" % (i, name_of_length(20, "example.org")) for i in range(1, 13)]


class Limits(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        db.ctl("allocation", "add", LONG_ALLOC)
        db.ctl("add", "--allocation", LONG_ALLOC, "2001:db8:1::/48", "198.51.100.0/24")
        db.ctl("add", "198.18.0.0/15")  # the default allocation
        db.ctl("zone", "add", LONG_PROVIDER + ".", "--ns", "ns1." + name_of_length(100, "net"),
               "--ns", "ns2.example.net", "--hostmaster", HOSTMASTER)
        db.ctl("zone", "add", LONG_DELEGATED, "--allocation", LONG_ALLOC,
               "--ns", "ns1.example.net", "--ns", "ns2.example.net")
        db.ctl("zone", "add", "big-ns.test", "--allocation", "default",
               *[x for ns in BIG_NS for x in ("--ns", ns)])
        db.ctl("zone", "add", "_SPF.Example-ESP.Test.", "--ns", "ns1.example.net",
               "--ns", "ns2.example.net")

    def ask(self, name, qtype="A", edns=-1, proto="udp"):
        w = T.make_query(T.randcase(name), qtype, edns=edns, qid=random.randrange(65536)).to_wire()
        return w, T.exchange(self.server.addr(), w, proto)

    def test_full_ipv6_names_in_longest_zones(self):
        v6 = T.nibbles("2001:db8:1::1")
        for base in ("spf.%s.%s" % (LONG_ALLOC, LONG_PROVIDER), LONG_DELEGATED):
            name = v6 + "." + base
            self.assertLessEqual(len(name), 253, "test data: RFC 7208 §7.3 limit")
            for proto in ("udp", "tcp"):
                for edns in (-1, 0):
                    w, r = self.ask(name, edns=edns, proto=proto)
                    h = T.Header(r)
                    self.assertEqual((h.rcode, h.an, h.has(T.TC)), (0, 1, False),
                                     "%s over %s edns %d: %s" % (name, proto, edns, r.hex()))
                    self.assertLessEqual(len(r), 512)
                    # Unlisted: NXDOMAIN with the (long) SOA, still within 512 octets.
                    w, r = self.ask(T.nibbles("2001:db8:2::1") + "." + base, edns=edns, proto=proto)
                    h = T.Header(r)
                    self.assertEqual((h.rcode, h.an, h.ns, h.has(T.TC)), (3, 0, 1, False),
                                     "unlisted in %s over %s: %s" % (base, proto, r.hex()))
                    self.assertLessEqual(len(r), 512, "NXDOMAIN of %d octets" % len(r))
                    self.assertLessEqual(len(r), len(w) + 11 + self.soa_len(r),
                                         "reply exceeds query + SOA + 11")

    def soa_len(self, r):
        soa = [x for x in T.records(r) if x.type == T.T_SOA][0]
        return 2 + 10 + len(soa.rdata)  # compressed owner

    def test_long_soa_fields(self):
        w, r = self.ask(LONG_PROVIDER, "SOA")
        soa = [x for x in T.records(r) if x.type == T.T_SOA][0]
        mname, rname = T.soa_fields((r, soa.rdata_off))[:2]
        self.assertEqual(b".".join(mname).decode(), "ns1." + name_of_length(100, "net"))
        local, domain = HOSTMASTER.split("@")
        self.assertEqual(rname, [local.encode()] + [l.encode() for l in domain.split(".")],
                         "RNAME: the local part's dot is escaped (one label)")

    def test_big_ns_set_fits_512(self):
        for proto in ("udp", "tcp"):
            for edns in (-1, 0):
                w, r = self.ask("big-ns.test", "NS", edns=edns, proto=proto)
                h = T.Header(r)
                self.assertFalse(h.has(T.TC), "TC on the apex NS answer (SPEC: fits 512)")
                self.assertLessEqual(len(r), 512)
                got = sorted(b".".join(T.read_name(r, x.rdata_off)[0]).decode()
                             for x in T.records(r) if x.section == 1)
                self.assertEqual(got, sorted(BIG_NS))
                self.assertEqual(h.ns, 0)
                self.assertEqual(h.ar, 1 if edns == 0 else 0, "glue or extra records")

    def test_zone_name_normalised(self):
        for name, qtype, rc in (("_spf.example-esp.test", "SOA", 0),
                                ("198.51.100.7.spf." + LONG_ALLOC + "._spf.example-esp.test", "A", 0),
                                ("198.18.0.1.spf.default._SPF.example-ESP.test", "A", 0),
                                ("198.18.0.1.big-ns.test", "A", 0),
                                ("198.20.0.1.big-ns.test", "A", 3),
                                ("spf.example-esp.test", "A", 5)):
            w, r = self.ask(name, qtype)
            self.assertEqual(T.Header(r).rcode, rc, "%s %s: %s" % (name, qtype, r.hex()))
            if qtype == "A" and rc == 0:
                self.assertEqual(T.Header(r).an, 1, name)

    def test_tcp_unread_replies_disconnected(self):
        """A client that leaves 64 KiB of replies unread is disconnected."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(self.server.addr())
        s.setblocking(False)
        frame = T.tcp_frame(T.make_query("198.51.100.7.spf.%s.%s" % (LONG_ALLOC, LONG_PROVIDER),
                                         "A", qid=1).to_wire())
        reply_len = len(T.udp_raw(self.server.addr(), frame[2:])) + 2
        batch = frame * 100
        sent, closed, t0 = 0, None, time.time()
        try:
            # Send up to 64 MiB worth of replies, never reading; bounded to 15 s.
            while time.time() - t0 < 15 and sent * reply_len < (64 << 20):
                try:
                    n = s.send(batch)
                    sent += n // len(frame)
                except BlockingIOError:
                    time.sleep(0.01)
                except (ConnectionResetError, BrokenPipeError) as e:
                    closed = repr(e)
                    break
                if sent and sent % 20000 < 100:
                    if self._peer_closed(s):
                        closed = "EOF"
                        break
            if closed is None:
                # Drain: a disconnected client sees EOF or RST after what was sent.
                got, t1 = 0, time.time()
                s.setblocking(True)
                s.settimeout(5)
                try:
                    while time.time() - t1 < 10:
                        d = s.recv(1 << 16)
                        if not d:
                            closed = "EOF"
                            break
                        got += len(d)
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    closed = "RST"
                self.assertIsNotNone(closed, "still connected after %d unread replies (%d KiB); "
                                             "drained %d octets" % (sent, sent * reply_len >> 10,
                                                                    got))
                self.assertLess(got, sent * reply_len, "every reply was delivered")
        finally:
            s.close()
        print("  %d queries sent unread in %.1f s (%d KiB of replies), then %s"
              % (sent, time.time() - t0, sent * reply_len >> 10, closed))
        self.assert_alive()
        w, r = self.ask("198.51.100.7.spf.%s.%s" % (LONG_ALLOC, LONG_PROVIDER), proto="tcp")
        self.assertEqual(T.Header(r).an, 1)

    def _peer_closed(self, s):
        try:
            return s.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True


class ConcurrentWrites(T.ServerCase):
    """Answers while spfdb-ctl commits: stable names never change, toggled
    names are A or NXDOMAIN, never SERVFAIL, REFUSED or silence."""

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def test_answers_during_writes(self):
        stop = threading.Event()
        errors = []

        def writer():
            i = 0
            try:
                while not stop.is_set() and i < 400:
                    net = "100.%d.%d.0/24" % (64 + i % 8, i % 200)
                    self.db.ctl("add", "--allocation", "other", net)
                    self.db.ctl("del", "--allocation", "other", net)
                    i += 1
            except Exception as e:
                errors.append("writer: %r" % e)

        lines_a = ["198.51.100.0/24", "192.0.2.7", "8.8.8.8", "2001:db8:1::/48",
                   "2001:db8:ff::7"] + ["10.%d.%d.0/24" % (i // 256, i % 256) for i in range(3000)]
        lines_b = lines_a[:5] + ["10.%d.%d.0/25" % (i // 256, i % 256) for i in range(3000)]

        def replacer():
            try:
                for k in range(6):
                    if stop.is_set():
                        break
                    lines = lines_a if k % 2 == 0 else lines_b
                    self.db.ctl("replace", "--allocation", "acme", "-",
                                stdin="\n".join(lines) + "\n")
            except Exception as e:
                errors.append("replacer: %r" % e)

        stable = [("198.51.100.7.spf.acme.iphmx.example", 0, 1),
                  (T.nibbles("2001:db8:1::9") + ".spf.acme.iphmx.example", 0, 1),
                  ("203.0.113.9.spf.customer.example", 0, 1),
                  ("10.1.1.1.spf.acme.iphmx.example", 0, 1),   # covered by both replace files
                  ("203.0.113.9.spf.acme.iphmx.example", 3, 0),
                  ("7.spf.acme.iphmx.example", 0, 0),
                  ("iphmx.example", 0, 1)]
        toggled = ["100.%d.%d.1.spf.other.iphmx.example" % (64 + i % 8, i % 200) for i in range(50)]
        self.db.ctl("replace", "--allocation", "acme", "-", stdin="\n".join(lines_a) + "\n")
        threads = [threading.Thread(target=writer), threading.Thread(target=replacer)]
        for t in threads:
            t.start()
        bad, n, t0 = [], 0, time.time()
        try:
            while time.time() - t0 < 4 and any(t.is_alive() for t in threads):
                for name, rc, an in stable:
                    qtype = "SOA" if name == "iphmx.example" else "A"
                    for proto in ("udp",) if n % 10 else ("udp", "tcp"):
                        w = T.make_query(name, qtype, qid=n & 0xFFFF).to_wire()
                        try:
                            h = T.Header(T.exchange(self.server.addr(), w, proto))
                        except Exception as e:
                            bad.append("%s: no reply (%r)" % (name, e))
                            continue
                        if (h.rcode, h.an) != (rc, an):
                            bad.append("%s over %s: rcode %d an %d, want %d %d"
                                       % (name, proto, h.rcode, h.an, rc, an))
                        n += 1
                name = toggled[n % len(toggled)]
                h = T.Header(T.udp_raw(self.server.addr(), T.make_query(name, "A").to_wire()))
                if h.rcode not in (0, 3) or not h.has(T.AA):
                    bad.append("%s: rcode %d during writes" % (name, h.rcode))
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        print("  %d answers checked during %d writer commits and replaces" % (n, self.db.commits))
        self.assertFalse(errors, errors)
        self.assertGreater(n, 100)
        self.assertFalse(bad, "%d of %d answers wrong during writes:\n  %s"
                         % (len(bad), n, "\n  ".join(bad[:30])))
        self.assert_alive()


class MapGrowth(A.SmallMapCase):
    """The writer grows the LMDB map while spfdbd reads (MDB_MAP_RESIZED)."""

    def test_server_follows_map_growth(self):
        addr = self.server.addr()
        os.environ["SPFDB_MAPSIZE"] = self.MAPSIZE
        try:
            for k in range(4):
                lines = ["%d.%d.%d.0/24" % (20 + k, i // 256, i % 256) for i in range(6000)]
                self.db.ctl("add", "--allocation", "acme", "-", stdin="\n".join(lines) + "\n")
                size = sum(os.path.getsize(os.path.join(self.db.dir, f))
                           for f in os.listdir(self.db.dir))
                print("  after %d entries: database files %d octets" % (6000 * (k + 1), size))
                for name, want in (("%d.0.1.1.spf.acme.iphmx.example" % (20 + k), 1),
                                   ("%d.23.111.1.spf.acme.iphmx.example" % (20 + k), 1),
                                   ("%d.30.1.1.spf.acme.iphmx.example" % (20 + k), 0),
                                   ("198.51.100.7.spf.acme.iphmx.example", 1)):
                    deadline = time.time() + 1.3
                    while True:
                        h = T.Header(T.udp_raw(addr, T.make_query(name, "A").to_wire()))
                        if h.rcode in (0, 3) and h.an == want:
                            break
                        self.assertIn(h.rcode, (0, 3), "%s: rcode %d after map growth "
                                      "(data.mdb %d octets)" % (name, h.rcode, size))
                        self.assertLess(time.time(), deadline, "%s not answered right within "
                                        "1 s after growth to %d octets" % (name, size))
                        time.sleep(0.02)
        finally:
            del os.environ["SPFDB_MAPSIZE"]
        self.assert_alive()


class NoPinnedSnapshot(T.ServerCase):
    """An idle spfdbd holds no snapshot for long (spfdb.h: readers reset
    soon after they go idle), so repeated rewrites reuse pages and the file
    stays bounded."""

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def test_file_does_not_grow_with_rewrites(self):
        addr = self.server.addr()
        files = [["%d.%d.%d.0/24" % (30 + k, i // 256, i % 256) for i in range(3000)]
                 for k in range(2)]
        sizes = []
        for round_ in range(16):
            self.db.ctl("replace", "--allocation", "other", "-",
                        stdin="\n".join(files[round_ % 2]) + "\n")
            name = "%d.1.2.3.spf.other.iphmx.example" % (30 + round_ % 2)
            self.assertIsNotNone(wait_listed(addr, name), name)  # workers renew, then idle
            time.sleep(0.3)  # an idle worker releases its snapshot within 100 ms (view.h)
            sizes.append(os.path.getsize(os.path.join(self.db.dir, "data.mdb")) -
                         log_octets(self.db.dir))
        # the change log keeps every change: it grows by design, the rest not
        print("  data.mdb after rewrites, less the change log: %r" % sizes)
        self.assertLessEqual(sizes[-1], 2 * sizes[3], "the database file keeps growing while "
                             "spfdbd runs (a reader pins old pages): %r" % sizes)


def log_octets(dbdir):
    """The pages of the change log database (mdb_stat, lmdb-utils)."""
    out = subprocess.run(["mdb_stat", "-s", "log", dbdir], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    pages = sum(int(l.split(":")[1]) for l in out.splitlines()
                if l.strip().split(":")[0] in ("Branch pages", "Leaf pages", "Overflow pages"))
    return pages * os.sysconf("SC_PAGE_SIZE")  # LMDB's page size


def wait_listed(addr, name, limit=1.3):
    t0 = time.time()
    while time.time() - t0 < limit:
        r = T.udp_raw(addr, T.make_query(name, "A").to_wire())
        if T.Header(r).an == 1:
            return time.time() - t0
        time.sleep(0.01)
    return None


class OneWorker(T.ServerCase):
    @classmethod
    def setUpClass(cls):
        cls.db = T.Db()
        A.build(cls.db)
        cls.db.t_last = time.time()
        cls.servers = []
        try:
            for n in (1, 4):
                cls.servers.append(T.Server(cls.db.dir, workers=n).start())
        except BaseException:
            for s in cls.servers:
                s.stop()
            cls.db.cleanup()
            raise
        cls.server = cls.servers[0]

    @classmethod
    def tearDownClass(cls):
        try:
            for s in cls.servers:
                rc = s.stop()
                assert rc == 0, "exit %r after SIGTERM:\n%s" % (rc, s.stderr())
        finally:
            cls.db.cleanup()

    def test_two_servers_one_database_worker_counts(self):
        """Several readers on one database (two spfdbd, 1 and 4 workers)."""
        for srv in self.servers:
            chk = A.Checker(self.db)
            for name, kind in (("198.51.100.7.spf.acme.iphmx.example", "A"),
                               ("nope.iphmx.example", "NXDOMAIN"),
                               ("203.0.113.5.spf.customer.example", "A")):
                for proto in ("udp", "tcp"):
                    w = T.make_query(name, "A", edns=0).to_wire()
                    chk.check(w, T.exchange(srv.addr(), w, proto), kind, A.zone_of(name), name)
            self.assertFalse(chk.failures, chk.failures)


if __name__ == "__main__":
    T.main()
