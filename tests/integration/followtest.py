"""followtest: harness for the replica tests (SPEC §5): a primary (its
database and spfdbd), replicas (a database, spfdb-follow and spfdbd each),
a signed NOTIFY sent from the test, an oracle that compares what two
servers answer, and a TCP proxy that cuts or corrupts transfers.

Binary paths: --ctl, --spfdbd (spfdbtest), --follow PATH (or
$SPFDB_FOLLOW) and --members PATH (or $SPFDB_MEMBERS_SET: the test writer
tests/follow/members_set, which sets an allocation's members through
libspfdb).  Every process started here is stopped by its PID.
"""
import base64
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring

import spfdbtest as T

FOLLOW = os.environ.get("SPFDB_FOLLOW", "")
MEMBERS_SET = os.environ.get("SPFDB_MEMBERS_SET", "")
ZONE = "xfr.test"
SECRET = base64.b64encode(bytes(range(32))).decode()
WRONG = base64.b64encode(bytes(range(1, 33))).decode()


def take_args():
    global FOLLOW, MEMBERS_SET
    argv = [sys.argv[0]]
    it = iter(sys.argv[1:])
    for a in it:
        if a == "--follow":
            FOLLOW = next(it)
        elif a == "--members":
            MEMBERS_SET = next(it)
        else:
            argv.append(a)
    sys.argv[:] = argv
    if not FOLLOW or not os.access(FOLLOW, os.X_OK):
        sys.exit("followtest: need --follow PATH (or $SPFDB_FOLLOW)")
    if not MEMBERS_SET or not os.access(MEMBERS_SET, os.X_OK):
        sys.exit("followtest: need --members PATH (or $SPFDB_MEMBERS_SET)")
    T.take_args()


def main():
    take_args()
    import unittest
    unittest.main(verbosity=2)


def wait_until(fn, timeout, what, step=0.05):
    """Poll FN until it returns a true value; fail after TIMEOUT seconds."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(step)


def build_primary(db, extra=None):
    """The primary's data: two zones, three allocations, entries of both
    families, a wide entry (/4) and nested ones; the transfer zone; key k1."""
    db.ctl("zone", "add", "iphmx.example", "--ns", "ns1.dns.example.net",
           "--ns", "ns2.dns.example.net", "--ttl", "600")
    db.ctl("allocation", "add", "acme")
    db.ctl("allocation", "add", "eu")
    db.ctl("zone", "add", "spf.customer.example", "--allocation", "acme",
           "--ns", "ns1.dns.example.net", "--ns", "ns2.dns.example.net")
    db.ctl("add", "--allocation", "acme", "198.51.100.0/24", "198.51.100.7/32",
           "2001:db8:1234::/48", "192.0.2.7/32")
    db.ctl("add", "--allocation", "eu", "203.0.113.0/24")
    db.ctl("add", "--force", "10.0.0.0/8", "2001:db8::1/128", "64.0.0.0/4")
    db.ctl("transfer", "set", ZONE)
    T.add_key(db, "k1", SECRET)


def set_members(db, alloc, *members):
    """Make ALLOC's members exactly MEMBERS on DB (SPEC §2), in one commit
    through libspfdb (tests/follow/members_set)."""
    p = subprocess.run([MEMBERS_SET, db.dir, alloc] + list(members), capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("members_set %s %s: exit %d: %s"
                             % (alloc, " ".join(members), p.returncode, p.stderr))


def xfr_records(port, keyname="k1", secret=SECRET):
    """The transfer zone as kdig's AXFR from 127.0.0.1:PORT shows it: its
    records as sorted (owner, type, rdata) tuples, TSIG records left out."""
    kdig = shutil.which("kdig")
    if kdig is None:
        raise AssertionError("kdig is not installed (scripts/deps.sh)")
    p = subprocess.run([kdig, "@127.0.0.1", "-p", str(port), "+timeout=5", "+retry=0",
                        "-y", "hmac-sha256:%s:%s" % (keyname, secret), "AXFR", ZONE],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or "; Transfer failed" in p.stdout:
        raise AssertionError("kdig AXFR from port %d: %s%s" % (port, p.stdout, p.stderr))
    # each message's TSIG is kdig's to check, not the zone's
    return sorted(r for r in T.kdig_records(p.stdout) if r[1] != "TSIG")


def serial_of(db):
    p = db.ctl("primary", "show", "--json", check=False)
    if p.returncode == 0:
        return json.loads(p.stdout)["serial"]
    return None


def follow_state(db):
    return json.loads(db.ctl("primary", "show", "--json").stdout)


def db_serial(db):
    """The database serial (as the zones' SOA shows it), read by spfdb-ctl."""
    out = db.ctl("log", check=False).stdout
    return out


FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1")


def faketime_env(offset):
    """Environment that runs a program with its clock OFFSET off ("-10m",
    "+15d").  libfaketime is preloaded into the program itself, not through
    the faketime wrapper, so the process the test starts and stops is the
    program (the wrapper would leave it running when stopped).  The
    monotonic clock stays true: only TSIG and the metrics' clock move."""
    lib = next((l for l in FAKETIME_LIBS if os.path.exists(l)), None)
    if lib is None:
        raise AssertionError("libfaketime is not installed (faketime package)")
    return {"LD_PRELOAD": lib, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_NO_CACHE": "1",
            # ASan wants to come first; libfaketime only wraps clock calls
            "ASAN_OPTIONS": "verify_asan_link_order=0"}


class Follower:
    """One spfdb-follow process on DBDIR, receiving NOTIFY on a free port."""

    def __init__(self, dbdir, args=(), env=None, refresh=1, retry=1, timeout=5):
        self.dbdir = dbdir
        self.args = list(args)
        self.env = env
        self.refresh, self.retry, self.timeout = refresh, retry, timeout
        self.proc = None
        self.port = None
        self.start_port = None  # a fixed NOTIFY port (a secondary's config names it)
        self.errpath = None

    def start(self):
        self.port = self.start_port or T.free_port()
        fd, self.errpath = tempfile.mkstemp(prefix="follow-", suffix=".log",
                                            dir=os.path.dirname(self.dbdir.rstrip("/")))
        cmd = [FOLLOW, "--db", self.dbdir, "--listen", "127.0.0.1:%d" % self.port,
                          "--refresh", str(self.refresh), "--retry", str(self.retry),
                          "--timeout", str(self.timeout)] + self.args
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                         preexec_fn=T.die_with_parent,
                                         env=dict(os.environ, **(self.env or {})))
        finally:
            os.close(fd)
        # listening once its start line is written (sockets are bound before)
        wait_until(lambda: "following" in self.stderr() or self.proc.poll() is not None,
                   10, "spfdb-follow to start")
        if self.proc.poll() is not None:
            raise AssertionError("spfdb-follow exited %d:\n%s" % (self.proc.returncode,
                                                                  self.stderr()))
        return self

    def stderr(self):
        if self.errpath is None:
            return ""
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return None
        return self.proc.returncode

    def count(self, pattern):
        return len(re.findall(pattern, self.stderr()))


