"""spfdbd's NOTIFY sender (SPEC §5): dnspython listeners on loopback act as
replicas.  They receive a NOTIFY signed with their own key at start-up and
on every commit, with the transfer zone's SOA (the new serial) in the
answer section; unanswered, it comes again after 1, 2, 4 and 8 s and the
round ends after 31 s; while a replica is silent, many commits make one
outstanding NOTIFY that carries the newest serial; an answer stops the
retransmissions, a reply under a wrong key or unsigned does not;
--notify-source sets the source (IPv4, and [::1] with a port); no transfer
zone, no NOTIFY; a replica added while running is told at once; the
counters are in the metrics."""
import base64
import os
import queue
import re
import socket
import statistics
import sys
import threading
import time
import unittest
import urllib.request

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring

import spfdbtest as T

ZONE = "xfr.test"
SECRETS = {"k1": base64.b64encode(bytes(range(32))).decode(),
           "k2": base64.b64encode(bytes(range(40, 72))).decode()}
WRONG = base64.b64encode(bytes(range(1, 33))).decode()
SERVED = "iphmx.example"


def keyring(name, secret):
    return dns.tsigkeyring.from_text({name: secret})


class Replica:
    """A UDP listener on HOST that reads each datagram as a NOTIFY signed
    with KEYNAME.  MODE decides the reply: "answer" (signed NOERROR),
    "silent", "wrongkey" (signed with another secret), "unsigned",
    "badkey" (NOTAUTH, TSIG error BADKEY, MAC size 0, as a server without
    the key sends it).  Each datagram is kept as a Got."""

    class Got:
        def __init__(self, t, src, wire, msg, err):
            self.t, self.src, self.wire, self.msg, self.err = t, src, wire, msg, err

        @property
        def serial(self):
            return self.msg.answer[0][0].serial

    def __init__(self, host="127.0.0.1", keyname="k1", mode="answer", port=None):
        self.host, self.keyname, self.mode = host, keyname, mode
        self.ring = keyring(keyname, SECRETS[keyname])
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((host, port or 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.05)
        self.got = queue.Queue()
        self.all = []
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, self.port)

    def run(self):
        while not self.stopping:
            try:
                wire, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            t = time.monotonic()
            msg, err = None, None
            try:
                msg = dns.message.from_wire(wire, keyring=self.ring)
            except Exception as e:  # a failed check is recorded, the test asserts on it
                err = e
            g = Replica.Got(t, src, wire, msg, err)
            self.all.append(g)
            self.got.put(g)
            if msg is not None:
                reply = self.reply(msg)
                if reply is not None:
                    self.sock.sendto(reply, src)

    def reply(self, msg):
        mode = self.mode
        if mode == "silent":
            return None
        r = dns.message.make_response(msg)
        if mode == "answer":
            return r.to_wire()
        if mode == "unsigned":
            r.tsig = None
            return r.to_wire()
        if mode == "wrongkey":
            r.use_tsig(keyring(self.keyname, WRONG), self.keyname, algorithm="hmac-sha256")
            r.request_mac = msg.mac
            return r.to_wire()
        if mode == "badkey":
            r.set_rcode(dns.rcode.NOTAUTH)
            r.tsig = None
            wire = bytearray(r.to_wire())
            # TSIG: owner, type 250, class ANY, TTL 0, the algorithm, times,
            # MAC size 0, Original ID, Error 17, Other Len 0
            alg = dns.name.from_text("hmac-sha256.").to_wire()
            rd = alg + int(time.time()).to_bytes(6, "big") + b"\x01\x2c\x00\x00" \
                + msg.id.to_bytes(2, "big") + b"\x00\x11\x00\x00"
            wire += dns.name.from_text(self.keyname).to_wire() + b"\x00\xfa\x00\xff" \
                + b"\x00\x00\x00\x00" + len(rd).to_bytes(2, "big") + rd
            wire[10:12] = (int.from_bytes(wire[10:12], "big") + 1).to_bytes(2, "big")
            return bytes(wire)
        raise ValueError(mode)

    def next(self, timeout):
        try:
            return self.got.get(timeout=timeout)
        except queue.Empty:
            return None

    def none_within(self, seconds):
        return self.next(seconds) is None

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


