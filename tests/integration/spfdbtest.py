"""spfdbtest: harness for the end-to-end tests of spfdbd (SPEC §4).

Drives the real binaries: spfdb-ctl builds a database in a temporary
directory, spfdbd serves it on a free loopback port, and the tests talk to it
with raw sockets and dnspython.  Binary paths come from the command line
(--ctl PATH --spfdbd PATH, as CMake passes them) or from $SPFDB_CTL and
$SPFDBD.  Every process started here is stopped by its PID in a finally or
tearDown.
"""
import ipaddress
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import dns.flags
import dns.message
import dns.name

CTL = os.environ.get("SPFDB_CTL", "")
SPFDBD = os.environ.get("SPFDBD", "")

# Header flag bits (RFC 1035 §4.1.1, RFC 4035).
QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010
T_A, T_NS, T_SOA, T_OPT, T_ANY = 1, 2, 6, 41, 255

START_TIMEOUT = 10.0  # an ASan build starts slowly
STOP_TIMEOUT = 10.0


def take_args():
    """Remove --ctl/--spfdbd from sys.argv (unittest must not see them)."""
    global CTL, SPFDBD
    argv = [sys.argv[0]]
    it = iter(sys.argv[1:])
    for a in it:
        if a == "--ctl":
            CTL = next(it)
        elif a == "--spfdbd":
            SPFDBD = next(it)
        else:
            argv.append(a)
    sys.argv[:] = argv
    if not CTL or not SPFDBD:
        sys.exit("spfdbtest: need --ctl PATH and --spfdbd PATH (or $SPFDB_CTL, $SPFDBD)")
    for p in (CTL, SPFDBD):
        if not os.access(p, os.X_OK):
            sys.exit("spfdbtest: not executable: %s" % p)


def main():
    take_args()
    unittest.main(verbosity=2)


# ---- spfdb-ctl ------------------------------------------------------------


class CtlError(AssertionError):
    pass


