#!/usr/bin/python3
"""soak.py: run spfdbd under sustained load while a writer changes its data.

    scripts/soak.py [--duration S] [--qps N] [--spfdbd PATH] [--ctl PATH] ...

spfdbd serves a fresh database on free loopback ports (127.0.0.1 and ::1,
UDP and TCP).  For --duration seconds (default 1800):

  * queries go out at --qps (default 3000): UDP and TCP over IPv4 and IPv6
    transports, for IPv4 and IPv6 names (32-nibble names), in a provider
    zone and a delegated zone, with random letter case, RD and EDNS; TCP
    connections pipeline, split messages across writes and are replaced
    from time to time;
  * a writer process runs spfdb-ctl back to back, without pause: it adds,
    deletes and replaces prefixes of four allocations (every command
    changes something, so every one is a commit with a new serial), and
    every --prune seconds drops the change log's older records (as the
    retention timer does), so the file can stay flat;
  * every reply is checked (form, flags, TTLs, echoed question) against an
    oracle that follows the commits (below);
  * spfdbd's RSS, PSS and anonymous memory, its open descriptors and the
    size of data.mdb are sampled over time.

The oracle.  Commit i (i >= 1; 0 is the data before the run) is the i-th
spfdb-ctl command of the writer.  It may land at any moment between
start_i, taken just before the command is spawned, and end_i, taken once
the command has exited 0.  A query sent at ts (taken just before the send)
and answered at tr (taken once the reply has been read) may be answered
from the data of any commit i with

    lo <= i <= hi,  lo = the last commit with end_i < ts   (known before sending)
                    hi = the last commit with start_i < tr (possibly landed by the reply)

and of no other: an older one would be a stale snapshot (commits that had
completed were missed), a newer one impossible.  A listed answer is correct
when the name's address is listed in some commit of [lo, hi].  An NXDOMAIN
carries the zone's SOA, whose serial names the snapshot exactly: after each
commit the writer reads the serial from spfdbd (an SOA query, answered by a
batch that began after the commit, so it shows that commit; it must be
larger than the one before), and the NXDOMAIN is correct only when its
serial is that of some commit i in [lo, hi] in which the address is not
listed.  Replies are checked once the writer has started a command after tr
(so every commit up to hi is known).

Lost replies: UDP queries unanswered after --timeout seconds, TCP queries
outstanding when a connection fails.  Exit status 0 when there was no wrong
answer, the lost-reply rate is at most --max-lost, spfdbd exited 0 on
SIGTERM, the writer never failed, and every metric named by --flat stayed
flat (growth over the last two thirds of the run, after the first third's
warm-up, within a tolerance); 1 otherwise; 2 for a usage error.

Bounded: the run ends at its duration (the writer and every loop too; at
most qps * duration * 1.2 queries), and every process it starts is stopped
by its PID (spfdbd also dies with this script, PR_SET_PDEATHSIG).
"""
import argparse
import bisect
import collections
import ctypes
import ipaddress
import json
import multiprocessing
import os
import random
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ZONE = "soak.example"
DELEGATED = "cust-spf.example"   # bound to allocation a1
NS = ("ns1.soak-ns.example", "ns2.soak-ns.example")
ALLOCS = ("a0", "a1", "a2", "a3")
TTL, NEG_TTL = 300, 60
T_A, T_SOA = 1, 6
LISTED_RDATA = b"\x7f\x00\x00\x02"
OPT_RR = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"  # EDNS0, 1232 octets
PROBES = 512          # probe addresses per family
ENTRIES = (80, 250)   # entries per allocation are kept within these
SPLIT_MIN = 3         # a TCP write split after at least this many octets
MONO = time.monotonic

# ---- the probe universe and prefixes ------------------------------------------


def universe(seed):
    """Probe addresses: PROBES per family, clustered so that prefixes of
    many lengths nest and overlap around them.  Sorted ints."""
    rnd = random.Random(seed)
    p4, p6 = set(), set()
    bases4 = [(81 << 24) | (rnd.randrange(256) << 16) | (rnd.randrange(0, 256, 16) << 8)
              for _ in range(8)]
    while len(p4) < PROBES:
        p4.add(rnd.choice(bases4) + rnd.randrange(1 << 12))
    bases6 = [(0x2a05d000 << 96) | (rnd.randrange(1 << 20) << 80) for _ in range(4)]
    while len(p6) < PROBES:
        b = rnd.choice(bases6)
        # Eight /64s per cluster; in each, probes spread over the /64 or
        # packed in its first /112.
        p6.add(b + (rnd.randrange(8) << 64) + rnd.randrange(1 << 64) if rnd.random() < 0.5
               else b + (rnd.randrange(8) << 64) + rnd.randrange(1 << 16))
    return sorted(p4), sorted(p6)


# Lengths drawn for new prefixes: about half the probes end up listed, and
# entries nest (a /20 over /28s, a /64 over /120s).
LENS = {4: (20, 24, 26, 28, 29, 30, 31, 32, 32, 32, 32, 32, 32, 32),
        6: (64, 96, 112, 116, 120, 124, 126, 127, 128, 128, 128, 128, 128, 128, 128)}
BITS = {4: 32, 6: 128}


def random_prefix(rnd, probes):
    """A prefix around a random probe: (family, network int, length)."""
    fam = 4 if rnd.random() < 0.5 else 6
    a = rnd.choice(probes[fam])
    plen = rnd.choice(LENS[fam])
    shift = BITS[fam] - plen
    return (fam, (a >> shift) << shift, plen)


def prefix_text(p):
    fam, net, plen = p
    if fam == 4:
        return "%s/%d" % (ipaddress.IPv4Address(net), plen)
    return "%s/%d" % (ipaddress.IPv6Address(net).compressed, plen)