class NotifyCase(unittest.TestCase):
    """Each test: a database with one served zone and the transfer zone,
    replicas listening, then spfdbd (with --metrics)."""

    def setUp(self):
        self.db = T.Db()
        self.replicas = []
        self.server = None
        self.db.ctl("zone", "add", SERVED, "--ns", "ns1.dns.example.net",
                    "--ns", "ns2.dns.example.net")
        for name, secret in SECRETS.items():
            T.add_key(self.db, name, secret)

    def tearDown(self):
        try:
            if self.server is not None:
                rc = self.server.stop()
                err = self.server.stderr()
                if os.environ.get("SPFDBTEST_VERBOSE"):
                    sys.stderr.write(err)
                self.assertEqual(rc, 0, "spfdbd exit status after SIGTERM\n" + err)
                self.assertNotIn("Sanitizer", err)
        finally:
            for r in self.replicas:
                r.close()
            self.db.cleanup()

    def replica(self, **kw):
        r = Replica(**kw)
        self.replicas.append(r)
        self.db.ctl("replica", "add", r.addr, "--key", r.keyname)
        return r

    def start(self, *args):
        self.mport = T.free_port()
        self.server = T.Server(self.db.dir, args=["--metrics", "127.0.0.1:%d" % self.mport]
                               + list(args)).start()
        return self.server

    def serial(self):
        q = dns.message.make_query(SERVED, "SOA")
        r = dns.query.udp(q, self.server.host, port=self.server.port, timeout=2)
        return r.answer[0][0].serial

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport, timeout=5) as f:
            text = f.read().decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r"^(spfdb_notify_\w+) (\d+)$", line)
            if m:
                out[re.sub(r"_total$", "", m.group(1)[len("spfdb_notify_"):])] = int(m.group(2))
        return out

    def wait_metrics(self, **want):
        deadline = time.time() + 5
        while True:
            got = self.metrics()
            if all(got.get(k) == v for k, v in want.items()) or time.time() > deadline:
                return got
            time.sleep(0.02)

    def assert_notify(self, g, serial=None, keyname="k1"):
        """G is a NOTIFY for the transfer zone, signed with KEYNAME, with the
        SOA of SERIAL in its answer section."""
        self.assertIsNotNone(g, "no NOTIFY arrived\n" + self.server.stderr())
        self.assertIsNone(g.err, "NOTIFY did not verify: %r" % g.err)
        m = g.msg
        self.assertTrue(m.had_tsig)
        self.assertEqual(m.keyname, dns.name.from_text(keyname))
        self.assertEqual(m.opcode(), dns.opcode.NOTIFY)
        self.assertTrue(m.flags & dns.flags.AA)
        self.assertFalse(m.flags & dns.flags.QR)
        self.assertEqual(len(m.question), 1)
        self.assertEqual(m.question[0].name, dns.name.from_text(ZONE))
        self.assertEqual(m.question[0].rdtype, dns.rdatatype.SOA)
        self.assertEqual(m.question[0].rdclass, dns.rdataclass.IN)
        self.assertEqual(len(m.answer), 1)
        self.assertEqual(m.answer[0].name, dns.name.from_text(ZONE))
        self.assertEqual(m.answer[0].rdtype, dns.rdatatype.SOA)
        self.assertEqual(m.answer[0][0].mname, dns.name.from_text("primary.invalid."))
        if serial is not None:
            self.assertEqual(g.serial, serial)


