"""SPEC §4 (issue 15, item 4): the metrics endpoint holds at most 16
connections, and a listener that cannot accept (out of descriptors) backs
off instead of spinning.

- 40 idle connections to the metrics port: at most 16 stay open, the others
  are closed at once (accepted and closed) and counted; a scrape works as
  soon as one of the 16 goes away, and within REQUEST_S (+ slack) even while
  all 16 stay connected, idle or sending a byte at a time: a connection that
  has not sent its whole request REQUEST_S seconds after it was accepted is
  closed.  spfdbd's CPU stays low and its log does not grow.
- Under a low RLIMIT_NOFILE, DNS TCP connections use up the descriptors so
  that accept() fails with EMFILE on both listeners: spfdbd keeps answering
  UDP, uses little CPU, logs a bounded number of lines, and takes TCP and
  metrics connections again once descriptors are free."""
import os
import resource
import socket
import threading
import time
import urllib.error
import urllib.request

import answers as A
import spfdbtest as T
from test_metrics import MetricsServer, parse

METRICS_MAX = 16
REQUEST_S = 5       # a metrics request must be complete this long after accept
SLACK = 1.5         # scheduling slack (ASan build, loaded machine)
CPU_MAX = 0.20      # of one core, over CPU_WINDOW seconds
CPU_WINDOW = 2.0
LISTED = "198.51.100.7.spf.acme.iphmx.example"


