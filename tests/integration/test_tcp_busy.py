"""SPEC §4 Transport (issue 15, item 5): at --tcp-max, when no connection is
idle, the one that has held its slot longest is closed, so clients that
always keep a query in flight cannot lock others out.

With --tcp-max 2, clients A then B each keep a partial message in flight at
every moment (each write completes one query and starts the next; every
message completes well within the 2 s limit).  A third client C connects
and must get its answer within BOUND_S; A, the older, is the one closed; B
goes on being answered; the metrics count one busy eviction."""
import socket
import threading
import time

import answers as A
import spfdbtest as T
from test_metrics import MetricsServer, parse

LISTED = "198.51.100.7.spf.acme.iphmx.example"
BOUND_S = 1.0 + 1.5  # the answer's bound, with slack for an ASan build
HEAD = 5             # octets of the next message sent ahead of its rest


def q(qid):
    return T.make_query(LISTED, "A", qid=qid).to_wire()


class BusyClient(threading.Thread):
    """Keeps one partial query in flight on its connection at all times."""

    def __init__(self, addr, first_id):
        super().__init__(daemon=True)
        self.s = socket.create_connection(addr, timeout=5)
        self.next_id = first_id
        self.answered = 0
        self.bad = []
        self.closed_at = None
        self.stop = threading.Event()

    def run(self):
        try:
            cur = T.tcp_frame(q(self.next_id))
            self.s.sendall(cur[:HEAD])
            while not self.stop.wait(0.15):
                nxt = T.tcp_frame(q(self.next_id + 1))
                self.s.sendall(cur[HEAD:] + nxt[:HEAD])
                r = T.tcp_recv_msg(self.s)
                if T.Header(r).id != self.next_id:
                    self.bad.append("reply ID %d, expected %d" % (T.Header(r).id, self.next_id))
                self.answered += 1
                self.next_id += 1
                cur = nxt
        except (EOFError, OSError):
            self.closed_at = time.time()

    def finish(self):
        self.stop.set()
        self.join(5)
        self.s.close()


class TcpBusyCap(T.ServerCase):
    server_args = ("--tcp-max", "2")

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    @classmethod
    def make_server(cls):
        return MetricsServer(cls.db.dir, args=cls.server_args)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        time.sleep(0.3)  # the start-up probe's connection is gone

    def evicted(self):
        import urllib.request
        with urllib.request.urlopen(self.server.url(), timeout=5) as r:
            m = parse(r.read().decode())[0]
        return (m[("spfdb_tcp_connections_evicted_total", ())],
                m.get(("spfdb_tcp_connections_evicted_busy_total", ()), 0))

    def test_busy_clients_cannot_lock_others_out(self):
        idle0, busy0 = self.evicted()
        a = BusyClient(self.server.addr(), 1000)
        a.start()
        time.sleep(0.4)
        b = BusyClient(self.server.addr(), 2000)
        b.start()
        try:
            time.sleep(0.6)
            self.assertGreater(a.answered, 0, "client A not served")
            self.assertGreater(b.answered, 0, "client B not served")
            self.assertIsNone(a.closed_at)
            self.assertIsNone(b.closed_at)
            # C: a new client while both slots hold a message in flight.
            t0 = time.time()
            c = socket.create_connection(self.server.addr(), timeout=BOUND_S)
            try:
                w = q(7)
                c.sendall(T.tcp_frame(w))
                try:
                    r = T.tcp_recv_msg(c)
                except (EOFError, OSError) as e:
                    self.fail("new client not answered at the cap while two busy clients "
                              "held both slots: %r" % e)
                took = time.time() - t0
                chk = A.Checker(self.db)
                chk.check(w, r, "A", A.PROVIDER, "client C")
                self.assertFalse(chk.failures, "\n".join(chk.failures))
                self.assertLess(took, BOUND_S)
                print("\nclient C answered in %.3f s at --tcp-max 2 with two busy clients"
                      % took)
            finally:
                c.close()
            b_before = b.answered
            time.sleep(0.8)
            self.assertIsNotNone(a.closed_at, "A, which held its slot longest, was not closed")
            self.assertIsNone(b.closed_at, "B was closed, not A (the longest-held)")
            self.assertGreater(b.answered, b_before, "B no longer answered")
            self.assertFalse(a.bad + b.bad, a.bad + b.bad)
        finally:
            a.finish()
            b.finish()
        idle, busy = self.evicted()
        self.assertEqual((idle - idle0, busy - busy0), (0, 1),
                         "(idle, busy) evictions: one busy connection closed")
        self.assert_alive()


if __name__ == "__main__":
    T.main()