class Basic(NotifyCase):
    def setUp(self):
        super().setUp()
        self.db.ctl("transfer", "set", ZONE)

    def test_startup_and_commits(self):
        """Start-up and each commit: a signed NOTIFY with the new serial, to
        each replica under its own key; answered, nothing more is sent."""
        r1 = self.replica(keyname="k1")
        r2 = self.replica(keyname="k2")
        self.start()
        serial = self.serial()
        self.assert_notify(r1.next(3), serial, "k1")
        self.assert_notify(r2.next(3), serial, "k2")
        delays, after_exit = [], []
        for i in range(10):
            t0 = time.monotonic()
            self.db.ctl("add", "192.0.2.%d/32" % i)
            t1 = time.monotonic()
            g = r1.next(3)
            delays.append(g.t - t0 if g else 99)
            after_exit.append(g.t - t1 if g else 99)
            serial = self.serial()
            self.assert_notify(g, serial, "k1")
            self.assert_notify(r2.next(3), serial, "k2")
        # quiet commits (a key) change no serial: no NOTIFY
        T.add_key(self.db, "k3", WRONG)
        self.assertTrue(r1.none_within(1.5))
        self.assertTrue(r2.none_within(0.1))
        sys.stderr.write("spfdb-ctl start to NOTIFY received: median %.1f ms, max %.1f ms; "
                         "spfdb-ctl exit to NOTIFY: median %.1f ms, max %.1f ms (10 commits)\n"
                         % (statistics.median(delays) * 1000, max(delays) * 1000,
                            statistics.median(after_exit) * 1000, max(after_exit) * 1000))
        self.assertLess(max(delays), 1.0)
        m = self.wait_metrics(sent=22, answered=22)
        self.assertEqual((m["sent"], m["answered"], m["retransmitted"], m["failed"],
                          m["refused"], m["bad_replies"], m["stray_replies"], m["replicas"],
                          m["outstanding"]),
                         (22, 22, 0, 0, 0, 0, 0, 2, 0), m)

    def test_backoff_then_give_up(self):
        """Unanswered: again after 1, 2, 4 and 8 s, then given up at 31 s;
        the next commit starts a new round."""
        r = self.replica(mode="silent")
        self.start()
        serial = self.serial()
        got = []
        deadline = time.monotonic() + 34
        while time.monotonic() < deadline:
            g = r.next(deadline - time.monotonic())
            if g is not None:
                self.assert_notify(g, serial)
                got.append(g)
        self.assertEqual(len(got), 5, [g.t - got[0].t for g in got])
        gaps = [b.t - a.t for a, b in zip(got, got[1:])]
        for gap, want in zip(gaps, (1, 2, 4, 8)):
            self.assertAlmostEqual(gap, want, delta=0.3, msg=gaps)
        # the same request each time (one ID, one signature)
        self.assertEqual(len(set(g.wire for g in got)), 1)
        m = self.metrics()
        self.assertEqual((m["sent"], m["retransmitted"], m["failed"], m["outstanding"]),
                         (5, 4, 1, 0), m)
        self.assertIn("did not answer NOTIFY", self.server.stderr())
        r.mode = "answer"
        self.db.ctl("add", "192.0.2.1/32")
        self.assert_notify(r.next(3), self.serial())
        m = self.wait_metrics(answered=1)
        self.assertEqual((m["sent"], m["answered"], m["outstanding"]), (6, 1, 0), m)
        self.assertIn("answers NOTIFY again", self.server.stderr())

    def test_coalescing(self):
        """Many commits while a replica is silent: one NOTIFY outstanding, at
        most one a second, the newest serial in the next one; answered,
        nothing more."""
        r = self.replica(mode="silent")
        self.start()
        first = r.next(3)
        self.assert_notify(first, self.serial())
        for i in range(8):
            self.db.ctl("add", "198.51.100.%d/32" % i)
        newest = self.serial()
        self.assertEqual(self.metrics()["outstanding"], 1)
        gs = [first]
        while gs[-1].serial != newest:
            g = r.next(3.5)
            self.assert_notify(g)
            gs.append(g)
        gaps = [b.t - a.t for a, b in zip(gs, gs[1:])]
        self.assertTrue(all(gap > 0.9 for gap in gaps), gaps)
        self.assertLessEqual(len(gs), 3, [g.serial for g in gs])
        self.assertEqual([g.serial for g in gs], sorted(g.serial for g in gs))
        r.mode = "answer"
        g = r.next(5)  # the next retransmission, answered this time
        self.assert_notify(g, newest)
        self.assertTrue(r.none_within(2.5), "sent again after an answer")
        m = self.wait_metrics(answered=1, outstanding=0)
        self.assertEqual((m["answered"], m["outstanding"], m["failed"]), (1, 0, 0), m)
        self.assertEqual(m["sent"], len(gs) + 1, m)

    def test_commit_after_a_pause_goes_at_once(self):
        """A NOTIFY unanswered for over a second is replaced at once by the
        next commit's, not held until its retransmission."""
        r = self.replica(mode="silent")
        self.start()
        first = r.next(3)
        self.assert_notify(first)
        self.assert_notify(r.next(2))  # 1 s later; the next would be 2 s after that
        time.sleep(max(0, first.t + 2.1 - time.monotonic()))
        r.mode = "answer"
        self.db.ctl("add", "192.0.2.1/32")
        t_commit = time.monotonic()
        serial = self.serial()
        while True:  # a slow spfdb-ctl may let the retransmission at 3 s go first
            g = r.next(3)
            self.assert_notify(g)
            if g.serial == serial:
                break
        self.assertLess(g.t - t_commit, 0.5, "held until the retransmission")
        self.assertTrue(r.none_within(2.0))
        m = self.wait_metrics(answered=1, outstanding=0)
        self.assertEqual((m["answered"], m["outstanding"], m["failed"]), (1, 0, 0), m)

    def test_burst_coalesced_with_answering_replica(self):
        """A replica that answers gets at most one NOTIFY per commit, and
        the last one carries the last serial."""
        r = self.replica()
        self.start()
        self.assert_notify(r.next(3), self.serial())
        for i in range(10):
            self.db.ctl("add", "198.51.100.%d/32" % i)
        last = self.serial()
        gs = []
        while True:
            g = r.next(1.5)
            if g is None:
                break
            self.assert_notify(g)
            gs.append(g)
        self.assertTrue(1 <= len(gs) <= 10, len(gs))
        self.assertEqual(gs[-1].serial, last)
        self.assertEqual([g.serial for g in gs], sorted(g.serial for g in gs))

    def test_wrong_key_reply_is_no_answer(self):
        """A reply signed with another secret, an unsigned one and an
        unsigned BADKEY are not answers: the NOTIFY is sent again."""
        for mode in ("wrongkey", "unsigned", "badkey"):
            r = self.replica(mode=mode)
            self.start()
            self.assert_notify(r.next(3))
            self.assert_notify(r.next(2.0))  # sent again after 1 s
            m = self.metrics()
            self.assertEqual(m["answered"], 0, (mode, m))
            self.assertGreaterEqual(m["bad_replies"], 1, (mode, m))
            self.assertGreaterEqual(m["retransmitted"], 1, (mode, m))
            self.assertIn("not verified with key k1", self.server.stderr())
            if mode == "badkey":
                self.assertIn("BADKEY", self.server.stderr())
            self.assertEqual(self.server.stop(), 0)
            self.server = None
            self.db.ctl("replica", "del", r.addr)
            r.close()
            self.replicas.remove(r)

    def test_replica_added_while_running(self):
        r1 = self.replica()
        self.start()
        self.assert_notify(r1.next(3))
        r2 = Replica(keyname="k2")
        self.replicas.append(r2)
        self.db.ctl("replica", "add", r2.addr, "--key", "k2")
        self.assert_notify(r2.next(2), self.serial(), "k2")
        self.assertTrue(r1.none_within(0.5), "the other replica was told again")
        self.db.ctl("replica", "del", r2.addr)
        self.db.ctl("add", "192.0.2.9/32")
        self.assert_notify(r1.next(2), self.serial())
        self.assertTrue(r2.none_within(1.0), "a removed replica was told")
        self.assertEqual(self.wait_metrics(replicas=1)["replicas"], 1)