def cpu_seconds(pid):
    """User plus system CPU time of PID so far (/proc/PID/stat fields 14, 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid, seconds=CPU_WINDOW):
    c0, t0 = cpu_seconds(pid), time.time()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.time() - t0)


def is_open(s):
    """False once the peer has closed S (EOF or reset); data is a failure."""
    try:
        data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False
    if data:
        raise AssertionError("unexpected data on an idle metrics connection: %r" % data)
    return False


def connect_many(addr, n, timeout=1.0):
    """N connections (the kernel completes them even when spfdbd does not
    accept); ones that time out in the SYN queue are left out."""
    out = []
    for _ in range(n):
        try:
            s = socket.create_connection(addr, timeout=timeout)
        except OSError:
            continue
        s.setblocking(False)  # is_open peeks without waiting
        out.append(s)
    return out


def close_all(socks):
    for s in socks:
        s.close()


class Base:
    def scrape_once(self, timeout=2.0):
        """The parsed metrics, or None when the connection was refused or closed."""
        try:
            with urllib.request.urlopen(self.server.url(), timeout=timeout) as r:
                if r.status != 200:
                    return None
                return parse(r.read().decode())[0]
        except (urllib.error.URLError, ConnectionError, OSError):
            return None

    def scrape_within(self, seconds):
        """(elapsed, metrics) of the first scrape that works, retrying."""
        t0 = time.time()
        while True:
            m = self.scrape_once()
            if m is not None:
                return time.time() - t0, m
            if time.time() - t0 > seconds:
                return None, None
            time.sleep(0.05)

    def lines(self):
        return len(self.server.stderr().splitlines())

    def udp_listed(self, qid):
        w = T.make_query(LISTED, "A", qid=qid).to_wire()
        chk = A.Checker(self.db)
        chk.check(w, T.udp_raw(self.server.addr(), w), "A", A.PROVIDER, "UDP %d" % qid)
        self.assertFalse(chk.failures, "\n".join(chk.failures))

    def tcp_listed(self, qid):
        w = T.make_query(LISTED, "A", qid=qid).to_wire()
        chk = A.Checker(self.db)
        chk.check(w, T.tcp_raw(self.server.addr(), w), "A", A.PROVIDER, "TCP %d" % qid)
        self.assertFalse(chk.failures, "\n".join(chk.failures))


class MetricsCap(Base, T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        A.build(db)

    @classmethod
    def make_server(cls):
        return MetricsServer(cls.db.dir)

    def maddr(self):
        return ("127.0.0.1", self.server.mport)

    def wait_all_closed(self, socks, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline and any(is_open(s) for s in socks):
            time.sleep(0.05)
        return not any(is_open(s) for s in socks)

    def test_40_idle_connections(self):
        _, m0 = self.scrape_within(REQUEST_S + SLACK)
        refused0 = m0.get(("spfdb_metrics_connections_refused_total", ()), 0)
        lines0 = self.lines()
        socks = connect_many(self.maddr(), 40)
        try:
            self.assertEqual(len(socks), 40)
            time.sleep(0.5)
            held = [s for s in socks if is_open(s)]
            self.assertLessEqual(len(held), METRICS_MAX,
                                 "%d of 40 idle metrics connections held open" % len(held))
            self.assertGreater(len(held), 0)
            cpu = cpu_share(self.server.proc.pid)
            self.assertLess(cpu, CPU_MAX, "spfdbd used %.0f%% of a core holding idle "
                            "metrics connections" % (100 * cpu))
            print("\n40 idle metrics connections: %d held, CPU %.1f%% of a core over %.0f s"
                  % (len(held), 100 * cpu, CPU_WINDOW))
            # One of the 16 goes away: a scrape gets its slot at once.
            held.pop(0).close()
            took, m = self.scrape_within(1.0 + SLACK)
            self.assertIsNotNone(took, "no scrape within %.1f s of a slot being freed"
                                 % (1.0 + SLACK))
            self.assertGreaterEqual(m.get(("spfdb_metrics_connections_refused_total", ()), 0)
                                    - refused0, 40 - METRICS_MAX)
            print("scrape after a slot was freed: %.3f s" % took)
            # The held ones never send a request: closed REQUEST_S after accept.
            self.assertTrue(self.wait_all_closed(held, REQUEST_S + SLACK),
                            "idle metrics connections still open after %.1f s"
                            % (REQUEST_S + SLACK))
        finally:
            close_all(socks)
        self.assertLessEqual(self.lines() - lines0, 2, "log grew:\n" + self.server.stderr())
        self.assert_alive()

    def test_scrape_within_bound_while_all_slots_held(self):
        """16 clients hold every slot, sending a byte every 0.5 s (a timeout
        that restarts on every byte would keep them forever): a scrape still
        gets through within REQUEST_S."""
        self.assertIsNotNone(self.scrape_within(REQUEST_S + SLACK)[0])  # earlier tests' slots freed
        time.sleep(0.3)  # and that scrape's own connection closed
        socks = connect_many(self.maddr(), METRICS_MAX)
        stop = threading.Event()

        def trickle():
            req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: y\r\n" * 100
            for i in range(len(req)):
                for s in socks:
                    try:
                        s.send(req[i:i + 1])
                    except OSError:
                        pass
                if stop.wait(0.5):
                    return
        th = threading.Thread(target=trickle, daemon=True)
        try:
            time.sleep(0.3)
            th.start()
            t0 = time.time()
            self.assertTrue(all(is_open(s) for s in socks), "the 16 slots are not all held")
            took, _ = self.scrape_within(REQUEST_S + 2 * SLACK)
            self.assertIsNotNone(took, "no scrape within %.1f s while 16 slow clients held "
                                 "every slot" % (REQUEST_S + 2 * SLACK))
            print("\nscrape while 16 slow clients held every slot: %.2f s" % (time.time() - t0))
            self.assertTrue(self.wait_all_closed(socks, 1.0 + SLACK),
                            "slow metrics clients kept past the request deadline")
        finally:
            stop.set()
            th.join(5)
            close_all(socks)
        self.assert_alive()


class LowNofileServer(MetricsServer):
    """spfdbd under RLIMIT_NOFILE = NOFILE (soft and hard), so that it cannot
    raise it."""
    NOFILE = 64

    def start(self):
        orig = T.die_with_parent
        nofile = self.NOFILE

        def pre():
            orig()
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        T.die_with_parent = pre
        try:
            return super().start()
        finally:
            T.die_with_parent = orig


class OutOfDescriptors(Base, T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        A.build(db)

    @classmethod
    def make_server(cls):
        return LowNofileServer(cls.db.dir, workers=1)

    def open_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.server.proc.pid))

    def test_accept_emfile_backs_off(self):
        pid = self.server.proc.pid
        self.assertIn("open file limit", self.server.stderr())
        lines0 = self.lines()
        base = self.open_fds()
        dns = connect_many(self.server.addr(), LowNofileServer.NOFILE + 40)
        metrics = []
        try:
            time.sleep(0.5)
            self.assertGreaterEqual(self.open_fds(), LowNofileServer.NOFILE - 1,
                                    "descriptors not used up (%d at start)" % base)
            metrics = connect_many(("127.0.0.1", self.server.mport), 20)
            time.sleep(0.5)
            cpu = cpu_share(pid)
            self.udp_listed(1)
            self.assertLess(cpu, CPU_MAX, "spfdbd used %.0f%% of a core while accept() failed "
                            "with EMFILE" % (100 * cpu))
            time.sleep(1.0)
            grown = self.lines() - lines0
            print("\nout of descriptors: CPU %.1f%% of a core over %.0f s, %d log lines"
                  % (100 * cpu, CPU_WINDOW, grown))
            self.assertLessEqual(grown, 4, "log grew by %d lines:\n%s"
                                 % (grown, self.server.stderr()[-3000:]))
            self.udp_listed(2)
        finally:
            close_all(dns)
            close_all(metrics)
        # Descriptors free again: both listeners accept within the longest pause.
        deadline = time.time() + 1.0 + 2 * SLACK
        while True:
            try:
                self.tcp_listed(3)
                break
            except (OSError, EOFError):
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.assertIsNotNone(self.scrape_within(1.0 + 2 * SLACK)[0],
                             "metrics not served once descriptors were free")
        self.assert_alive()


if __name__ == "__main__":
    T.main()
