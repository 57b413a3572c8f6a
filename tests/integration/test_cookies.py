"""DNS Cookies (SPEC §4 "EDNS", RFC 7873, RFC 9018) with real clients: dig and
kdig learn spfdbd's server cookie and send it back, over UDP and TCP; the
metrics count it valid.  A forged or another server's cookie gets a fresh one
and a normal answer; malformed lengths get FORMERR; servers sharing
--cookie-secret-file accept each other's cookies, and so do BIND (named,
cookie-secret) and Knot (knotd, mod-cookies) given the same secret; a bad
secret file stops start-up."""
import os
import re
import shutil
import signal
import struct
import subprocess
import time
import urllib.request

import answers as A
import spfdbtest as T
from test_metrics import MetricsServer, parse

DIG = shutil.which("dig") or "/usr/bin/dig"
KDIG = shutil.which("kdig") or "/usr/bin/kdig"
LISTED = "198.51.100.7.spf.acme." + A.PROVIDER["zone"]
SECRET = "e5e973e5a6b2a43f48e7dc849e37bfcf"  # RFC 9018 Appendix A's


def scrape(server):
    with urllib.request.urlopen(server.url(), timeout=5) as r:
        return parse(r.read().decode())[0]


def cookies(m):
    return {k: int(m[("spfdb_cookie_queries_total", (("cookie", k),))])
            for k in ("client_only", "valid", "bad")}


def opt_cookie(wire):
    o = T.opt_of(wire)
    if o is None:
        return None
    for code, data in T.opt_options(o.rdata):
        if code == 10:
            return data
    return None


def cookie_query(name, cookie, qid=0x1234, qtype=1):
    q = struct.pack("!6H", qid, 0, 1, 0, 0, 1) + b"".join(
        bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    opt = struct.pack("!HH", 10, len(cookie)) + cookie
    return q + struct.pack("!HH", qtype, 1) + b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(opt)) + opt


class CookieCase(T.ServerCase):
    server_args = ()

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    @classmethod
    def setUpClass(cls):
        cls.db = T.Db()
        cls.server = None
        try:
            cls.setup_db(cls.db)
            cls.secret_file = os.path.join(cls.db.top, "cookie-secret")
            with open(cls.secret_file, "w") as f:
                f.write("# shared by ns1 and ns2\n%s\n" % SECRET)
            os.chmod(cls.secret_file, 0o600)
            cls.server = MetricsServer(cls.db.dir, args=["--cookie-secret-file",
                                                         cls.secret_file]).start()
        except BaseException:
            if cls.server is not None:
                cls.server.stop()
            cls.db.cleanup()
            raise

    def settle(self):
        """The counters once they stop moving (a reply is counted after it
        is sent)."""
        last = scrape(self.server)
        for _ in range(50):
            time.sleep(0.05)
            now = scrape(self.server)
            if cookies(now) == cookies(last):
                return now
            last = now
        return last

    def dig(self, *args):
        cmd = [DIG, "@127.0.0.1", "-p", str(self.server.port), "+norec", "+time=3",
               "+tries=2"] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, "%s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
        return p.stdout

    def kdig(self, *args):
        cmd = [KDIG, "@127.0.0.1", "-p", str(self.server.port), "+norec", "+timeout=3",
               "+retry=1"] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, "%s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
        return p.stdout

    def check_server_cookie(self, hexcookie, client=None):
        """A 48-digit COOKIE: CLIENT, then version 1, reserved 0, a timestamp
        of now."""
        self.assertRegex(hexcookie, r"^[0-9a-f]{48}$")
        if client is not None:
            self.assertEqual(hexcookie[:16], client)
        self.assertEqual(hexcookie[16:24], "01000000")
        self.assertLess(abs(int(hexcookie[24:32], 16) - time.time()), 5)