class Source(NotifyCase):
    def setUp(self):
        super().setUp()
        self.db.ctl("transfer", "set", ZONE)

    def test_ipv4_source(self):
        r = self.replica()
        self.start("--notify-source", "127.0.0.2")
        g = r.next(3)
        self.assert_notify(g)
        self.assertEqual(g.src[0], "127.0.0.2")
        self.assertRegex(self.server.stderr(), r"NOTIFY: transfer zone xfr.test, from 127.0.0.2 ")

    def test_ipv6_source_with_port(self):
        self.assertTrue(T.ipv6_loopback_works(), "this test needs ::1")
        r = self.replica(host="::1")
        sport = T.free_port(("::1",))
        self.start("--notify-source", "[::1]:%d" % sport, "--notify-source", "127.0.0.3")
        g = r.next(3)
        self.assert_notify(g)
        self.assertEqual(g.src[:2], ("::1", sport))
        self.db.ctl("add", "192.0.2.3/32")
        g = r.next(3)
        self.assert_notify(g, self.serial())
        self.assertEqual(g.src[:2], ("::1", sport))

    def test_answer_only_from_the_replica(self):
        """A correctly signed answer sent from another port is not an answer
        (counted stray), nor is junk; the same answer from the replica's
        own address and port is."""
        r = self.replica(mode="silent")
        sport = T.free_port()
        self.start("--notify-source", "127.0.0.1:%d" % sport)
        g = r.next(3)
        self.assert_notify(g)
        self.assertEqual(g.src, ("127.0.0.1", sport))
        answer = dns.message.make_response(g.msg).to_wire()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.sendto(answer, ("127.0.0.1", sport))
            other.sendto(b"\x00" * 5, ("127.0.0.1", sport))
        m = self.wait_metrics(stray_replies=2)
        self.assertEqual((m["stray_replies"], m["answered"], m["outstanding"]), (2, 0, 1), m)
        g2 = r.next(2)  # retransmitted: still unanswered
        self.assert_notify(g2)
        self.assertEqual(g2.wire, g.wire)
        r.sock.sendto(answer, ("127.0.0.1", sport))
        m = self.wait_metrics(answered=1, outstanding=0)
        self.assertEqual((m["answered"], m["outstanding"], m["bad_replies"]), (1, 0, 0), m)
        self.assertTrue(r.none_within(2.5))

    def test_bad_sources(self):
        for args in (["--notify-source", "127.0.0.2", "--notify-source", "127.0.0.3"],
                     ["--notify-source", "[::1]", "--notify-source", "::1"],
                     ["--notify-source", "nonsense"], ["--notify-source", "127.0.0.1:99999"]):
            p = T.subprocess.run([T.SPFDBD, "--db", self.db.dir, "--listen", "127.0.0.1:1"]
                                 + args, capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn("--notify-source", p.stderr)
        # an address not on this host: cannot start
        port = T.free_port()
        p = T.subprocess.run([T.SPFDBD, "--db", self.db.dir, "--listen", "127.0.0.1:%d" % port,
                              "--notify-source", "192.0.2.1"],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot bind the NOTIFY source 192.0.2.1", p.stderr)


class NoZone(NotifyCase):
    def test_no_transfer_zone_no_notify(self):
        r = self.replica()
        self.start()
        self.assertTrue(r.none_within(1.0))
        self.db.ctl("add", "192.0.2.1/32")
        self.assertTrue(r.none_within(1.0))
        self.assertEqual(self.metrics()["replicas"], 0)
        # the zone set: the replica is told at once
        self.db.ctl("transfer", "set", ZONE)
        self.assert_notify(r.next(2), self.serial())
        self.db.ctl("transfer", "del")
        self.db.ctl("add", "192.0.2.2/32")
        self.assertTrue(r.none_within(1.0))
        self.assertEqual(self.metrics()["sent"], 1)


if __name__ == "__main__":
    T.main()
