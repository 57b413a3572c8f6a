"""Response rate limiting (SPEC §4 "Abuse", --rate-limit N) under a spoofed
flood: UDP queries from 64 source addresses in four /24s of 127.0.0.0/8 (on
loopback any 127.x.y.z is ours to bind).  Each /24 gets at most N replies a
second plus a burst of N; past that replies are truncated (slip) and dropped
in turn, and the metrics count both.  TCP and UDP with a valid server cookie
from a flooded /24 are never limited; a client cookie alone gets BADCOOKIE in
place of the slip.  --rate-limit-dry-run counts the same and drops nothing."""
import collections
import random
import select
import socket
import struct
import subprocess
import sys
import time

import answers as A
import spfdbtest as T
from test_cookies import cookie_query, opt_cookie, scrape
from test_metrics import MetricsServer

RATE = 20
WORKERS = 2
LISTED = "198.51.100.7.spf.acme." + A.PROVIDER["zone"]
PREFIXES = ["127.10.%d" % p for p in (1, 2, 3, 4)]
SOURCES = ["%s.%d" % (p, h) for p in PREFIXES for h in range(1, 17)]


def limited(m):
    return {a: int(m[("spfdb_rate_limited_total", (("action", a),))])
            for a in ("slip", "badcookie", "drop")}


def query(qid):
    return struct.pack("!6H", qid, 0, 1, 0, 0, 0) + b"".join(
        bytes([len(l)]) + l.encode() for l in LISTED.split(".")) + b"\0\0\1\0\1"


def flood(addr, sources, rate, seconds):
    """Send from every source in turn at RATE queries a second in all for
    SECONDS; returns (sent, {prefix: Counter(full=, tc=)}) of the replies
    received, drained for a second more."""
    socks = []
    for src in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.setblocking(False)
        socks.append(s)
    got = collections.defaultdict(collections.Counter)
    sent = collections.Counter()
    byfd = {s.fileno(): src for s, src in zip(socks, sources)}

    def drain(timeout):
        r, _, _ = select.select(socks, [], [], timeout)
        for s in r:
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                h = T.Header(data)
                pfx = byfd[s.fileno()].rsplit(".", 1)[0]
                got[pfx]["tc" if h.has(T.TC) else "full"] += 1
    try:
        t0 = time.time()
        n = 0
        while time.time() - t0 < seconds:
            due = t0 + n / rate
            if time.time() < due:
                drain(max(0.0, due - time.time()))
                continue
            s = socks[n % len(socks)]
            s.sendto(query(n & 0xFFFF), addr)
            sent[byfd[s.fileno()].rsplit(".", 1)[0]] += 1
            n += 1
        end = time.time() + 1.0
        while time.time() < end:
            drain(0.1)
        return sent, got, time.time() - 1.0 - t0
    finally:
        for s in socks:
            s.close()


class RrlCase(T.ServerCase):
    extra = ()

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    @classmethod
    def setUpClass(cls):
        cls.db = T.Db()
        cls.server = None
        try:
            cls.setup_db(cls.db)
            cls.server = MetricsServer(cls.db.dir, workers=WORKERS,
                                       args=["--rate-limit", str(RATE)] + list(cls.extra)).start()
        except BaseException:
            if cls.server is not None:
                cls.server.stop()
            cls.db.cleanup()
            raise

    def settled(self):
        last = scrape(self.server)
        for _ in range(50):
            time.sleep(0.1)
            now = scrape(self.server)
            if now == last:
                return now
            last = now
        return last