class Replica:
    """A replica database following PRIMARY_ADDR ("127.0.0.1:PORT") with
    key KEYNAME (secret SECRET), its spfdb-follow and its spfdbd."""

    def __init__(self, primary_addr, secret=SECRET, keyname="k1", follow_args=(),
                 refresh=1, server_args=()):
        self.db = T.Db(prefix="replica-")
        T.add_key(self.db, keyname, secret)
        self.db.ctl("primary", "set", primary_addr, "--key", keyname, "--zone", ZONE)
        self.follower = Follower(self.db.dir, args=follow_args, refresh=refresh)
        self.server = None
        self.server_args = list(server_args)

    def start(self, server=True):
        self.follower.start()
        if server:
            self.server = T.Server(self.db.dir, args=self.server_args, probe=True).start()
        return self

    def serial(self):
        return follow_state(self.db)["serial"]

    def stop(self):
        try:
            if self.server is not None:
                self.server.stop()
            self.follower.stop()
        finally:
            self.db.cleanup()


# ---- answers --------------------------------------------------------------


def soa_serial(server, zone="iphmx.example"):
    q = dns.message.make_query(zone, "SOA")
    r = dns.message.from_wire(T.udp_raw(server.addr(), q.to_wire()))
    for rr in r.answer:
        return rr[0].serial
    return None


def answer_key(server, name, qtype):
    """(rcode, sorted answer texts) of SERVER's reply to NAME QTYPE."""
    q = dns.message.make_query(name, qtype)
    r = dns.message.from_wire(T.udp_raw(server.addr(), q.to_wire(), timeout=2, tries=3))
    return (r.rcode(), tuple(sorted(rr.to_text() for rr in r.answer)),
            tuple(sorted(rr.to_text() for rr in r.authority)))


def probe_names():
    """Names whose answers cover every kind of data in build_primary and the
    changes the tests make."""
    names = []
    for ip in ("198.51.100.7", "198.51.100.8", "192.0.2.7", "192.0.2.8", "203.0.113.5",
               "10.1.2.3", "64.1.2.3", "198.18.0.1", "198.19.255.1", "100.64.0.1",
               "11.0.0.1", "11.0.0.2", "172.16.0.1", "198.51.200.1"):
        names += [(ip + ".spf.acme.iphmx.example", "A"), (ip + ".spf.default.iphmx.example", "A"),
                  (ip + ".spf.eu.iphmx.example", "A"), (ip + ".spf.customer.example", "A"),
                  (ip + ".spf.newco.iphmx.example", "A"), (ip + "._ip.acme.iphmx.example", "TXT"),
                  (ip + ".spf.us.iphmx.example", "A"), (ip + ".spf.global.iphmx.example", "A")]
    six = "2.0.0.1.0.d.b.8.1.2.3.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1"
    names += [(six + ".spf.acme.iphmx.example", "A"), ("_spf.acme.iphmx.example", "TXT"),
              ("_spf.default.iphmx.example", "TXT"), ("_spf.global.iphmx.example", "TXT"),
              ("iphmx.example", "NS"),
              ("spf.customer.example", "NS"), ("new.example", "SOA"),
              ("1.2.3.4.new.example", "A")]
    return names


