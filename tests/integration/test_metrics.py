"""spfdbd --metrics (issue 4): after a known set of queries the Prometheus
counters move by exactly that much; the text format parses (our strict reader
and prometheus_client's); the database gauges match the SOA; other paths 404;
nothing is logged per query."""
import collections
import re
import socket
import struct
import time
import urllib.error
import urllib.request

import dns.message

import answers as A
import spfdbtest as T

P, D = A.PROVIDER, A.DELEGATED
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)$" % NAME)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(?:,|$)')


class MetricsServer(T.Server):
    """A server with --metrics on a port chosen at each start attempt."""

    def cmd(self, port):
        self.mport = T.free_port()
        return super().cmd(port) + ["--metrics", "127.0.0.1:%d" % self.mport]

    def url(self, path="/metrics"):
        return "http://127.0.0.1:%d%s" % (self.mport, path)


def parse(text):
    """Strict reader of the text format 0.0.4: {(name, labels): value}, {name: type},
    {name: help}.  Raises AssertionError on anything malformed."""
    samples, types, helps = {}, {}, {}
    assert text.endswith("\n"), "no final newline"
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, h = line[7:].partition(" ")
            assert re.fullmatch(NAME, name) and h and name not in helps, line
            helps[name] = h
        elif line.startswith("# TYPE "):
            name, _, t = line[7:].partition(" ")
            assert re.fullmatch(NAME, name) and name not in types, line
            assert t in ("counter", "gauge"), line
            assert not any(n == name for n, _ in samples), "TYPE after samples: " + line
            types[name] = t
        else:
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            name, lab, val = m.groups()
            labels = ()
            if lab is not None:
                pairs = LABEL.findall(lab)
                assert ",".join('%s="%s"' % p for p in pairs) == lab, "bad labels: " + line
                labels = tuple(sorted(pairs))
            assert name in types and name in helps, "sample without TYPE/HELP: " + line
            assert (name, labels) not in samples, "duplicate series: " + line
            samples[(name, labels)] = float(val)
    return samples, types, helps