class Flood(RrlCase):
    def test_1_flood_slips_and_drops(self):
        before = limited(self.settled())
        sent, got, secs = flood(self.server.addr(), SOURCES, 800, 3.0)
        after = limited(self.settled())
        slips, drops = after["slip"] - before["slip"], after["drop"] - before["drop"]
        total_sent = sum(sent.values())
        full = sum(g["full"] for g in got.values())
        tc = sum(g["tc"] for g in got.values())
        report = "sent %s, got %s, metrics slip %d drop %d" % (dict(sent), dict(got), slips, drops)
        print("\nflood of %.1f s at --rate-limit %d: %s" % (secs, RATE, report), file=sys.stderr)
        # Every query is answered, truncated or dropped, and the metrics say which.
        self.assertEqual(tc, slips, report)
        self.assertEqual(full + tc + drops, total_sent, report)
        self.assertEqual(after["badcookie"], before["badcookie"])
        for p in PREFIXES:
            # N a second and a burst of N; a worker's share rounds up to one reply.
            self.assertLessEqual(got[p]["full"], RATE * secs + RATE + WORKERS + 2, report)
            self.assertGreaterEqual(got[p]["full"], RATE, report)
            limited_p = sent[p] - got[p]["full"]
            # slip and drop in turn, per prefix and worker
            self.assertLessEqual(abs(got[p]["tc"] - limited_p / 2), WORKERS, report)

    def test_2_tcp_and_cookies_not_limited(self):
        src = "127.11.1.200"  # a /24 of its own
        before = self.settled()
        # TCP: 50 queries on one connection, over the burst, all answered whole.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        s.settimeout(5)
        s.connect(self.server.addr())
        try:
            s.sendall(b"".join(T.tcp_frame(query(i)) for i in range(50)))
            for i in range(50):
                r = T.tcp_recv_msg(s)
                self.assertEqual(T.Header(r).an, 1)
                self.assertFalse(T.Header(r).has(T.TC))
        finally:
            s.close()
        # UDP with a client cookie alone, from 16 source ports (so both
        # workers see it): whole answers for the burst, then BADCOOKIE (rcode
        # 23) with a fresh cookie in place of the first slip.
        socks = []
        for _ in range(16):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((src, 0))
            u.settimeout(1)
            u.connect(self.server.addr())
            socks.append(u)
        try:
            client = bytes.fromhex("c0c1c2c3c4c5c6c7")
            learned, passed = None, 0
            for i in range(3 * RATE):
                u = socks[i % 16]
                u.send(cookie_query(LISTED, client, qid=i))
                r = u.recv(2048)
                h = T.Header(r)
                if h.rcode == 0 and h.an == 1:
                    passed += 1
                    continue
                o = T.opt_of(r)
                self.assertEqual((o.ttl >> 24) << 4 | h.rcode, 23, "BADCOOKIE")
                self.assertEqual(h.an, 0)
                self.assertFalse(h.has(T.TC))
                learned = opt_cookie(r)
                break
            self.assertIsNotNone(learned, "no BADCOOKIE in %d tries" % (3 * RATE))
            self.assertEqual(learned[:8], client)
            self.assertLessEqual(passed, RATE + WORKERS)
            # With it: 50 queries at once, every one answered whole.
            u = socks[0]
            for i in range(50):
                u.send(cookie_query(LISTED, learned, qid=100 + i))
            u.settimeout(2)
            for i in range(50):
                r = u.recv(2048)
                self.assertEqual(T.Header(r).an, 1)
                self.assertFalse(T.Header(r).has(T.TC))
        finally:
            for u in socks:
                u.close()
        after = self.settled()
        b, a = limited(before), limited(after)
        self.assertEqual(a["badcookie"] - b["badcookie"], 1)
        self.assertEqual(a["slip"], b["slip"])
        self.assertEqual(a["drop"], b["drop"])
        valid = ("spfdb_cookie_queries_total", (("cookie", "valid"),))
        self.assertEqual(after[valid] - before[valid], 50)
        tcp = sum(v for k, v in after.items() if k[0] == "spfdb_queries_total"
                  and ("transport", "tcp") in k[1])
        tcp0 = sum(v for k, v in before.items() if k[0] == "spfdb_queries_total"
                   and ("transport", "tcp") in k[1])
        self.assertEqual(tcp - tcp0, 50)


class DryRun(RrlCase):
    extra = ("--rate-limit-dry-run",)

    def test_counts_without_limiting(self):
        before = limited(self.settled())
        sent, got, _ = flood(self.server.addr(), SOURCES[:16], 1000, 1.0)
        after = limited(self.settled())
        p = PREFIXES[0]
        self.assertEqual(got[p]["full"], sent[p], "dry run: every reply whole")
        self.assertEqual(got[p]["tc"], 0)
        slips, drops = after["slip"] - before["slip"], after["drop"] - before["drop"]
        self.assertGreater(slips, sent[p] // 3)
        self.assertLessEqual(abs(slips - drops), WORKERS)
        self.assertLessEqual(sent[p] - slips - drops, 2 * RATE + WORKERS + 2)
        m = scrape(self.server)
        self.assertEqual(m[("spfdb_rate_limit_dry_run", ())], 1)
        self.assertEqual(m[("spfdb_rate_limit_per_second", ())], RATE)


class Usage(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def test_options(self):
        for args, msg in ((["--rate-limit", "0"], "bad --rate-limit 0"),
                          (["--rate-limit", "1000001"], "bad --rate-limit"),
                          (["--rate-limit", "x"], "bad --rate-limit"),
                          (["--rate-limit-dry-run"], "--rate-limit-dry-run needs --rate-limit")):
            p = subprocess.run([T.SPFDBD, "--db", self.db.dir, "--listen", "127.0.0.1:1"] + args,
                                 capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(msg, p.stderr)

    def test_off_by_default(self):
        """Without --rate-limit nothing is limited: 100 queries at once from
        one address are all answered whole."""
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        u.settimeout(2)
        u.connect(self.server.addr())
        try:
            for i in range(100):
                u.send(query(i))
            for i in range(100):
                r = u.recv(2048)
                self.assertFalse(T.Header(r).has(T.TC))
        finally:
            u.close()


if __name__ == "__main__":
    random.seed(1)
    T.main()