class Cookies(CookieCase):
    def test_dig(self):
        before = cookies(self.settle())
        out = self.dig("+cookie", LISTED, "A")
        m = re.search(r"^; COOKIE: ([0-9a-f]+) \(good\)$", out, re.M)
        self.assertIsNotNone(m, "dig saw no good cookie:\n" + out)
        self.assertIn("127.0.0.2", out)
        learned = m.group(1)
        self.check_server_cookie(learned)
        mid = cookies(self.settle())
        self.assertEqual(mid["client_only"] - before["client_only"], 1)
        for transport in ("+notcp", "+tcp"):
            out = self.dig("+cookie=" + learned, transport, LISTED, "A")
            # valid and young: sent back as it came
            self.assertRegex(out, r"(?m)^; COOKIE: %s \(good\)$" % learned, out)
        after = cookies(self.settle())
        self.assertEqual(after["valid"] - mid["valid"], 2)
        self.assertEqual(after["bad"], before["bad"])

    def test_kdig(self):
        before = cookies(self.settle())
        out = self.kdig("+cookie", LISTED, "A")
        m = re.search(r"^;; COOKIE: ([0-9A-F]+)$", out, re.M)
        self.assertIsNotNone(m, "kdig saw no cookie:\n" + out)
        learned = m.group(1).lower()
        self.check_server_cookie(learned)
        for transport in ("+notcp", "+tcp"):
            out = self.kdig("+cookie=" + learned, transport, "iphmx.example", "SOA")
            self.assertIn(";; COOKIE: %s" % learned.upper(), out)
            self.assertIn("status: NOERROR", out)
        after = cookies(self.settle())
        self.assertEqual(after["client_only"] - before["client_only"], 1)
        self.assertEqual(after["valid"] - before["valid"], 2)

    def test_forged_cookie_gets_fresh_one_and_answer(self):
        """Without rate limiting a bad server cookie is answered normally, with
        a fresh cookie (BADCOOKIE only under rate limiting)."""
        before = cookies(self.settle())
        client = bytes.fromhex("0102030405060708")
        for server in (bytes.fromhex("01000000") + struct.pack("!I", int(time.time()))
                       + b"\x11" * 8,           # a forged hash
                       bytes.fromhex("01000000") + struct.pack("!I", int(time.time()) - 7200)
                       + b"\x11" * 8,           # stale
                       b"\xab" * 8, b"\xcd" * 32):  # other servers' forms
            for proto in ("udp", "tcp"):
                r = T.exchange(self.server.addr(), cookie_query(LISTED, client + server), proto)
                self.assertEqual(T.Header(r).rcode, 0)
                self.assertEqual(T.Header(r).an, 1)
                c = opt_cookie(r)
                self.assertEqual(len(c), 24)
                self.assertEqual(c[:8], client)
                self.assertNotEqual(c[8:], server)
                self.check_server_cookie(c.hex(), client.hex())
        after = cookies(self.settle())
        self.assertEqual(after["bad"] - before["bad"], 8)

    def test_malformed_lengths(self):
        for n in (0, 1, 7, 9, 12, 15, 41, 60):
            for proto in ("udp", "tcp"):
                r = T.exchange(self.server.addr(), cookie_query(LISTED, b"\x07" * n), proto)
                h = T.Header(r)
                self.assertEqual(h.rcode, 1, "COOKIE of %d octets over %s" % (n, proto))
                self.assertFalse(h.has(T.AA))
                self.assertIsNotNone(T.opt_of(r), "FORMERR with OPT")
                self.assertIsNone(opt_cookie(r))
        for n in (8, 16, 24, 40):
            r = T.exchange(self.server.addr(), cookie_query(LISTED, b"\x07" * n))
            self.assertEqual(T.Header(r).rcode, 0)
            self.assertEqual(opt_cookie(r)[:8], b"\x07" * 8)

    def test_rfc9018_secret(self):
        """The server's cookie is RFC 9018's with the configured secret: the
        hash of A.1's inputs, the address being 127.0.0.1."""
        client = bytes.fromhex("2464c4abcf10c957")
        r = T.udp_raw(self.server.addr(), cookie_query(LISTED, client))
        c = opt_cookie(r)
        # client cookie | version | reserved | timestamp | client address
        want = siphash24(bytes.fromhex(SECRET), c[:16] + bytes([127, 0, 0, 1]))
        self.assertEqual(c[16:], want)


def siphash24(key, msg):
    """Reference SipHash-2-4 (pure Python), digest bytes little-endian."""
    mask = (1 << 64) - 1

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & mask

    def rounds(v, n):
        v0, v1, v2, v3 = v
        for _ in range(n):
            v0 = (v0 + v1) & mask; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
            v2 = (v2 + v3) & mask; v3 = rotl(v3, 16); v3 ^= v2
            v0 = (v0 + v3) & mask; v3 = rotl(v3, 21); v3 ^= v0
            v2 = (v2 + v1) & mask; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
        return [v0, v1, v2, v3]

    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261,
         k1 ^ 0x7465646279746573]
    tail = len(msg) & 7
    for i in range(0, len(msg) - tail, 8):
        (m,) = struct.unpack("<Q", msg[i:i + 8])
        v[3] ^= m
        v = rounds(v, 2)
        v[0] ^= m
    b = (len(msg) & 0xff) << 56
    for i, c in enumerate(msg[len(msg) - tail:]):
        b |= c << (8 * i)
    v[3] ^= b
    v = rounds(v, 2)
    v[0] ^= b
    v[2] ^= 0xff
    v = rounds(v, 4)
    return struct.pack("<Q", v[0] ^ v[1] ^ v[2] ^ v[3])