# ---- the oracle -----------------------------------------------------------------


class Oracle:
    """The data of every commit, as the listed state of each probe.

    For allocation A, family F and probe K, changes[A][F][K] is a pair of
    lists (commit indices, states): the state from each index on."""

    def __init__(self, probes, initial):
        self.probes = probes
        self.entries = {a: {4: {}, 6: {}} for a in ALLOCS}  # plen -> set of nets
        self.changes = {a: {4: [], 6: []} for a in ALLOCS}
        for a in ALLOCS:
            for p in initial[a]:
                self._add(a, p)
            for fam in (4, 6):
                self.changes[a][fam] = [([0], [self.covered(a, fam, x)]) for x in probes[fam]]
        self.starts = [-1e18]   # commit 0: the data before the run
        self.ends = [-1e18]
        self.serials = [None]
        self.by_serial = {}
        self.skip_every = 0     # --fault: ignore every Nth commit's changes

    def _add(self, a, p):
        fam, net, plen = p
        self.entries[a][fam].setdefault(plen, set()).add(net)

    def _del(self, a, p):
        fam, net, plen = p
        s = self.entries[a][fam].get(plen)
        if s is not None:   # (under --fault, an entry the oracle never added)
            s.discard(net)
            if not s:
                del self.entries[a][fam][plen]

    def covered(self, a, fam, x):
        bits = BITS[fam]
        for plen, nets in self.entries[a][fam].items():
            if (x >> (bits - plen)) << (bits - plen) in nets:
                return True
        return False

    def start(self, i, t, alloc, added, removed):
        """Commit I began at T, changing ALLOC by ADDED and REMOVED."""
        assert i == len(self.starts), "commit %d out of order" % i
        self.starts.append(t)
        if self.skip_every and i % self.skip_every == 0:
            return
        touched = {4: set(), 6: set()}
        for p in removed:
            self._del(alloc, p)
        for p in added:
            self._add(alloc, p)
        for fam, net, plen in list(added) + list(removed):
            pr = self.probes[fam]
            lo = bisect.bisect_left(pr, net)
            hi = bisect.bisect_left(pr, net + (1 << (BITS[fam] - plen)))
            touched[fam].update(range(lo, hi))
        for fam in (4, 6):
            for k in touched[fam]:
                st = self.covered(alloc, fam, self.probes[fam][k])
                idx, states = self.changes[alloc][fam][k]
                if states[-1] != st:
                    idx.append(i)
                    states.append(st)

    def end(self, i, t, serial):
        """Commit I had completed at T; spfdbd then showed SERIAL."""
        assert i == len(self.ends) and i < len(self.starts)
        self.ends.append(t)
        self.serials.append(serial)
        self.by_serial[serial] = i

    def window(self, ts, tr):
        """[lo, hi]: the commits a query sent at TS, answered at TR, may see."""
        lo = bisect.bisect_left(self.ends, ts) - 1
        hi = bisect.bisect_left(self.starts, tr) - 1
        return lo, hi

    def states(self, a, fam, k, lo, hi):
        """The set of states probe K has in commits LO..HI."""
        idx, states = self.changes[a][fam][k]
        j = bisect.bisect_right(idx, lo) - 1
        out = {states[j]}
        j += 1
        while j < len(idx) and idx[j] <= hi:
            out.add(states[j])
            j += 1
        return out

    def state(self, a, fam, k, i):
        idx, states = self.changes[a][fam][k]
        return states[bisect.bisect_right(idx, i) - 1]

    def check(self, q, ts, tr, listed, serial):
        """None when the answer (LISTED; SERIAL for NXDOMAIN) fits the
        commits the query may see; else why not."""
        a, fam, k = q.alloc, q.fam, q.probe
        lo, hi = self.window(ts, tr)
        if listed:
            if True in self.states(a, fam, k, lo, hi):
                return None
            return "listed, but not listed in commits %d..%d" % (lo, hi)
        i = self.by_serial.get(serial)
        if i is None:
            return "NXDOMAIN with serial %d, no commit's" % serial
        if not lo <= i <= hi:
            return "NXDOMAIN from commit %d (serial %d), outside %d..%d" % (i, serial, lo, hi)
        if self.state(a, fam, k, i):
            return "NXDOMAIN from commit %d (serial %d), where it is listed" % (i, serial)
        return None


# ---- queries and replies ---------------------------------------------------------


class Query:
    __slots__ = ("alloc", "fam", "probe", "qid", "question", "rd", "edns", "ts", "kind")


def labels_for(fam, x, rnd):
    if fam == 4:
        return [str(b) for b in x.to_bytes(4, "big")]
    nib = "%032x" % x
    if rnd.random() < 0.25:
        return [c.upper() if rnd.random() < 0.5 else c for c in nib]
    return list(nib)


def encode_name(labels):
    out = bytearray()
    for l in labels:
        b = l.encode()
        out.append(len(b))
        out += b
    out.append(0)
    return bytes(out)


def mixcase(s, rnd):
    return "".join(c.upper() if rnd.random() < 0.5 else c for c in s)


def make_query(rnd, probes, kind):
    q = Query()
    q.kind = kind
    q.alloc = rnd.choice(ALLOCS)
    q.fam = 4 if rnd.random() < 0.5 else 6
    q.probe = rnd.randrange(len(probes[q.fam]))
    labels = labels_for(q.fam, probes[q.fam][q.probe], rnd)
    if q.alloc == "a1" and rnd.random() < 0.3:
        base = DELEGATED.split(".")
    else:
        base = ["spf", q.alloc] + ZONE.split(".")
    if rnd.random() < 0.25:
        base = [mixcase(l, rnd) for l in base]
    q.question = encode_name(labels + base) + struct.pack("!HH", T_A, 1)
    q.rd = rnd.random() < 0.5
    q.edns = rnd.random() < 0.5
    return q