def answers(server):
    return {n: answer_key(server, *n) for n in probe_names()}


def same_answers(a, b, tc):
    """The oracle: every probe name gets the same answer from A and B (SOA
    records in authority included, so serials must match too)."""
    got_a, got_b = answers(a), answers(b)
    diff = [n for n in got_a if got_a[n] != got_b[n]]
    tc.assertEqual(diff, [], "answers differ: " + "; ".join(
        "%s %s: %r vs %r" % (n[0], n[1], got_a[n], got_b[n]) for n in diff[:5]))


def same_data(pdb, rdb, tc):
    """The replica's database lists what the primary's does."""
    for args in (("zone", "list", "--json"), ("allocation", "list", "--json")):
        tc.assertEqual(json.loads(pdb.ctl(*args).stdout), json.loads(rdb.ctl(*args).stdout))
    for a in json.loads(pdb.ctl("allocation", "list", "--json").stdout):
        tc.assertEqual(pdb.ctl("list", "--allocation", a["name"]).stdout,
                       rdb.ctl("list", "--allocation", a["name"]).stdout)


# ---- NOTIFY ---------------------------------------------------------------


def make_notify(serial, keyname="k1", secret=SECRET, zone=ZONE, sign=True):
    q = dns.message.make_query(zone + ".", "SOA")
    q.set_opcode(dns.opcode.NOTIFY)
    q.flags |= dns.flags.AA
    q.flags &= ~dns.flags.RD
    if serial is not None:
        rr = dns.rrset.from_text(zone + ".", 0, "IN", "SOA",
                                 "primary.invalid. hostmaster.invalid. %d 300 60 1209600 0"
                                 % serial)
        q.answer.append(rr)
    if sign:
        q.use_tsig(dns.tsigkeyring.from_text({keyname: secret}), keyname=keyname,
                   algorithm="hmac-sha256")
    return q


def send_notify(port, q, proto="udp", timeout=3):
    """Send NOTIFY Q to 127.0.0.1:PORT; the reply (its TSIG verified by
    dnspython when Q was signed)."""
    if proto == "udp":
        return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)
    return dns.query.tcp(q, "127.0.0.1", port=port, timeout=timeout)


# ---- a proxy that cuts or corrupts ---------------------------------------


class Proxy:
    """TCP proxy 127.0.0.1:port -> TARGET.  mode: "pass"; "cut" (close both
    sides once N octets went from the server to the client); "flip" (xor
    the octet at server offset N with 0x55); "hold" (stop relaying server
    octets after N, keep the connection open).  Counts connections and the
    server octets relayed."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.mode, self.n = "pass", 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.conns = 0
        self.relayed = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def set(self, mode, n=0):
        self.mode, self.n = mode, n

    def _run(self):
        while not self.stopped:
            r, _, _ = select.select([self.lsock], [], [], 0.1)
            if not r:
                continue
            try:
                c, _ = self.lsock.accept()
            except OSError:
                continue
            self.conns += 1
            threading.Thread(target=self._relay, args=(c, self.mode, self.n), daemon=True).start()

    def _relay(self, c, mode, n):
        try:
            s = socket.create_connection(self.target, timeout=5)
        except OSError:
            c.close()
            return
        sent = 0
        try:
            deadline = time.time() + 120
            while time.time() < deadline and not self.stopped:
                r, _, _ = select.select([c, s], [], [], 0.2)
                if c in r:
                    d = c.recv(65536)
                    if not d:
                        break
                    s.sendall(d)
                if s in r:
                    d = s.recv(65536)
                    if not d:
                        break
                    if mode == "cut" and sent + len(d) >= n:
                        c.sendall(d[:max(0, n - sent)])
                        break
                    if mode == "hold" and sent + len(d) >= n:
                        c.sendall(d[:max(0, n - sent)])
                        time.sleep(30)
                        break
                    if mode == "flip" and sent <= n < sent + len(d):
                        b = bytearray(d)
                        b[n - sent] ^= 0x55
                        d = bytes(b)
                    c.sendall(d)
                    sent += len(d)
                    self.relayed += len(d)
        except OSError:
            pass
        finally:
            c.close()
            s.close()

    def close(self):
        self.stopped = True
        self.lsock.close()
        self.thread.join(2)


class Watch:
    """Query SERVER for NAMES in a loop in a thread; every answer must be
    one of the ALLOWED answer keys of that name (old or new data), never
    SERVFAIL or silence."""

    def __init__(self, server, allowed):
        self.server, self.allowed = server, allowed
        self.bad = []
        self.count = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped and len(self.bad) < 10:
            for n, ok in self.allowed.items():
                try:
                    got = answer_key(self.server, *n)
                except Exception as e:  # noqa: BLE001 - a timeout is a failure here
                    got = ("error", repr(e))
                self.count += 1
                if got not in ok:
                    self.bad.append((n, got))
            time.sleep(0.01)

    def stop(self, tc):
        self.stopped = True
        self.thread.join(10)
        tc.assertGreater(self.count, 0)
        tc.assertEqual(self.bad, [], "answers neither old nor new")