class SharedSecret(CookieCase):
    """Servers of one service share --cookie-secret-file: a cookie learned
    from one is valid on the other; a server with its own random secret
    answers it with a fresh one."""

    def test_shared(self):
        twin = MetricsServer(self.db.dir, args=["--cookie-secret-file", self.secret_file]).start()
        other = MetricsServer(self.db.dir).start()
        try:
            client = bytes.fromhex("a1a2a3a4a5a6a7a8")
            learned = opt_cookie(T.udp_raw(self.server.addr(), cookie_query(LISTED, client)))
            for proto in ("udp", "tcp"):
                r = T.exchange(twin.addr(), cookie_query(LISTED, learned), proto)
                self.assertEqual(opt_cookie(r), learned, "the twin sends the cookie back")
                r = T.exchange(other.addr(), cookie_query(LISTED, learned), proto)
                self.assertNotEqual(opt_cookie(r), learned)
                self.assertEqual(T.Header(r).rcode, 0)
            deadline = time.time() + 5
            while time.time() < deadline:
                t, o = cookies(scrape(twin)), cookies(scrape(other))
                if t["valid"] == 2 and o["bad"] == 2:
                    break
                time.sleep(0.05)
            self.assertEqual((t["valid"], t["bad"]), (2, 0))
            self.assertEqual((o["valid"], o["bad"]), (0, 2))
        finally:
            for s in (twin, other):
                self.assertEqual(s.stop(), 0, s.stderr())

    def test_bad_secret_files(self):
        cases = [("short", "e5e973e5a6b2a43f48e7dc849e37bf\n", 2, "line 1"),
                 ("not hex", "# c\nz5e973e5a6b2a43f48e7dc849e37bfcf\n", 2, "line 2"),
                 ("empty", "# nothing\n", 2, "expected 1 to 4 secrets"),
                 ("five", (SECRET + "\n") * 5, 2, "expected 1 to 4 secrets")]
        for what, text, status, msg in cases:
            path = os.path.join(self.db.top, "bad-secret")
            with open(path, "w") as f:
                f.write(text)
            p = subprocess.run([T.SPFDBD, "--db", self.db.dir, "--listen", "127.0.0.1:1",
                                "--cookie-secret-file", path], capture_output=True, text=True,
                               timeout=20)
            self.assertEqual(p.returncode, status, what + ": " + p.stderr)
            self.assertIn(msg, p.stderr, what)
        p = subprocess.run([T.SPFDBD, "--db", self.db.dir, "--listen", "127.0.0.1:1",
                            "--cookie-secret-file", os.path.join(self.db.top, "missing")],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot read --cookie-secret-file", p.stderr)


class CookiesV6(CookieCase):
    """Over IPv6 the hash covers the 16-octet client address (::1 here)."""

    @classmethod
    def setUpClass(cls):
        assert T.ipv6_loopback_works(), "this test needs ::1"
        cls.db = T.Db()
        cls.server = None
        try:
            cls.setup_db(cls.db)
            cls.secret_file = os.path.join(cls.db.top, "cookie-secret")
            with open(cls.secret_file, "w") as f:
                f.write(SECRET + "\n")
            cls.server = MetricsServer(cls.db.dir, listen=("[::1]:{port}",),
                                       args=["--cookie-secret-file", cls.secret_file]).start()
        except BaseException:
            if cls.server is not None:
                cls.server.stop()
            cls.db.cleanup()
            raise

    def test_v6(self):
        cmd = [DIG, "@::1", "-p", str(self.server.port), "+norec", "+time=3", "+cookie",
               LISTED, "A"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
        m = re.search(r"^; COOKIE: ([0-9a-f]{48}) \(good\)$", out, re.M)
        self.assertIsNotNone(m, out)
        c = bytes.fromhex(m.group(1))
        self.check_server_cookie(c.hex())
        self.assertEqual(c[16:], siphash24(bytes.fromhex(SECRET), c[:16] + b"\0" * 15 + b"\1"))
        for proto in ("udp", "tcp"):
            r = T.exchange(self.server.addr(), cookie_query(LISTED, c), proto)
            self.assertEqual(opt_cookie(r), c)


NAMED = shutil.which("named") or "/usr/sbin/named"
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
NAMED_CONF = """options {{ directory "{dir}"; pid-file "{dir}/named.pid";
          session-keyfile "{dir}/session.key"; managed-keys-directory "{dir}";
          listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
          recursion no; notify no; dnssec-validation no;
          cookie-algorithm siphash24; cookie-secret "{secret}"; }};
controls {{ }};
"""
KNOT_CONF = """server:
    listen: 127.0.0.1@{port}
    rundir: {dir}
database:
    storage: {dir}
mod-cookies:
  - id: shared
    secret: 0x{secret}
template:
  - id: default
    global-module: mod-cookies/shared
zone:
  - domain: example.
    file: {dir}/example.zone
"""


class Peer:
    """named or knotd on a free loopback port, answering with cookies made
    from SECRET; stopped by its PID."""

    def __init__(self, top, kind):
        self.dir = os.path.join(top, kind)
        os.makedirs(self.dir, exist_ok=True)
        self.kind, self.proc = kind, None

    def start(self):
        for _ in range(5):
            self.port = T.free_port()
            if self.kind == "named":
                conf = os.path.join(self.dir, "named.conf")
                with open(conf, "w") as f:
                    f.write(NAMED_CONF.format(dir=self.dir, port=self.port, secret=SECRET))
                argv = [NAMED, "-g", "-c", conf]
            else:
                conf = os.path.join(self.dir, "knot.conf")
                with open(conf, "w") as f:
                    f.write(KNOT_CONF.format(dir=self.dir, port=self.port, secret=SECRET))
                with open(os.path.join(self.dir, "example.zone"), "w") as f:
                    f.write("$ORIGIN example.\n$TTL 60\n@ SOA ns1 h 1 60 60 60 60\n"
                            "@ NS ns1\nns1 A 192.0.2.1\n")
                argv = [KNOTD, "-c", conf]
            self.log = open(os.path.join(self.dir, "log"), "w+")
            self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log,
                                         stdin=subprocess.DEVNULL, preexec_fn=T.die_with_parent)
            deadline = time.time() + 15
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    self.ask(b"\x01" * 8, tries=1)
                    return self
                except OSError:
                    time.sleep(0.1)
            self.stop()
        raise AssertionError("%s did not start:\n%s" % (self.kind, self.logtext()))

    def ask(self, cookie, tries=4):
        # knotd sends only some of its BADCOOKIE replies (badcookie-slip): ask again.
        return T.udp_raw(("127.0.0.1", self.port), cookie_query("example.", cookie, qtype=6),
                         timeout=0.5, tries=tries)

    def logtext(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def rcode_of(wire):
    o = T.opt_of(wire)
    return ((o.ttl >> 24) << 4 if o else 0) | T.Header(wire).rcode


class Interop(CookieCase):
    """RFC 9018's point: servers of other makes behind one address share the
    secret.  A cookie made by named or knotd is valid at spfdbd (sent back
    as it came), and one made by spfdbd is valid at knotd (no BADCOOKIE)."""

    def test_named_and_knot(self):
        for kind in ("named", "knotd"):
            peer = Peer(self.db.top, kind).start()
            try:
                before = cookies(self.settle())
                client = bytes.fromhex("5a5b5c5d5e5f6061")
                r = peer.ask(client)
                theirs = opt_cookie(r)
                self.assertEqual(len(theirs), 24, kind)
                self.assertEqual(theirs[8:12], b"\x01\0\0\0", kind + ": an RFC 9018 cookie")
                for proto in ("udp", "tcp"):
                    r = T.exchange(self.server.addr(), cookie_query(LISTED, theirs), proto)
                    self.assertEqual(opt_cookie(r), theirs, "%s's cookie at spfdbd" % kind)
                after = cookies(self.settle())
                self.assertEqual(after["valid"] - before["valid"], 2, kind)
                if kind == "knotd":
                    ours = opt_cookie(T.udp_raw(self.server.addr(), cookie_query(LISTED, client)))
                    self.assertEqual(rcode_of(peer.ask(ours)), 0, "spfdbd's cookie at knotd")
                    forged = ours[:16] + bytes(b ^ 0xFF for b in ours[16:])
                    self.assertEqual(rcode_of(peer.ask(forged)), 23, "a forged one at knotd")
            finally:
                peer.stop()


if __name__ == "__main__":
    T.main()