def name_text(w):
    out, off = [], 0
    while w[off]:
        out.append(w[off + 1:off + 1 + w[off]].decode("ascii", "backslashreplace"))
        off += 1 + w[off]
    return ".".join(out)


def query_wire(q):
    flags = 0x0100 if q.rd else 0
    return (struct.pack("!6H", q.qid, flags, 1, 0, 0, 1 if q.edns else 0) + q.question +
            (OPT_RR if q.edns else b""))


def skip_name(w, off):
    while True:
        n = w[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        if n & 0xC0:
            raise ValueError("bad label type")
        off += 1 + n


def parse_reply(q, w):
    """(listed, serial or None) from reply W to Q; ValueError when its form
    breaks SPEC §4 (flags, counts, echoed question, records, TTLs)."""
    if len(w) < 12:
        raise ValueError("short reply")
    qid, flags, qd, an, ns, ar = struct.unpack_from("!6H", w)
    if qid != q.qid:
        raise ValueError("ID %d, sent %d" % (qid, q.qid))
    want = 0x8000 | 0x0400 | (0x0100 if q.rd else 0)
    if flags & ~0x000F != want:
        raise ValueError("flags %04x" % flags)
    rcode = flags & 0xF
    end = 12 + len(q.question)
    if qd != 1 or w[12:end] != q.question:
        raise ValueError("question not echoed")
    if ar != (1 if q.edns else 0):
        raise ValueError("ARCOUNT %d" % ar)
    off = skip_name(w, end)
    rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", w, off)
    rd_off = off + 10
    if rclass != 1:
        raise ValueError("class %d" % rclass)
    if rcode == 0 and an == 1 and ns == 0:
        if rtype != T_A or ttl != TTL or w[rd_off:rd_off + rdlen] != LISTED_RDATA:
            raise ValueError("answer type %d TTL %d rdata %s" % (rtype, ttl, w[rd_off:rd_off + rdlen].hex()))
        return True, None
    if rcode == 3 and an == 0 and ns == 1:
        if rtype != T_SOA or ttl != NEG_TTL:
            raise ValueError("authority type %d TTL %d" % (rtype, ttl))
        p = skip_name(w, skip_name(w, rd_off))
        (serial,) = struct.unpack_from("!I", w, p)
        if p + 20 != rd_off + rdlen:
            raise ValueError("SOA rdata length")
        return False, serial
    raise ValueError("rcode %d, counts %d/%d/%d" % (rcode, an, ns, ar))


def soa_serial(addr, timeout=1.0, tries=5):
    """The zone's SOA serial, asked over UDP."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    q = struct.pack("!6H", 0x5A5A, 0, 1, 0, 0, 0) + encode_name(ZONE.split(".")) + \
        struct.pack("!HH", T_SOA, 1)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.connect(addr)
        s.settimeout(timeout)
        for _ in range(tries):
            s.send(q)
            try:
                r = s.recv(4096)
            except socket.timeout:
                continue
            qid, flags, qd, an, ns, ar = struct.unpack_from("!6H", r)
            if qid != 0x5A5A or flags & 0xF or an != 1:
                raise RuntimeError("bad SOA reply %s" % r.hex())
            off = skip_name(r, 12) + 4
            off = skip_name(r, off) + 10
            off = skip_name(r, skip_name(r, off))
            return struct.unpack_from("!I", r, off)[0]
    finally:
        s.close()
    raise RuntimeError("no SOA reply from %s" % (addr,))


# ---- the writer (its own process) ------------------------------------------------


def die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def ctl_run(ctl, dbdir, args, stdin=None):
    return subprocess.run([ctl, "--db", dbdir] + args, input=stdin, capture_output=True,
                          text=True, timeout=120)


def writer_main(conn, ctl, dbdir, addr, seed, probes, initial, serial0, prune_s, stop_at,
                max_commits):
    """Change the data without pause until told to stop (or STOP_AT), and
    report each commit: ("start", i, t, alloc, added, removed, op) before
    its command runs, ("end", i, t, serial) once it has exited 0 and spfdbd
    shows its serial; ("fail", why) ends the run; ("done", stats) last."""
    die_with_parent()
    rnd = random.Random(seed)
    entries = {a: set(initial[a]) for a in ALLOCS}
    serial, i = serial0, 0
    counts = collections.Counter()
    next_prune = MONO() + prune_s

    def fail(why):
        conn.send(("fail", why))

    while i < max_commits and MONO() < stop_at:
        if conn.poll():
            if conn.recv() == "stop":
                break
        if MONO() >= next_prune:
            p = ctl_run(ctl, dbdir, ["log", "prune", "--before", "%ds" % prune_s])
            if p.returncode != 0:
                return fail("log prune: exit %d: %s" % (p.returncode, p.stderr.strip()))
            counts["prune"] += 1
            counts["pruned"] += int(p.stdout.split()[1]) if p.stdout.startswith("dropped") else 0
            next_prune = MONO() + prune_s
            continue
        a = rnd.choice(ALLOCS)
        cur = entries[a]
        r = rnd.random()
        if len(cur) < ENTRIES[0] or (len(cur) < ENTRIES[1] and r < 0.4):
            op = "add"
            added = set()
            for _ in range(rnd.randint(1, 4)):
                p = random_prefix(rnd, probes)
                if p not in cur:
                    added.add(p)
            if not added:
                continue
            removed = set()
            args = ["add", "--allocation", a] + [prefix_text(p) for p in added]
            stdin = None
        elif len(cur) > ENTRIES[1] or r < 0.8:
            op = "del"
            removed = set(rnd.sample(sorted(cur), rnd.randint(1, 4)))
            added = set()
            args = ["del", "--allocation", a] + [prefix_text(p) for p in removed]
            stdin = None
        else:
            op = "replace"
            keep = {p for p in cur if rnd.random() > 0.15}
            new = set(keep)
            for _ in range(rnd.randint(1, len(cur) // 6 + 1)):
                new.add(random_prefix(rnd, probes))
            added, removed = new - cur, cur - new
            if not added and not removed:
                continue
            args = ["replace", "--allocation", a, "-"]
            stdin = "".join(prefix_text(p) + "\n" for p in sorted(new))
        i += 1
        conn.send(("start", i, MONO(), a, sorted(added), sorted(removed), op))
        p = ctl_run(ctl, dbdir, args, stdin)
        t_end = MONO()
        if p.returncode != 0:
            return fail("commit %d (%s): exit %d: %s" % (i, " ".join(args[:3]), p.returncode,
                                                        p.stderr.strip()[:500]))
        try:
            s = soa_serial(addr)
        except (OSError, RuntimeError) as e:
            return fail("commit %d: SOA query: %s" % (i, e))
        if (s - serial) & 0xFFFFFFFF == 0 or (s - serial) & 0x80000000:
            return fail("commit %d: spfdbd shows serial %d after it, %d before" % (i, s, serial))
        serial = s
        conn.send(("end", i, t_end, s))
        entries[a] = (cur - removed) | added
        counts[op] += 1
    conn.send(("done", dict(counts)))


# ---- spfdbd -------------------------------------------------------------------


def free_port():
    """A port free for UDP and TCP on 127.0.0.1 and ::1 (racy; callers retry)."""
    for _ in range(50):
        socks = []
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(u)
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                        if fam == socket.AF_INET and kind == socket.SOCK_DGRAM:
                            continue
                        s = socket.socket(fam, kind)
                        socks.append(s)
                        if fam == socket.AF_INET6:
                            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                        s.bind((host, port))
            except OSError:
                continue
            return port
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port")


def start_server(spfdbd, dbdir, workers, logpath):
    last = ""
    for _ in range(5):
        port = free_port()
        cmd = [spfdbd, "--db", dbdir, "--listen", "127.0.0.1:%d" % port,
               "--listen", "[::1]:%d" % port, "--workers", str(workers)]
        with open(logpath, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    preexec_fn=die_with_parent)
        deadline = MONO() + 15
        while MONO() < deadline and proc.poll() is None:
            try:
                soa_serial(("127.0.0.1", port), timeout=0.2, tries=1)
                soa_serial(("::1", port), timeout=0.2, tries=1)
                for host in ("127.0.0.1", "::1"):
                    socket.create_connection((host, port), timeout=1).close()
                return proc, port
            except (OSError, RuntimeError):
                time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        with open(logpath, "rb") as f:
            last = f.read().decode("utf-8", "replace")[-2000:]
    raise RuntimeError("spfdbd did not start; its log:\n" + last)


def cpu_seconds(pid):
    """User plus system CPU time of PID so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample(pid, dbdir):
    """(rss KiB, pss KiB, anonymous pss KiB, data.mdb octets, open fds,
    CPU seconds)."""
    rss = pss = anon = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "Rss":
                rss = int(v.split()[0])
            elif k == "Pss":
                pss = int(v.split()[0])
            elif k == "Pss_Anon":
                anon = int(v.split()[0])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return (rss, pss, anon, os.stat(os.path.join(dbdir, "data.mdb")).st_size, fds,
            cpu_seconds(pid))


# ---- the load ---------------------------------------------------------------


class Tcp:
    """One pipelining DNS-over-TCP connection."""

    def __init__(self, kind, addr, sel):
        self.kind, self.addr, self.sel = kind, addr, sel
        self.s = socket.create_connection(addr, timeout=5)
        self.s.setblocking(False)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.out = bytearray()
        self.inb = bytearray()
        self.pending = collections.deque()
        self.next_id = random.randrange(65536)
        self.sent = 0
        self.retire = False
        sel.register(self.s, selectors.EVENT_READ, self)

    def close(self):
        self.sel.unregister(self.s)
        self.s.close()


class Load:
    def __init__(self, args, probes, oracle, port, seed):
        self.args, self.probes, self.oracle = args, probes, oracle
        self.rnd = random.Random(seed)
        self.sel = selectors.DefaultSelector()
        self.addr = {4: ("127.0.0.1", port), 6: ("::1", port)}
        self.udp = {4: [], 6: []}
        self.udp_pending = {}                 # (socket fd, id) -> query
        self.udp_order = collections.deque()  # (ts, fd, id), for the timeout
        self.udp_ids = {}
        for fam in (4, 6):
            for _ in range(args.udp_sockets):
                s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6,
                                  socket.SOCK_DGRAM)
                s.connect(self.addr[fam])
                s.setblocking(False)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                self.udp[fam].append(s)
                self.udp_ids[s.fileno()] = random.randrange(65536)
                self.sel.register(s, selectors.EVENT_READ, ("udp%d" % fam, s))
        self.tcp = {4: [], 6: []}
        self.check_q = collections.deque()    # (tr, ts, query, listed, serial)
        self.c = collections.Counter()
        self.wrong = []                       # the first few, with details
        self.notes = []                       # the first few TCP failures
        self.windows = collections.Counter()  # hi - lo
        self.top_up()

    def top_up(self):
        """Keep --tcp-conns connections per family open."""
        for fam in (4, 6):
            while len(self.tcp[fam]) < self.args.tcp_conns:
                try:
                    self.tcp[fam].append(Tcp("tcp%d" % fam, self.addr[fam], self.sel))
                except OSError as e:
                    self.c["tcp_connect_failures"] += 1
                    if len(self.notes) < 10:
                        self.notes.append("tcp%d: connect: %s" % (fam, e))
                    break
                self.c["tcp_connects"] += 1

    # -- sending
    def send_one(self):
        r = self.rnd.random()
        fam = 4 if self.rnd.random() < 0.5 else 6
        if r < self.args.tcp_share:
            conns = [t for t in self.tcp[fam] if not t.retire and len(t.pending) < self.args.tcp_window]
            if conns:
                t = self.rnd.choice(conns)
                q = make_query(self.rnd, self.probes, t.kind)
                q.qid = t.next_id
                t.next_id = (t.next_id + 1) & 0xFFFF
                w = query_wire(q)
                q.ts = MONO()
                t.out += struct.pack("!H", len(w)) + w
                t.pending.append(q)
                t.sent += 1
                self.c["sent_" + t.kind] += 1
                if t.sent >= self.args.tcp_recycle:
                    t.retire = True   # replaced once its replies are in
                return
            self.c["tcp_window_full"] += 1
        s = self.rnd.choice(self.udp[fam])
        fd = s.fileno()
        q = make_query(self.rnd, self.probes, "udp%d" % fam)
        q.qid = self.udp_ids[fd]
        self.udp_ids[fd] = (q.qid + 1) & 0xFFFF
        key = (fd, q.qid)
        if key in self.udp_pending:   # an ID 65536 queries old still waits
            self.c["udp_id_busy"] += 1
            return
        w = query_wire(q)
        q.ts = MONO()
        try:
            s.send(w)
        except BlockingIOError:
            self.c["udp_send_blocked"] += 1
            return
        self.udp_pending[key] = q
        self.udp_order.append((q.ts, fd, q.qid))
        self.c["sent_" + q.kind] += 1

    def flush_tcp(self):
        for fam in (4, 6):
            for t in list(self.tcp[fam]):
                if t.out:
                    n = len(t.out)
                    # Now and then a message is cut: the server reads its
                    # length and the rest in separate reads.
                    if n > SPLIT_MIN and self.rnd.random() < 0.05:
                        n = self.rnd.randint(1, n - 1)
                        self.c["tcp_split_writes"] += 1
                    try:
                        k = t.s.send(bytes(t.out[:n]))
                        del t.out[:k]
                    except BlockingIOError:
                        pass
                    except OSError as e:
                        self.tcp_failed(t, e)
                        continue
                if t.retire and not t.pending and not t.out:
                    t.close()
                    self.tcp[fam].remove(t)
        self.top_up()

    def tcp_failed(self, t, why):
        self.c["tcp_failures"] += 1
        self.c["lost_" + t.kind] += len(t.pending)
        if len(self.notes) < 10:
            self.notes.append("%s connection failed: %s, %d replies lost"
                              % (t.kind, why, len(t.pending)))
        fam = 4 if t.kind == "tcp4" else 6
        t.close()
        self.tcp[fam].remove(t)

    # -- receiving
    def got(self, q, w, tr):
        try:
            listed, serial = parse_reply(q, w)
        except (ValueError, struct.error, IndexError) as e:
            self.bad(q, "malformed reply: %s: %s" % (e, w.hex()))
            return
        self.check_q.append((tr, q.ts, q, listed, serial))
        self.c["answered_" + q.kind] += 1

    def bad(self, q, why):
        self.c["wrong"] += 1
        if len(self.wrong) < 20:
            self.wrong.append("%s %s: %s" % (q.kind, name_text(q.question), why))

    def read_udp(self, s):
        fd = s.fileno()
        for _ in range(256):
            try:
                w = s.recv(4096)
            except BlockingIOError:
                return
            except ConnectionRefusedError:
                self.c["udp_refused"] += 1
                return
            tr = MONO()
            if len(w) < 2:
                self.c["udp_unexpected"] += 1
                continue
            q = self.udp_pending.pop((fd, struct.unpack_from("!H", w)[0]), None)
            if q is None:
                self.c["udp_late"] += 1   # after its timeout, or a duplicate
                continue
            self.got(q, w, tr)

    def read_tcp(self, t):
        try:
            d = t.s.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            self.tcp_failed(t, e)
            return
        tr = MONO()
        if not d:
            self.tcp_failed(t, "closed by the server")
            return
        t.inb += d
        while len(t.inb) >= 2:
            (n,) = struct.unpack_from("!H", t.inb)
            if len(t.inb) < 2 + n:
                break
            w = bytes(t.inb[2:2 + n])
            del t.inb[:2 + n]
            if not t.pending:
                self.c["wrong"] += 1
                self.wrong.append("%s: a reply with no query outstanding" % t.kind)
                continue
            self.got(t.pending.popleft(), w, tr)   # in order (SPEC §4)

    def expire_udp(self, now):
        limit = now - self.args.timeout
        while self.udp_order and self.udp_order[0][0] < limit:
            _, fd, qid = self.udp_order.popleft()
            q = self.udp_pending.pop((fd, qid), None)
            if q is not None:
                self.c["lost_" + q.kind] += 1

    # -- checking
    def check(self, known_until, all_known):
        """Check the replies whose window is known: read by KNOWN_UNTIL (a
        commit started after it), or all once the writer has ended."""
        o = self.oracle
        while self.check_q and (all_known or self.check_q[0][0] < known_until):
            tr, ts, q, listed, serial = self.check_q.popleft()
            why = o.check(q, ts, tr, listed, serial)
            lo, hi = o.window(ts, tr)
            self.windows[hi - lo] += 1
            self.c["checked"] += 1
            self.c["listed" if listed else "unlisted"] += 1
            self.c["names%d" % q.fam] += 1
            if why is not None:
                self.bad(q, why)