class Db:
    """A database directory in a fresh temporary directory."""

    def __init__(self, prefix="spfdbtest-"):
        self.top = tempfile.mkdtemp(prefix=prefix)
        self.dir = os.path.join(self.top, "db")
        os.mkdir(self.dir, 0o755)  # not group-writable whatever the umask
        self.commits = 0
        self.t_first = None

    def ctl(self, *args, stdin=None, check=True):
        """Run spfdb-ctl --db DIR ARGS; returns CompletedProcess."""
        if self.t_first is None:
            self.t_first = time.time()
        cmd = [CTL, "--db", self.dir] + [str(a) for a in args]
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise CtlError("%s -> exit %d\nstdout: %s\nstderr: %s"
                           % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
        self.commits += 1
        return p

    def cleanup(self):
        shutil.rmtree(self.top, ignore_errors=True)


# ---- spfdbd -----------------------------------------------------------------


def free_port(hosts=("127.0.0.1",)):
    """A port free for both UDP and TCP on every one of HOSTS (racy; callers retry)."""
    if isinstance(hosts, str):
        hosts = (hosts,)
    for _ in range(50):
        socks = []
        try:
            u = socket.socket(_family((hosts[0],)), socket.SOCK_DGRAM)
            socks.append(u)
            if ":" in hosts[0]:
                u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            u.bind((hosts[0], 0))
            port = u.getsockname()[1]
            try:
                for i, h in enumerate(hosts):
                    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                        if i == 0 and kind == socket.SOCK_DGRAM:
                            continue
                        s = socket.socket(_family((h,)), kind)
                        socks.append(s)
                        if ":" in h:
                            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                        s.bind((h, port))
            except OSError:
                continue
            return port
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port")


def die_with_parent():
    """preexec_fn: the child gets SIGKILL if this test process dies (e.g. killed
    by ctest's TIMEOUT), so no server outlives its test."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def ipv6_loopback_works():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class Server:
    """One spfdbd process.  LISTEN: address templates with {port}, e.g.
    "127.0.0.1:{port}" or "[::]:{port}"; the port is chosen at start."""

    def __init__(self, dbdir, listen=("127.0.0.1:{port}",), args=(), workers=2, probe=True):
        self.dbdir = dbdir
        self.listen = list(listen)
        self.args = list(args)
        self.workers = workers
        self.probe = probe
        self.proc = None
        self.port = None
        self.errpath = None
        self.hosts = [l.rsplit(":", 1)[0].strip("[]") for l in self.listen]
        host = self.hosts[0]
        self.host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)

    def cmd(self, port):
        c = [SPFDBD, "--db", self.dbdir]
        for l in self.listen:
            c += ["--listen", l.format(port=port)]
        if self.workers is not None:
            c += ["--workers", str(self.workers)]
        return c + self.args

    def start(self):
        last = ""
        for _ in range(5):
            # A [::] listener's tests also bind 127.0.0.1 on its port (V6ONLY).
            extra = ["127.0.0.1"] if "::" in self.hosts and not {"0.0.0.0", "127.0.0.1"} & set(self.hosts) else []
            self.port = free_port(self.hosts + extra)
            fd, self.errpath = tempfile.mkstemp(prefix="spfdbd-", suffix=".log",
                                                dir=os.path.dirname(self.dbdir.rstrip("/")))
            try:
                self.proc = subprocess.Popen(self.cmd(self.port), stdin=subprocess.DEVNULL,
                                             stdout=fd, stderr=fd, preexec_fn=die_with_parent)
            finally:
                os.close(fd)
            if not self.probe:
                return self
            deadline = time.time() + START_TIMEOUT
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._answers():
                    return self
                time.sleep(0.05)
            last = self.stderr()
            if self.proc.poll() is None:
                self.kill()
                raise AssertionError("spfdbd did not answer within %.0f s\nstderr:\n%s"
                                     % (START_TIMEOUT, last))
            self.proc = None
        raise AssertionError("spfdbd failed to start 5 times; last stderr:\n%s" % last)

    def _answers(self):
        q = dns.message.make_query("probe.invalid.", "A", use_edns=False)
        try:
            udp_raw(self.addr(), q.to_wire(), timeout=0.2, tries=1)
        except (socket.timeout, OSError):
            return False
        try:
            with socket.create_connection(self.addr(), timeout=0.5):
                pass
        except OSError:
            return False
        return True

    def addr(self):
        return (self.host, self.port)

    def stderr(self):
        if self.errpath is None:
            return ""
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        """SIGTERM; returns the exit status (None when it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


class ServerCase(unittest.TestCase):
    """A test class with one database (built by setup_db) and one server."""

    listen = ("127.0.0.1:{port}",)
    server_args = ()

    @classmethod
    def setup_db(cls, db):
        pass

    @classmethod
    def make_server(cls):
        """The class's server, not yet started: a subclass picks another kind
        or other arguments (cls.db is set up by then)."""
        return Server(cls.db.dir, listen=cls.listen, args=cls.server_args)

    @classmethod
    def setUpClass(cls):
        cls.db = Db()
        cls.server = None
        try:
            cls.setup_db(cls.db)
            cls.db.t_last = time.time()
            cls.server = cls.make_server().start()
        except BaseException:
            if cls.server is not None:
                cls.server.stop()
            cls.db.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.server.stop()
            err = cls.server.stderr()
            if rc != 0:
                raise AssertionError("spfdbd exit status %r after SIGTERM (want 0)\nstderr:\n%s"
                                     % (rc, err))
            if os.environ.get("SPFDBTEST_VERBOSE"):
                sys.stderr.write(err)
        finally:
            cls.db.cleanup()

    def assert_alive(self):
        self.assertTrue(self.server.alive(), "spfdbd died:\n" + self.server.stderr())


# ---- transfers (SPEC §5) -----------------------------------------------------


def add_key(db, name, secret):
    """Store TSIG key NAME (hmac-sha256, base64 SECRET) in DB."""
    db.ctl("key", "add", name, "--secret", "-", stdin="hmac-sha256:%s:%s\n" % (name, secret))


def kdig_records(out):
    """The records of kdig's output, as (owner, type, rdata) tuples."""
    recs = []
    for line in out.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        f = line.split()
        recs.append((f[0].lower(), f[3], " ".join(f[4:])))
    return recs


# ---- raw transport ----------------------------------------------------------


def _family(addr):
    return socket.AF_INET6 if ":" in addr[0] else socket.AF_INET


def udp_raw(addr, wire, timeout=2.0, tries=2, src=None):
    """Send WIRE over UDP to ADDR; return the reply bytes (socket.timeout if none).
    The socket is connected, so a reply from another address is dropped."""
    s = socket.socket(_family(addr), socket.SOCK_DGRAM)
    try:
        if src is not None:
            s.bind((src, 0))
        s.connect(addr)
        s.settimeout(timeout)
        for i in range(tries):
            s.send(wire)
            try:
                return s.recv(65535)
            except socket.timeout:
                if i == tries - 1:
                    raise
    finally:
        s.close()


def udp_none(addr, wire, wait=0.5):
    """True when no reply arrives within WAIT seconds."""
    s = socket.socket(_family(addr), socket.SOCK_DGRAM)
    try:
        s.connect(addr)
        s.settimeout(wait)
        s.send(wire)
        try:
            s.recv(65535)
            return False
        except (socket.timeout, ConnectionRefusedError):
            return True
    finally:
        s.close()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d octets" % (len(buf), n))
        buf += chunk
    return buf


def tcp_recv_msg(s):
    (n,) = struct.unpack("!H", recv_exact(s, 2))
    return recv_exact(s, n)


def tcp_frame(wire):
    return struct.pack("!H", len(wire)) + wire


def tcp_raw(addr, wire, timeout=3.0):
    s = socket.create_connection(addr, timeout=timeout)
    try:
        s.sendall(tcp_frame(wire))
        return tcp_recv_msg(s)
    finally:
        s.close()


def exchange(addr, wire, proto="udp"):
    return udp_raw(addr, wire) if proto == "udp" else tcp_raw(addr, wire)


# ---- raw message parsing ----------------------------------------------------


class Header:
    def __init__(self, wire):
        if len(wire) < 12:
            raise ValueError("short message")
        (self.id, self.flags, self.qd, self.an, self.ns, self.ar) = struct.unpack("!6H", wire[:12])
        self.opcode = (self.flags >> 11) & 0xF
        self.rcode = self.flags & 0xF

    def has(self, bit):
        return bool(self.flags & bit)


def skip_name(wire, off):
    """Offset after the (possibly compressed) name at OFF."""
    while True:
        n = wire[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def read_name(wire, off):
    """(list of label bytes, offset after the name), following pointers."""
    labels, end, hops = [], None, 0
    while True:
        n = wire[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | wire[off + 1]
            hops += 1
            if hops > 64:
                raise ValueError("pointer loop")
            continue
        off += 1
        if n == 0:
            return labels, (end if end is not None else off)
        labels.append(bytes(wire[off:off + n]))
        off += n


def question_bytes(wire):
    """The raw question section (QNAME QTYPE QCLASS) of a one-question message."""
    end = skip_name(wire, 12) + 4
    return bytes(wire[12:end])


class RR:
    def __init__(self, section, owner, rtype, rclass, ttl, rdata, rdata_off):
        self.section, self.owner, self.type, self.rclass = section, owner, rtype, rclass
        self.ttl, self.rdata, self.rdata_off = ttl, rdata, rdata_off

    def owner_text(self):
        return ".".join(l.decode("latin-1") for l in self.owner).lower() + "."


def records(wire):
    """Every RR after the question section: list of RR (section 1..3)."""
    h = Header(wire)
    off = 12
    for _ in range(h.qd):
        off = skip_name(wire, off) + 4
    out = []
    for sec, count in ((1, h.an), (2, h.ns), (3, h.ar)):
        for _ in range(count):
            owner, off = read_name(wire, off)
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", wire[off:off + 10])
            off += 10
            out.append(RR(sec, owner, rtype, rclass, ttl, bytes(wire[off:off + rdlen]), off))
            off += rdlen
    if off != len(wire):
        raise ValueError("%d trailing octets in reply" % (len(wire) - off))
    return out


def opt_of(wire):
    """The OPT RR of a message, or None."""
    opts = [r for r in records(wire) if r.type == T_OPT]
    if len(opts) > 1:
        raise AssertionError("reply has %d OPT records" % len(opts))
    return opts[0] if opts else None


def opt_options(rdata):
    out, off = [], 0
    while off < len(rdata):
        code, ln = struct.unpack("!HH", rdata[off:off + 4])
        out.append((code, rdata[off + 4:off + 4 + ln]))
        off += 4 + ln
    return out


# ---- names ------------------------------------------------------------------


def nibbles(addr):
    """%{i} for an IPv6 address: 32 dot-separated lowercase nibbles."""
    return ".".join(ipaddress.IPv6Address(addr).exploded.replace(":", ""))


def randcase(name, rnd=random):
    return "".join(c.upper() if c.isalpha() and rnd.random() < 0.5 else c.lower() for c in name)


def make_query(qname, qtype="A", qclass="IN", edns=-1, do=False, rd=False, cd=False, ad=False,
               qid=None, options=None, payload=1232):
    """A query message (dnspython), flags set exactly as asked."""
    if isinstance(qname, str):
        qname = dns.name.from_text(qname)
    q = dns.message.make_query(qname, qtype, qclass, use_edns=edns if edns >= 0 else False,
                               want_dnssec=do, payload=payload, options=options)
    if edns >= 0 and do:
        q.ednsflags |= dns.flags.DO
    q.flags = (dns.flags.RD if rd else 0) | (dns.flags.CD if cd else 0) | \
              (dns.flags.AD if ad else 0)
    if qid is not None:
        q.id = qid
    return q


def soa_fields(where):
    """(mname labels, rname labels, serial, refresh, retry, expire, minimum) of
    the SOA RDATA at WHERE = (whole message, RDATA offset): names may be
    compressed."""
    wire, off = where
    mname, off = read_name(wire, off)
    rname, off = read_name(wire, off)
    return (mname, rname) + struct.unpack("!5I", wire[off:off + 20])


def labels_of(text):
    """Wire labels (bytes) of a presentation-form name, escapes honoured."""
    n = dns.name.from_text(text)
    return [l for l in n.labels if l]


def lower_labels(labels):
    return [l.lower() for l in labels]