class Metrics(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        A.build(db)

    @classmethod
    def setUpClass(cls):
        cls.db = T.Db()
        cls.server = None
        try:
            cls.setup_db(cls.db)
            cls.t_start = time.time()
            cls.server = MetricsServer(cls.db.dir).start()
        except BaseException:
            if cls.server is not None:
                cls.server.stop()
            cls.db.cleanup()
            raise

    def get(self, path="/metrics", method="GET"):
        req = urllib.request.Request(self.server.url(path), method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), ""

    def scrape(self):
        status, ctype, body = self.get()
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        return body, parse(body)[0]

    def settled(self):
        """A scrape once the counters and the log stop moving: the start-up
        probe's TCP connection may still be open, a worker counts a reply it
        has sent after the client already holds it, and the start-up lines
        may still be on their way."""
        def traffic(m):
            return {k: v for k, v in m.items()
                    if not k[0].startswith(("spfdb_database_", "process_"))}
        deadline = time.time() + 5
        _, last = self.scrape()
        lines = len(self.server.stderr().splitlines())
        while time.time() < deadline:
            time.sleep(0.1)
            _, now = self.scrape()
            now_lines = len(self.server.stderr().splitlines())
            if traffic(now) == traffic(last) and now_lines == lines and \
                    now[("spfdb_tcp_connections_open", ())] == 0:
                break
            last, lines = now, now_lines
        return now

    def udp(self, wire, rcode=None):
        """Send WIRE over UDP; check the reply's RCODE (None: no reply expected)."""
        if rcode is None:
            self.assertTrue(T.udp_none(self.server.addr(), wire), "reply to a dropped query")
            return
        r = T.udp_raw(self.server.addr(), wire)
        self.assertEqual(T.Header(r).rcode, rcode & 0xF)
        if rcode > 15:
            self.assertEqual(T.opt_of(r).ttl >> 24, rcode >> 4)

    def test_counts(self):
        q = lambda name, t="A", **kw: T.make_query(name, t, **kw).to_wire()  # noqa: E731
        # (transport, type label, result, rcode or None for no reply, wire)
        cases = []
        for z in (P, D):
            for a in z["L4"][:4 if z is P else 3]:
                cases.append(("udp", "A", "listed", 0, q("%s.%s" % (a, z["base"]))))
        for a in P["U4"][:3]:
            cases.append(("udp", "A", "unlisted", 3, q("%s.%s" % (a, P["base"]))))
        cases.append(("udp", "A", "tail", 0, q("100.7." + P["base"])))
        cases.append(("udp", "TXT", "tail", 0, q("51.100.7." + P["base"], "TXT")))
        cases.append(("udp", "ANY", "listed", 0, q("198.51.100.7." + P["base"], "ANY")))
        cases.append(("udp", "NS", "zone", 0, q(P["zone"], "NS")))
        cases.append(("udp", "AAAA", "zone", 3, q("nosuch." + P["zone"], "AAAA")))
        cases.append(("udp", "SOA", "refused", 5, q("example.org", "SOA")))
        cases.append(("udp", "other", "malformed", 1, struct.pack("!6H", 7, 0, 0, 0, 0, 0)))
        badvers = bytearray(q("192.0.2.7." + P["base"], edns=0))
        badvers[-5] = 1  # the OPT record ends the query: its VERSION octet
        cases.append(("udp", "A", "malformed", 16, bytes(badvers)))
        drop = bytearray(q("192.0.2.7." + P["base"]))
        drop[2] |= 0x80  # QR: a response, never answered
        cases.append(("udp", "other", "dropped", None, bytes(drop)))
        tcp = [("tcp", "A", "listed", 0, q("192.0.2.7." + P["base"])),
               ("tcp", "SOA", "zone", 0, q(D["zone"], "SOA"))]
        assert len([c for c in cases if c[2] == "listed"]) == 8

        before = self.settled()
        errlines = len(self.server.stderr().splitlines())
        for _, _, _, rcode, wire in cases:
            self.udp(wire, rcode)
        s = socket.create_connection(self.server.addr(), timeout=5)
        try:
            s.sendall(b"".join(T.tcp_frame(c[4]) for c in tcp))  # pipelined
            for c in tcp:
                self.assertEqual(T.Header(T.tcp_recv_msg(s)).rcode, c[3])
            _, during = self.scrape()
        finally:
            s.close()
        self.assertEqual(during[("spfdb_tcp_connections_open", ())]
                         - before[("spfdb_tcp_connections_open", ())], 1)
        deadline = time.time() + 5
        while True:
            _, after = self.scrape()
            if after[("spfdb_tcp_connections_open", ())] == \
                    before[("spfdb_tcp_connections_open", ())] or time.time() > deadline:
                break
            time.sleep(0.05)
        cases += tcp

        want = collections.Counter()
        rnames = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
                  5: "REFUSED", 16: "BADVERS"}
        for transport, qtype, result, rcode, _ in cases:
            want[("spfdb_queries_total", (("transport", transport), ("type", qtype)))] += 1
            want[("spfdb_query_results_total", (("result", result),))] += 1
            if rcode is not None:
                want[("spfdb_responses_total", (("rcode", rnames[rcode]),))] += 1
                if transport == "udp":
                    want[("spfdb_udp_responses_sent_total", ())] += 1
        want[("spfdb_tcp_connections_accepted_total", ())] = 1
        got = {k: after[k] - before.get(k, 0) for k in after}
        moved = {k: v for k, v in got.items() if v and not k[0].startswith(
            ("spfdb_database_", "process_"))}
        self.assertEqual(moved, dict(want))
        # Every labelled series is there even at zero.
        for fam, n in (("spfdb_queries_total", 14), ("spfdb_query_results_total", 8),
                       ("spfdb_responses_total", 8), ("spfdb_cookie_queries_total", 3),
                       ("spfdb_rate_limited_total", 3)):
            self.assertEqual(len([k for k in after if k[0] == fam]), n, fam)
        # Nothing logged per query, malformed ones included.
        self.assertEqual(len(self.server.stderr().splitlines()), errlines,
                         "spfdbd logged per query:\n" + self.server.stderr())

    def soa_serial(self):
        r = T.udp_raw(self.server.addr(), T.make_query(P["zone"], "SOA").to_wire())
        return dns.message.from_wire(r).answer[0][0].serial

    def test_database_gauges(self):
        _, m = self.scrape()
        self.assertEqual(m[("spfdb_database_serial", ())], self.soa_serial())
        self.assertEqual(m[("spfdb_zones", ())], 2)
        changed = m[("spfdb_database_changed_timestamp_seconds", ())]
        self.assertTrue(self.db.t_first - 1 <= changed <= self.t_start + 1, changed)
        self.assertTrue(0 <= m[("spfdb_database_age_seconds", ())] <= time.time() - changed + 1)
        start = m[("process_start_time_seconds", ())]
        self.assertTrue(self.t_start - 1 <= start <= time.time() + 1, start)
        build = [k for k in m if k[0] == "spfdb_build_info"]
        self.assertEqual(len(build), 1)
        self.assertEqual(m[build[0]], 1)
        self.assertIn(("version", "0.1.0"), build[0][1])
        # A committed change moves the serial and the zone count at once.
        old = m[("spfdb_database_serial", ())]
        time.sleep(1.1)  # the serial is time-based
        self.db.ctl("zone", "add", "extra.example", "--ns", "ns1.example.net",
                    "--ns", "ns2.example.net")
        _, m = self.scrape()
        self.assertGreater(m[("spfdb_database_serial", ())], old)
        self.assertEqual(m[("spfdb_database_serial", ())], self.soa_serial())
        self.assertEqual(m[("spfdb_zones", ())], 3)
        self.db.ctl("zone", "del", "extra.example")

    def test_format(self):
        body, _ = self.scrape()
        samples, types, helps = parse(body)
        self.assertEqual(set(types), set(helps))
        for name, t in types.items():
            self.assertTrue(name.startswith("spfdb_") or name == "process_start_time_seconds",
                            name)
            self.assertEqual(name.endswith("_total"), t == "counter", name)
            self.assertTrue(any(n == name for n, _ in samples), "no sample of " + name)
        for name in ("spfdb_tcp_connections_refused_total", "spfdb_tcp_connections_evicted_total",
                     "spfdb_tcp_connections_timed_out_total", "spfdb_udp_receive_errors_total",
                     "spfdb_udp_send_errors_total", "spfdb_database_read_failures_total",
                     "spfdb_database_serial", "spfdb_database_age_seconds", "spfdb_zones"):
            self.assertIn(name, types)

    def test_reference_parser(self):
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            self.skipTest("python3-prometheus-client not installed")
        body, mine = self.scrape()
        theirs = {}
        for fam in text_string_to_metric_families(body):
            for s in fam.samples:
                theirs[(s.name, tuple(sorted(s.labels.items())))] = s.value
        self.assertEqual(set(theirs), set(mine))

    def test_http(self):
        self.assertEqual(self.get("/")[0], 404)
        self.assertEqual(self.get("/metricsx")[0], 404)
        self.assertEqual(self.get("/metrics", "POST")[0], 501)
        self.assertEqual(self.get("/metrics?x=1")[0], 200)
        self.assertEqual(self.get("/metrics", "HEAD")[0], 200)
        err = self.server.stderr()
        self.assertIn("metrics 127.0.0.1:%d" % self.server.mport, err)
        self.assert_alive()


if __name__ == "__main__":
    T.main()