# ---- the run --------------------------------------------------------------------


def build_db(ctl, dbdir, probes, seed):
    rnd = random.Random(seed)

    def run(args, stdin=None):
        p = ctl_run(ctl, dbdir, args, stdin)
        if p.returncode != 0:
            raise RuntimeError("spfdb-ctl %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                              p.stderr))
    ns = []
    for h in NS:
        ns += ["--ns", h]
    for a in ALLOCS:
        run(["allocation", "add", a])
    run(["zone", "add", ZONE] + ns)
    run(["zone", "add", DELEGATED, "--allocation", "a1"] + ns)
    initial = {}
    for a in ALLOCS:
        s = set()
        while len(s) < (ENTRIES[0] + ENTRIES[1]) // 2:
            s.add(random_prefix(rnd, probes))
        initial[a] = s
        run(["replace", "--allocation", a, "-"], "".join(prefix_text(p) + "\n" for p in s))
    return initial


def slope(pts):
    """Least-squares slope of [(t, v)]; 0 for fewer than two points."""
    n = len(pts)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    den = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (v - mv) for t, v in pts) / den if den else 0.0


METRICS = (  # name, sample column, unit, divisor, tolerance: (absolute, relative)
    ("rss", 0, "MiB", 1024, (2048, 0.05)),
    ("pss", 1, "MiB", 1024, (2048, 0.05)),
    ("anon", 2, "MiB", 1024, (2048, 0.05)),
    ("mdb", 3, "MiB", 1 << 20, (1 << 20, 0.05)),
    ("fds", 4, "", 1, (3, 0.0)),
)


