"""SPEC §4 Transport, TCP (RFC 7766): framing, pipelining, FIN, timeouts,
edns-tcp-keepalive, connection cap."""
import socket
import struct
import time

import answers as A
import spfdbtest as T

LISTED = "198.51.100.7.spf.acme.iphmx.example"
SLACK = 1.5  # seconds of scheduling slack for an ASan build


def q(name=LISTED, qtype="A", qid=1, edns=-1, options=None):
    return T.make_query(name, qtype, edns=edns, qid=qid, options=options).to_wire()


def closed_within(s, seconds):
    """Seconds until the peer closed S (EOF or RST), or None if still open
    after SECONDS.  Any data read meanwhile is a failure."""
    t0 = time.time()
    s.settimeout(seconds)
    try:
        data = s.recv(65535)
    except socket.timeout:
        return None
    except ConnectionResetError:
        return time.time() - t0
    if data:
        raise AssertionError("unexpected data on an idle connection: %r" % data)
    return time.time() - t0


class TcpCase(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def connect(self):
        return socket.create_connection(self.server.addr(), timeout=5)

    def expect_listed(self, r, qwire, ctx):
        chk = A.Checker(self.db)
        chk.check(qwire, r, "A", A.PROVIDER, ctx)
        self.assertFalse(chk.failures, "\n".join(chk.failures))


class TcpDefault(TcpCase):
    """Default limits: idle 10 s, at most 1000 connections."""

    def test_length_and_message_in_separate_writes(self):
        s = self.connect()
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            w = q(qid=11)
            s.sendall(struct.pack("!H", len(w)))
            time.sleep(0.3)
            s.sendall(w)
            self.expect_listed(T.tcp_recv_msg(s), w, "length, pause, message")
            # Octet by octet for the length, message in two halves.
            w = q(qid=12)
            frame = T.tcp_frame(w)
            for part in (frame[:1], frame[1:2], frame[2:10], frame[10:]):
                s.sendall(part)
                time.sleep(0.2)
            self.expect_listed(T.tcp_recv_msg(s), w, "split in four writes")
        finally:
            s.close()

    def test_pipelined_queries_answered_in_order(self):
        names = [(LISTED, "A"), ("nope.iphmx.example", "A"), ("example.", "A"),
                 ("iphmx.example", "NS"), ("7.spf.acme.iphmx.example", "A"),
                 (T.nibbles("2001:db8:2::5") + ".spf.customer.example", "A")] * 5
        wires = [q(n, t, qid=100 + i, edns=i % 2 - 1) for i, (n, t) in enumerate(names)]
        # A NOTIMP (opcode 4) and a FORMERR (trailing octet) in the middle.
        bad1 = bytearray(q(qid=500))
        bad1[2] |= 4 << 3
        bad2 = q(qid=501) + b"\x00"
        wires[10:10] = [bytes(bad1), bad2]
        s = self.connect()
        try:
            s.sendall(b"".join(T.tcp_frame(w) for w in wires))
            ids = [T.Header(T.tcp_recv_msg(s)).id for _ in wires]
        finally:
            s.close()
        self.assertEqual(ids, [T.Header(w).id for w in wires], "replies not in query order")

    def test_fin_after_last_query_still_answered(self):
        wires = [q(qid=200 + i) for i in range(5)]
        s = self.connect()
        try:
            s.sendall(b"".join(T.tcp_frame(w) for w in wires))
            s.shutdown(socket.SHUT_WR)
            data = b""
            s.settimeout(5)
            while True:
                chunk = s.recv(65535)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        ids, off = [], 0
        while off + 2 <= len(data):
            (n,) = struct.unpack("!H", data[off:off + 2])
            ids.append(T.Header(data[off + 2:off + 2 + n]).id)
            off += 2 + n
        self.assertEqual(off, len(data), "partial reply before EOF")
        self.assertEqual(ids, [200, 201, 202, 203, 204], "replies owed after FIN")

    def test_many_connections_pipelined(self):
        """100 connections at once, 30 pipelined queries each, all answered in order."""
        import selectors
        names = [LISTED, "nope.iphmx.example", "7.spf.acme.iphmx.example",
                 T.nibbles("2001:db8:2::5") + ".spf.customer.example", "iphmx.example"]
        conns, want, got, bufs = [], {}, {}, {}
        sel = selectors.DefaultSelector()
        try:
            for c in range(100):
                s = self.connect()
                wires = [q(names[(c + i) % len(names)], qid=c * 100 + i, edns=(i % 2) - 1)
                         for i in range(30)]
                want[s] = [c * 100 + i for i in range(30)]
                got[s], bufs[s] = [], b""
                conns.append((s, b"".join(T.tcp_frame(w) for w in wires)))
            for s, data in conns:
                s.sendall(data)
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
            deadline = time.time() + 20
            open_ = len(conns)
            while open_ and time.time() < deadline:
                for key, _ in sel.select(0.5):
                    s = key.fileobj
                    d = s.recv(65535)
                    if not d:
                        sel.unregister(s)
                        open_ -= 1
                        continue
                    bufs[s] += d
                    while len(bufs[s]) >= 2:
                        (n,) = struct.unpack("!H", bufs[s][:2])
                        if len(bufs[s]) < 2 + n:
                            break
                        got[s].append(T.Header(bufs[s][2:2 + n]).id)
                        bufs[s] = bufs[s][2 + n:]
                    if len(got[s]) == 30:
                        sel.unregister(s)
                        open_ -= 1
        finally:
            for s, _ in conns:
                s.close()
            sel.close()
        bad = [(want[s][0] // 100, got[s][:5]) for s, _ in conns if got[s] != want[s]]
        self.assertFalse(bad, "%d of 100 connections: replies missing or out of order: %r"
                         % (len(bad), bad[:5]))

    def test_slow_loris_first_octet(self):
        """A message whose first octet has arrived must be complete within 2 s."""
        for prefix in (b"\x00", T.tcp_frame(q())[:20]):
            s = self.connect()
            try:
                s.sendall(prefix)
                t = closed_within(s, 2 + SLACK + 1)
                self.assertIsNotNone(t, "stalled message (%d octets sent) not closed within "
                                        "2 s + slack" % len(prefix))
                self.assertGreater(t, 1.0, "closed after %.2f s: the limit is 2 s" % t)
            finally:
                s.close()

    def test_idle_connection_survives_short_pause(self):
        s = self.connect()
        try:
            self.assertIsNone(closed_within(s, 1.5), "closed before the 10 s idle timeout")
            w = q(qid=300)
            s.sendall(T.tcp_frame(w))
            self.expect_listed(T.tcp_recv_msg(s), w, "after 1.5 s idle")
        finally:
            s.close()

    def test_keepalive_over_tcp(self):
        """RFC 7828: option back with the idle timeout (100 ms units); not over UDP;
        not when the query did not carry it."""
        import dns.edns
        ka = dns.edns.GenericOption(11, b"")
        w = q(qid=400, edns=0, options=[ka])
        s = self.connect()
        try:
            s.sendall(T.tcp_frame(w))
            r = T.tcp_recv_msg(s)
            o = T.opt_of(r)
            self.assertIsNotNone(o)
            opts = T.opt_options(o.rdata)
            self.assertEqual(opts, [(11, struct.pack("!H", 100))],
                             "edns-tcp-keepalive over TCP with --tcp-idle-timeout 10")
            self.assertEqual(T.Header(r).rcode, 0)
            # Without the option: no options.
            w = q(qid=401, edns=0)
            s.sendall(T.tcp_frame(w))
            self.assertEqual(T.opt_of(T.tcp_recv_msg(s)).rdata, b"")
            # An NXDOMAIN and a REFUSED carry it too (any reply with OPT).
            for name in ("nope.iphmx.example", "example."):
                w = q(name, qid=402, edns=0, options=[ka])
                s.sendall(T.tcp_frame(w))
                r = T.tcp_recv_msg(s)
                self.assertEqual(T.opt_options(T.opt_of(r).rdata), [(11, struct.pack("!H", 100))],
                                 "keepalive on %s" % name)
        finally:
            s.close()
        r = T.udp_raw(self.server.addr(), q(qid=403, edns=0, options=[ka]))
        self.assertEqual(T.opt_of(r).rdata, b"", "edns-tcp-keepalive answered over UDP")


class TcpBackpressure(TcpCase):
    """64 KiB of replies unread disconnects the client, wherever the replies
    wait: in spfdbd or in the kernel's send buffer (autotuned to MiBs)."""

    N = 3000

    def frames(self, base):
        return b"".join(T.tcp_frame(q(qid=(base + i) & 0xFFFF)) for i in range(self.N))

    def test_client_that_never_reads_is_disconnected(self):
        """A client that sends 3,000 queries and reads nothing for 3.5 s: its
        replies stop moving, so spfdbd stops reading it and closes it 2 s
        later; reading afterwards gets some replies, then EOF or RST."""
        import threading
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
        s.settimeout(5)
        got, closed, t0 = 0, None, time.time()
        frames = self.frames(0)

        def send():  # blocks once spfdbd stops reading, until it closes
            try:
                s.sendall(frames)
            except OSError:
                pass

        sender = threading.Thread(target=send)
        try:
            s.connect(self.server.addr())
            sender.start()
            time.sleep(2 + SLACK + 0.5)
            data = b""
            while closed is None and time.time() - t0 < 5 + SLACK:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    closed = "RST"
                    break
                except socket.timeout:
                    break
                if not chunk:
                    closed = "EOF"
                    break
                data += chunk
            while len(data) >= 2 and len(data) >= 2 + struct.unpack("!H", data[:2])[0]:
                data = data[2 + struct.unpack("!H", data[:2])[0]:]
                got += 1
        finally:
            s.close()
            sender.join(10)
        self.assertIsNotNone(closed, "client with %d unread replies (%d read afterwards) still "
                             "connected after %.1f s" % (self.N, got, time.time() - t0))
        self.assertLess(got, self.N, "every reply was kept for a client that did not read")
        self.assert_alive()

    def test_client_that_reads_gets_every_reply(self):
        """Pipelining with up to 500 queries outstanding (about 36 KB of replies,
        under the limit) while reading: all 3,000 answered, in order."""
        import selectors
        window = 500
        wires = [T.tcp_frame(q(qid=1000 + i)) for i in range(self.N)]
        s = self.connect()
        s.setblocking(False)
        sel = selectors.DefaultSelector()
        sent, ids, buf, pending = 0, [], b"", b""
        deadline = time.time() + 20
        try:
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while len(ids) < self.N and time.time() < deadline:
                want = selectors.EVENT_READ
                if pending or (sent < self.N and sent - len(ids) < window):
                    want |= selectors.EVENT_WRITE
                sel.modify(s, want)
                for _, ev in sel.select(0.5):
                    if ev & selectors.EVENT_WRITE:
                        if not pending:
                            k = min(self.N, len(ids) + window) - sent
                            pending, sent = b"".join(wires[sent:sent + k]), sent + k
                        pending = pending[s.send(pending):]
                    if ev & selectors.EVENT_READ:
                        d = s.recv(65536)
                        if not d:
                            raise AssertionError("closed after %d replies" % len(ids))
                        buf += d
                        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                            n = struct.unpack("!H", buf[:2])[0]
                            ids.append(T.Header(buf[2:2 + n]).id)
                            buf = buf[2 + n:]
        finally:
            sel.close()
            s.close()
        self.assertEqual(ids, [1000 + i for i in range(self.N)],
                         "a pipelining client that reads lost replies")


    def pipeline_while_reading(self, n, fin):
        """One thread sends N queries in a single sendall (then FIN if FIN)
        while this one reads with a 4 MiB receive buffer: every reply, in
        order, within 60 s.  Regression: a 16 KiB send buffer let unsent
        replies pile up in spfdbd and reset such a client after ~330 KB."""
        import threading
        payload = b"".join(T.tcp_frame(q(qid=i & 0xFFFF)) for i in range(n))
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.settimeout(10)
        errors, ids, buf = [], [], b""
        deadline = time.time() + 60

        def send():
            try:
                s.sendall(payload)
                if fin:
                    s.shutdown(socket.SHUT_WR)
            except OSError as e:
                errors.append("send: %r" % e)

        sender = threading.Thread(target=send)
        try:
            s.connect(self.server.addr())
            sender.start()
            while len(ids) < n and time.time() < deadline:
                try:
                    d = s.recv(1 << 20)
                except OSError as e:
                    errors.append("recv after %d replies: %r" % (len(ids), e))
                    break
                if not d:
                    errors.append("EOF after %d replies" % len(ids))
                    break
                buf += d
                k = 0
                while len(buf) - k >= 2 and len(buf) - k >= 2 + struct.unpack_from("!H", buf, k)[0]:
                    ln = struct.unpack_from("!H", buf, k)[0]
                    ids.append(struct.unpack_from("!H", buf, k + 2)[0])
                    k += 2 + ln
                buf = buf[k:]
            if fin and len(ids) == n:
                s.settimeout(5)
                self.assertEqual(s.recv(1), b"", "no EOF after the last reply to a FIN")
        finally:
            s.close()
            sender.join(10)
        self.assertFalse(sender.is_alive(), "sender thread stuck")
        self.assertEqual(len(ids), n, "; ".join(errors) or "timed out")
        self.assertEqual(ids, [i & 0xFFFF for i in range(n)], "replies out of order")
        self.assert_alive()

    def test_reading_client_pipelining_20000_in_one_go(self):
        self.pipeline_while_reading(20000, fin=False)

    def test_reading_client_pipelining_20000_then_fin(self):
        self.pipeline_while_reading(20000, fin=True)


class TcpIdle(TcpCase):
    server_args = ("--tcp-idle-timeout", "1")

    def test_idle_timeout_closes(self):
        s = self.connect()
        try:
            t = closed_within(s, 1 + SLACK + 1)
            self.assertIsNotNone(t, "idle connection open after 1 s timeout + slack")
            self.assertGreater(t, 0.5, "closed after %.2f s, timeout is 1 s" % t)
        finally:
            s.close()

    def test_idle_counts_from_last_activity(self):
        s = self.connect()
        try:
            time.sleep(0.6)
            w = q(qid=7)
            s.sendall(T.tcp_frame(w))
            self.expect_listed(T.tcp_recv_msg(s), w, "after 0.6 s")
            t = closed_within(s, 1 + SLACK + 1)
            self.assertIsNotNone(t, "not closed after the reply + 1 s idle")
            self.assertGreater(t, 0.5, "closed %.2f s after the reply, timeout is 1 s" % t)
        finally:
            s.close()

    def test_keepalive_reports_timeout(self):
        import dns.edns
        w = q(qid=8, edns=0, options=[dns.edns.GenericOption(11, b"")])
        s = self.connect()
        try:
            s.sendall(T.tcp_frame(w))
            opts = T.opt_options(T.opt_of(T.tcp_recv_msg(s)).rdata)
        finally:
            s.close()
        self.assertEqual(opts, [(11, struct.pack("!H", 10))], "keepalive for a 1 s idle timeout")


class TcpCap(TcpCase):
    server_args = ("--tcp-max", "4")

    def test_cap_closes_longest_idle(self):
        conns = []
        try:
            for i in range(4):
                s = self.connect()
                w = q(qid=50 + i)
                s.sendall(T.tcp_frame(w))
                self.expect_listed(T.tcp_recv_msg(s), w, "connection %d" % i)
                conns.append(s)
                time.sleep(0.15)
            s = self.connect()
            conns.append(s)
            w = q(qid=60)
            s.sendall(T.tcp_frame(w))
            try:
                r = T.tcp_recv_msg(s)
            except (EOFError, OSError) as e:
                self.fail("new connection at the cap not served (%r); an idle one should "
                          "have been closed" % e)
            self.expect_listed(r, w, "connection past the cap")
            self.assertIsNotNone(closed_within(conns[0], 3),
                                 "the longest-idle connection was not closed at the cap")
            for i in (1, 2, 3):
                w = q(qid=70 + i)
                try:
                    conns[i].sendall(T.tcp_frame(w))
                    self.expect_listed(T.tcp_recv_msg(conns[i]), w, "connection %d" % i)
                except (EOFError, OSError) as e:
                    self.fail("connection %d (not the longest idle) closed: %r" % (i, e))
        finally:
            for s in conns:
                s.close()


class TcpDefaultCap(TcpCase):
    def test_default_cap_is_1000(self):
        """Without --tcp-max: 1000 idle connections are kept; the 1001st closes
        the longest-idle one."""
        conns = []
        try:
            for i in range(1000):
                conns.append(self.connect())
                if i == 0:
                    time.sleep(0.2)  # conns[0] is clearly the longest idle
            time.sleep(0.5)
            for i in (1, 500, 999):  # all still served
                w = q(qid=i)
                conns[i].sendall(T.tcp_frame(w))
                self.expect_listed(T.tcp_recv_msg(conns[i]), w, "connection %d of 1000" % i)
            self.assertIsNone(closed_within(conns[0], 0.2), "closed below the cap of 1000")
            s = self.connect()
            conns.append(s)
            w = q(qid=1001)
            s.sendall(T.tcp_frame(w))
            self.expect_listed(T.tcp_recv_msg(s), w, "connection 1001")
            self.assertIsNotNone(closed_within(conns[0], 3), "longest-idle of 1000 not closed")
        finally:
            for s in conns:
                s.close()


class TcpCapBusy(TcpCase):
    server_args = ("--tcp-max", "2")

    def test_longest_held_closed_when_none_idle(self):
        """At the cap with every connection mid-message (not idle), the one
        that has held its slot longest is closed and the new connection is
        served (SPEC §4: busy clients cannot lock others out); the other
        busy connection is kept."""
        busy = []
        try:
            for i in range(2):
                s = self.connect()
                w = q(qid=80 + i)
                s.sendall(T.tcp_frame(w))
                self.expect_listed(T.tcp_recv_msg(s), w, "connection %d" % i)
                s.sendall(T.tcp_frame(q(qid=90 + i))[:5])  # a message in progress
                busy.append(s)
                time.sleep(0.1)
            time.sleep(0.1)
            s = self.connect()
            busy.append(s)
            w = q(qid=99)
            s.sendall(T.tcp_frame(w))
            try:
                r = T.tcp_recv_msg(s)
            except (EOFError, OSError) as e:
                self.fail("new connection at the cap not served while no connection was "
                          "idle (%r); the longest-held one should have been closed" % e)
            self.expect_listed(r, w, "connection past the cap")
            self.assertIsNotNone(closed_within(busy[0], 1.5), "the connection that held its "
                                 "slot longest was not closed")
            w = q(qid=91)  # the other completes its message: still answered
            busy[1].sendall(T.tcp_frame(w)[5:])
            self.expect_listed(T.tcp_recv_msg(busy[1]), w, "busy connection 1")
        finally:
            for s in busy:
                s.close()


class TcpOdd(TcpCase):
    def test_short_frames_do_not_break_the_server(self):
        """Frames of 0..11 octets get no reply (rule 1); the server survives and
        serves new connections."""
        for n in (0, 1, 11):
            s = self.connect()
            try:
                s.sendall(struct.pack("!H", n) + b"\x00" * n)
                w = q(qid=120 + n)
                try:
                    s.sendall(T.tcp_frame(w))
                    r = T.tcp_recv_msg(s)
                    self.assertEqual(T.Header(r).id, 120 + n, "reply to the %d-octet frame" % n)
                except (EOFError, OSError):
                    pass  # closing such a connection is fine too
            finally:
                s.close()
        self.assert_alive()
        w = q(qid=130)
        self.expect_listed(T.tcp_raw(self.server.addr(), w), w, "after short frames")

    def test_large_query_with_additional_records(self):
        """A 50 KB query (many non-OPT additional records) is answered: they are
        ignored."""
        import dns.rrset
        msg = T.make_query(LISTED, "A", edns=0, qid=140)
        for i in range(250):
            msg.additional.append(dns.rrset.from_text("x%d.example." % i, 0, "IN", "TXT",
                                                      '"%s"' % ("y" * 190)))
        w = msg.to_wire(max_size=65535)
        self.assertGreater(len(w), 50000)
        self.expect_listed(T.tcp_raw(self.server.addr(), w), w, "50 KB query over TCP")


if __name__ == "__main__":
    T.main()