def flatness(samples, duration):
    """Per metric: growth in the first third (warm-up) and over the last two
    thirds (its least-squares slope times their span), and the verdict."""
    out = {}
    cut = duration / 3.0
    for name, col, unit, div, (tol_abs, tol_rel) in METRICS:
        first = [(t, s[col]) for t, s in samples if t <= cut]
        rest = [(t, s[col]) for t, s in samples if t >= cut]
        span = rest[-1][0] - rest[0][0] if len(rest) > 1 else 0.0
        level = sum(v for _, v in rest) / len(rest) if rest else 0
        g_first = first[-1][1] - first[0][1] if len(first) > 1 else 0
        sl = slope(rest)
        growth = sl * span
        tol = max(tol_abs, tol_rel * level)
        out[name] = {"unit": unit, "div": div, "level": level, "first_third_growth": g_first,
                     "rest_growth": growth, "per_hour": sl * 3600, "tolerance": tol,
                     "flat": abs(growth) <= tol and len(rest) >= 3}
    return out


def fmt(v, div, sign=False):
    s = ("%+.1f" if sign else "%.1f") % (v / div) if div != 1 else ("%+d" if sign else "%d") % round(v)
    return s


def report(res, out):
    w = out.write
    c = res["counts"]
    dur = res["elapsed"]
    w("soak: %.0f s at %d queries/s target; spfdbd pid %d, %d workers, port %d (127.0.0.1, ::1)\n"
      % (dur, res["qps_target"], res["pid"], res["workers"], res["port"]))
    kinds = ("udp4", "udp6", "tcp4", "tcp6")
    sent = sum(c.get("sent_" + k, 0) for k in kinds)
    w("queries: %d sent, %.0f/s achieved (%s)\n"
      % (sent, sent / dur, ", ".join("%s %d" % (k, c.get("sent_" + k, 0)) for k in kinds)))
    w("  names: IPv4 %d, IPv6 %d; answers listed %d, NXDOMAIN %d\n"
      % (c.get("names4", 0), c.get("names6", 0), c.get("listed", 0), c.get("unlisted", 0)))
    w("answers checked: %d; wrong: %d\n" % (c.get("checked", 0), c.get("wrong", 0)))
    lost = res["lost"]
    w("lost replies: %d (%.4f %%: %s); late UDP replies %d; TCP connections %d, failed %d\n"
      % (lost, 100.0 * res["lost_rate"],
         ", ".join("%s %d" % (k, c.get("lost_" + k, 0)) for k in kinds),
         c.get("udp_late", 0), c.get("tcp_connects", 0), c.get("tcp_failures", 0)))
    wc = res["writer"]
    w("commits: %d, %.1f/s (add %d, del %d, replace %d); log prunes %d (%d records)\n"
      % (res["commits"], res["commits"] / dur, wc.get("add", 0), wc.get("del", 0),
         wc.get("replace", 0), wc.get("prune", 0), wc.get("pruned", 0)))
    win = res["windows"]
    if win:
        tot = sum(win.values())
        acc, med = 0, None
        for k in sorted(win):
            acc += win[k]
            if med is None and acc * 2 >= tot:
                med = k
        w("  window per answer (commits it may come from, hi - lo + 1): median %d, max %d\n"
          % (med + 1, max(win) + 1))
    for line in res["wrong_detail"]:
        w("  ! %s\n" % line)
    for line in res["notes"]:
        w("  note: %s\n" % line)
    w("samples of spfdbd (t: seconds from the start of the load):\n")
    w("  %7s %9s %9s %9s %13s %5s %6s\n" % ("t", "RSS MiB", "PSS MiB", "anon MiB",
                                             "data.mdb MiB", "fds", "CPU %"))
    prev = None
    for t, s in res["samples"]:
        cpu = "" if prev is None or t <= prev[0] else \
            "%.0f" % (100 * (s[5] - prev[1][5]) / (t - prev[0]))
        w("  %7.0f %9.1f %9.1f %9.1f %13.2f %5d %6s\n"
          % (t, s[0] / 1024, s[1] / 1024, s[2] / 1024, s[3] / 1048576, s[4], cpu))
        prev = (t, s)
    s0, s1 = res["samples"][0], res["samples"][-1]
    if s1[0] > s0[0]:
        w("  spfdbd CPU over the run: %.0f %% of one core\n"
          % (100 * (s1[1][5] - s0[1][5]) / (s1[0] - s0[0])))
    w("flatness (first third: warm-up; then the least-squares growth over the last two thirds):\n")
    for name, f in res["flat"].items():
        w("  %-4s first third %s %s, last two thirds %s %s (%s %s/h; tolerance %s): %s%s\n"
          % (name, fmt(f["first_third_growth"], f["div"], True), f["unit"],
             fmt(f["rest_growth"], f["div"], True), f["unit"], fmt(f["per_hour"], f["div"], True),
             f["unit"], fmt(f["tolerance"], f["div"]), "flat" if f["flat"] else "GROWING",
             "" if name in res["flat_required"] else " (not required)"))
    w("spfdbd exit status after SIGTERM: %s\n" % res["exit_status"])
    if res["failures"]:
        for f in res["failures"]:
            w("FAIL: %s\n" % f)
    w("verdict: %s\n" % ("PASS" if not res["failures"] else "FAIL"))


def run(args):
    probes_l = universe(args.seed)
    probes = {4: probes_l[0], 6: probes_l[1]}
    top = args.dir or tempfile.mkdtemp(prefix="spfdb-soak-")
    dbdir = os.path.join(top, "db")
    os.makedirs(dbdir, exist_ok=True)
    if os.listdir(dbdir):
        raise SystemExit("soak: %s is not empty" % dbdir)
    logpath = os.path.join(top, "spfdbd.log")
    proc = writer = None
    res = {"failures": []}
    try:
        initial = build_db(args.ctl, dbdir, probes, args.seed)
        oracle = Oracle(probes, initial)
        if args.fault:
            oracle.skip_every = args.fault
        proc, port = start_server(args.spfdbd, dbdir, args.workers, logpath)
        serial0 = soa_serial(("127.0.0.1", port))
        oracle.serials[0] = serial0
        oracle.by_serial[serial0] = 0
        res.update(pid=proc.pid, port=port, workers=args.workers, qps_target=args.qps)

        t0 = MONO()
        stop_at = t0 + args.duration
        ctx = multiprocessing.get_context("spawn")
        here, there = ctx.Pipe()
        writer = ctx.Process(target=writer_main, daemon=True,
                             args=(there, args.ctl, dbdir, ("127.0.0.1", port), args.seed + 1,
                                   probes, initial, serial0, args.prune, stop_at + 30,
                                   int(args.duration * 1000) + 1000))
        writer.start()
        there.close()
        load = Load(args, probes, oracle, port, args.seed + 2)
        load.sel.register(here, selectors.EVENT_READ, ("writer", here))
        max_queries = int(args.qps * args.duration * 1.2) + 1000
        w_state = {"started": 0, "t_last_start": -1e18, "done": None, "fail": None}

        def from_writer():
            while here.poll():
                try:
                    m = here.recv()
                except EOFError:
                    w_state["fail"] = w_state["fail"] or "the writer process ended early"
                    load.sel.unregister(here)
                    return
                if m[0] == "start":
                    _, i, t, a, added, removed, op = m
                    oracle.start(i, t, a, added, removed)
                    w_state["started"] = i
                    w_state["t_last_start"] = t
                elif m[0] == "end":
                    oracle.end(m[1], m[2], m[3])
                elif m[0] == "fail":
                    w_state["fail"] = m[1]
                elif m[0] == "done":
                    w_state["done"] = m[1]
                    load.sel.unregister(here)
                    return

        samples = []
        next_sample = t0
        progress_s = max(10.0, args.duration / 30.0)
        next_progress = t0 + progress_s
        sent_total = 0
        t_next_expire = t0
        burst = max(10, args.qps // 100)
        loops = 0
        while True:
            now = MONO()
            loops += 1
            if now >= next_sample:
                samples.append((now - t0, sample(proc.pid, dbdir)))
                next_sample += args.sample
            if now >= next_progress:
                c = load.c
                sys.stderr.write("soak: %4.0f s: %d sent, %d checked, %d wrong, %d lost, "
                                 "%d commits\n"
                                 % (now - t0, sent_total, c["checked"], c["wrong"],
                                    sum(c["lost_" + k] for k in ("udp4", "udp6", "tcp4", "tcp6")),
                                    len(oracle.ends) - 1))
                next_progress += progress_s
            if now >= stop_at or w_state["fail"] or proc.poll() is not None:
                break
            due = min(int((now - t0) * args.qps), max_queries) - sent_total
            if due > burst:
                load.c["behind"] += due - burst
                sent_total += due - burst   # not sent: counted, not caught up in a burst
                due = burst
            for _ in range(due):
                load.send_one()
                sent_total += 1
            load.flush_tcp()
            for key, _ in load.sel.select(timeout=0.002):
                d = key.data
                if isinstance(d, Tcp):
                    load.read_tcp(d)
                elif d[0] == "writer":
                    from_writer()
                else:
                    load.read_udp(d[1])
            if now >= t_next_expire:
                load.expire_udp(now)
                t_next_expire = now + 0.1
            load.check(w_state["t_last_start"], False)

        # Drain: replies still on their way, while the writer goes on.
        t_drain = MONO() + args.timeout
        while MONO() < t_drain and (load.udp_pending or any(t.pending for f in (4, 6)
                                                             for t in load.tcp[f])):
            load.flush_tcp()
            for key, _ in load.sel.select(timeout=0.01):
                d = key.data
                if isinstance(d, Tcp):
                    load.read_tcp(d)
                elif d[0] == "writer":
                    from_writer()
                else:
                    load.read_udp(d[1])
        load.expire_udp(MONO() + args.timeout + 1)
        for f in (4, 6):
            for t in load.tcp[f]:
                load.c["lost_" + t.kind] += len(t.pending)
                t.pending.clear()
        samples.append((MONO() - t0, sample(proc.pid, dbdir)))
        elapsed = MONO() - t0
        # Stop the writer; what it started before stopping is all there is.
        try:
            here.send("stop")
        except (BrokenPipeError, OSError):
            pass
        t_w = MONO() + 150
        while w_state["done"] is None and w_state["fail"] is None and MONO() < t_w:
            if here.poll(0.5):
                from_writer()
            elif not writer.is_alive():
                if not here.poll(0.5):
                    w_state["fail"] = "the writer process died (exit %s)" % writer.exitcode
                    break
        load.check(0, True)

        res["exit_status"] = None
        proc.send_signal(signal.SIGTERM)
        try:
            res["exit_status"] = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        c = load.c
        kinds = ("udp4", "udp6", "tcp4", "tcp6")
        lost = sum(c.get("lost_" + k, 0) for k in kinds)
        sent = sum(c.get("sent_" + k, 0) for k in kinds)
        res.update(elapsed=elapsed, counts=dict(c), samples=samples, loops=loops,
                   lost=lost, lost_rate=lost / sent if sent else 0.0,
                   commits=len(oracle.ends) - 1, writer=w_state["done"] or {},
                   windows=dict(load.windows), wrong_detail=load.wrong, notes=load.notes,
                   qps_achieved=sent / elapsed, commits_per_s=(len(oracle.ends) - 1) / elapsed,
                   flat=flatness(samples, elapsed), flat_required=args.flat)
        f = res["failures"]
        if c.get("wrong", 0):
            f.append("%d wrong answers" % c["wrong"])
        if res["lost_rate"] > args.max_lost:
            f.append("lost-reply rate %.4f %% over %.4f %%" % (100 * res["lost_rate"],
                                                               100 * args.max_lost))
        if w_state["fail"]:
            f.append("writer: " + w_state["fail"])
        if res["exit_status"] != 0:
            f.append("spfdbd exit status %r after SIGTERM (log: %s)" % (res["exit_status"],
                                                                       logpath))
        if elapsed < args.duration - 1:
            f.append("the run ended after %.0f s of %d" % (elapsed, args.duration))
        for name in args.flat:
            if not res["flat"][name]["flat"]:
                f.append("%s grows" % name)
        if c.get("checked", 0) == 0 or res["commits"] == 0:
            f.append("nothing was checked")
        return res
    finally:
        if writer is not None and writer.is_alive():
            writer.terminate()
            writer.join(10)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if not args.keep and not args.dir:
            shutil.rmtree(top, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring (the top of this file).")
    ap.add_argument("--duration", type=int, default=1800, help="seconds of load (1800)")
    ap.add_argument("--qps", type=int, default=3000, help="queries a second, all kinds (3000)")
    ap.add_argument("--spfdbd", default=os.environ.get("SPFDBD", "spfdbd"))
    ap.add_argument("--ctl", default=os.environ.get("SPFDB_CTL", "spfdb-ctl"))
    ap.add_argument("--workers", type=int, default=2, help="spfdbd --workers (2)")
    ap.add_argument("--tcp-share", type=float, default=0.3, help="share of queries over TCP (0.3)")
    ap.add_argument("--tcp-conns", type=int, default=2, help="TCP connections per family (2)")
    ap.add_argument("--tcp-window", type=int, default=16, help="queries in flight per connection")
    ap.add_argument("--tcp-recycle", type=int, default=5000,
                    help="queries after which a TCP connection is replaced (5000)")
    ap.add_argument("--udp-sockets", type=int, default=4, help="UDP sockets per family (4)")
    ap.add_argument("--timeout", type=float, default=2.0, help="a UDP reply is lost after (2 s)")
    ap.add_argument("--prune", type=int, default=30,
                    help="prune the change log every S s, keeping S s (30)")
    ap.add_argument("--sample", type=float, default=None,
                    help="seconds between samples (duration / 60, at least 1)")
    ap.add_argument("--max-lost", type=float, default=0.001, help="lost-reply rate allowed (0.001)")
    ap.add_argument("--flat", default="rss,pss,anon,mdb,fds",
                    help="metrics that must stay flat (rss,pss,anon,mdb,fds; '' for none)")
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--dir", help="work here (default: a temporary directory, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", help="also write the figures here as JSON")
    ap.add_argument("--fault", type=int, default=0, help=argparse.SUPPRESS)  # tests: the
    # oracle ignores every Nth commit, so the checks must find wrong answers
    args = ap.parse_args(argv)
    args.flat = [m for m in args.flat.split(",") if m]
    for m in args.flat:
        if m not in [x[0] for x in METRICS]:
            ap.error("--flat: unknown metric %s" % m)
    if args.sample is None:
        args.sample = max(1.0, args.duration / 60.0)
    if args.duration < 3 or args.qps < 1:
        ap.error("--duration must be at least 3 s and --qps at least 1")
    for p in (args.spfdbd, args.ctl):
        if shutil.which(p) is None:
            ap.error("not found or not executable: %s" % p)
    res = run(args)
    report(res, sys.stdout)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
