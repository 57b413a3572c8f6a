"""10,000 random queries against a random overlapping dataset, compared with
an oracle built on Python's ipaddress (SPEC §4 Names and Answers)."""
import ipaddress
import random
import select
import socket
import struct
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

import spfdbtest as T

SEED = 20261123
N_QUERIES = 10000
N_TCP = 1000
PROVIDER = "oracle.example"
DELEGATED = "spf.oc.example"   # bound to a2
ALLOCS = ("a1", "a2", "a3")


def gen_dataset(rnd):
    """{alloc: set of ip_network}: clustered, so entries overlap and nest."""
    v4_clusters = [ipaddress.ip_network("%d.%d.0.0/12" % (rnd.randrange(11, 223),
                                                          rnd.randrange(0, 256, 16)))
                   for _ in range(6)] + [ipaddress.ip_network("1.2.0.0/16")]
    v6_clusters = [ipaddress.ip_network("2001:db8:%x::/48" % rnd.randrange(65536)) for _ in range(3)] \
        + [ipaddress.ip_network("2a00:%x::/32" % rnd.randrange(1, 65536)) for _ in range(3)]
    data = {}
    for a in ALLOCS:
        nets = set()
        for _ in range(rnd.randint(150, 250)):
            c = rnd.choice(v4_clusters)
            plen = rnd.choice([14, 17, 18, 20, 22, 24, 24, 24, 25, 26, 28, 30, 31, 32, 32, 32,
                               32, 32])
            addr = int(c.network_address) + rnd.randrange(c.num_addresses)
            nets.add(ipaddress.ip_network((addr, plen), strict=False))
        for _ in range(rnd.randint(150, 250)):
            c = rnd.choice(v6_clusters)
            plen = rnd.choice([36, 50, 52, 56, 60, 64, 64, 72, 80, 96, 112, 120, 127, 128, 128])
            addr = int(c.network_address) + rnd.randrange(c.num_addresses)
            nets.add(ipaddress.ip_network((addr, plen), strict=False))
        data[a] = nets
    data["a3"].add(ipaddress.ip_network("2c0f::/16"))  # a short prefix, nested entries
    data["a3"].add(ipaddress.ip_network("2c0f:f000::/20"))
    data["a1"].add(ipaddress.ip_network("1.2.3.0/24"))  # single-digit names that are listed
    data["a3"].add(ipaddress.ip_network("8.8.8.8/32"))
    return data, v4_clusters, v6_clusters


class Oracle:
    def __init__(self, nets):
        self.by_len = {4: {}, 6: {}}
        for n in nets:
            self.by_len[n.version].setdefault(n.prefixlen, set()).add(int(n.network_address))

    def listed(self, addr):
        a = ipaddress.ip_address(addr)
        if a.version == 6 and a.ipv4_mapped is not None:
            a = a.ipv4_mapped  # RFC 7208 §5, SPEC §4
        bits = 32 if a.version == 4 else 128
        x = int(a)
        for plen, nets in self.by_len[a.version].items():
            mask = ((1 << plen) - 1) << (bits - plen) if plen else 0
            if x & mask in nets:
                return True
        return False


class OracleTest(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        rnd = random.Random(SEED)
        cls.data, cls.c4, cls.c6 = gen_dataset(rnd)
        for a in ALLOCS:
            db.ctl("allocation", "add", a)
            lines = sorted(str(n) for n in cls.data[a])
            rnd.shuffle(lines)
            db.ctl("add", "--allocation", a, "-", stdin="\n".join(lines) + "\n")
        db.ctl("zone", "add", PROVIDER, "--ns", "ns1.example.net", "--ns", "ns2.example.net")
        db.ctl("zone", "add", DELEGATED, "--allocation", "a2", "--ns", "ns1.example.net",
               "--ns", "ns2.example.net")
        cls.oracles = {a: Oracle(cls.data[a]) for a in ALLOCS}

    def gen_queries(self, n, rnd):
        """[(qname, alloc, addr_text, expected 'A'|'NODATA'|'NXDOMAIN')]."""
        out = []
        for _ in range(n):
            if rnd.random() < 0.3:
                alloc, base = "a2", DELEGATED
            else:
                alloc = rnd.choice(ALLOCS)
                base = "spf.%s.%s" % (alloc, PROVIDER)
            fam = rnd.choice((4, 4, 6, 6, "mapped"))
            nets = [x for x in self.data[alloc] if x.version == (6 if fam == 6 else 4)]
            r = rnd.random()
            if r < 0.45:    # inside an entry (of this or another allocation)
                src = nets if rnd.random() < 0.8 else [x for a in ALLOCS for x in self.data[a]
                                                        if x.version == nets[0].version]
                net = rnd.choice(src)
            elif r < 0.85:  # in a cluster: hits and near misses
                net = rnd.choice(self.c6 if fam == 6 else self.c4)
            elif r < 0.93 and fam != 6:  # all labels single digits
                addr = ".".join(str(rnd.randrange(10)) for _ in range(4))
                net = None
            else:
                net = ipaddress.ip_network("::/0" if fam == 6 else "0.0.0.0/0")
            if net is not None:
                addr = str(ipaddress.ip_address(int(net.network_address)
                                                + rnd.randrange(net.num_addresses)))
            listed = self.oracles[alloc].listed(addr)
            if fam == 4:
                label = addr
                single = all(len(x) == 1 for x in addr.split("."))
                want = "A" if listed else ("NODATA" if single else "NXDOMAIN")
            else:
                a6 = addr if fam == 6 else "::ffff:" + addr
                label = T.nibbles(a6)
                if rnd.random() < 0.2:
                    label = label.upper()
                want = "A" if listed else "NXDOMAIN"
            out.append((label + "." + base, alloc, addr, want))
        return out

    def check_reply(self, qname, want, r, bad):
        h = r.flags
        rc = r.rcode()
        a = [rr for rrset in r.answer for rr in rrset]
        got = dns.rcode.to_text(rc)
        if rc == dns.rcode.NOERROR and len(a) == 1 and a[0].rdtype == dns.rdatatype.A \
                and a[0].address == "127.0.0.2":
            got = "A"
        elif rc == dns.rcode.NOERROR and not a:
            got = "NODATA"
        elif rc == dns.rcode.NXDOMAIN and not a:
            got = "NXDOMAIN"
        elif a:
            got += " with %d answers" % len(a)
        if not h & dns.flags.AA:
            got += " (AA clear)"
        if want != "A" and (len(r.authority) != 1 or r.authority[0].rdtype != dns.rdatatype.SOA):
            got += " (no SOA in authority)"
        if got != want:
            bad.append("%s: want %s, got %s" % (qname, want, got))

    def test_udp_random_queries(self):
        rnd = random.Random(SEED + 1)
        queries = self.gen_queries(N_QUERIES, rnd)
        counts = {}
        for _, _, _, w in queries:
            counts[w] = counts.get(w, 0) + 1
        self.assertGreater(counts.get("A", 0), 1000, counts)
        self.assertGreater(counts.get("NXDOMAIN", 0), 1000, counts)
        self.assertGreater(counts.get("NODATA", 0), 100, counts)
        wires = {}
        for i, (qname, _, _, _) in enumerate(queries):
            q = dns.message.make_query(T.randcase(qname, rnd), "A", use_edns=(i % 3 == 0))
            q.flags = 0
            q.id = i
            wires[i] = q.to_wire()
        t0 = time.time()
        replies = self.exchange_many(wires, deadline=t0 + 60)
        elapsed = time.time() - t0
        bad = []
        missing = [i for i in wires if i not in replies]
        for i in missing[:20]:
            bad.append("%s: no reply" % queries[i][0])
        for i, r in replies.items():
            if T.question_bytes(r) != T.question_bytes(wires[i]):
                bad.append("%s: question not echoed" % queries[i][0])
                continue
            self.check_reply(queries[i][0], queries[i][3], dns.message.from_wire(r), bad)
        print("  %d queries in %.2f s, expected %r, %d missing, %d wrong"
              % (len(wires), elapsed, counts, len(missing), len(bad)))
        self.assertFalse(bad, "%d of %d queries wrong:\n  %s" % (len(bad), len(wires),
                                                                 "\n  ".join(bad[:40])))

    def exchange_many(self, wires, deadline, window=200, rto=1.0, tries=4):
        """Send WIRES {id: bytes} over UDP with at most WINDOW outstanding;
        returns {id: reply bytes}.  Bounded by DEADLINE and TRIES per query."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.connect(self.server.addr())
        s.setblocking(False)
        pending = list(wires)
        pending.reverse()
        out, sent_at, tried = {}, {}, {}
        try:
            while (pending or sent_at) and time.time() < deadline:
                now = time.time()
                for i in [i for i, t in sent_at.items() if now - t > rto]:
                    del sent_at[i]
                    if tried[i] < tries:
                        pending.append(i)
                while pending and len(sent_at) < window:
                    i = pending.pop()
                    try:
                        s.send(wires[i])
                    except BlockingIOError:
                        pending.append(i)
                        break
                    sent_at[i] = time.time()
                    tried[i] = tried.get(i, 0) + 1
                rl, _, _ = select.select([s], [], [], 0.05)
                if not rl:
                    continue
                while True:
                    try:
                        r = s.recv(65535)
                    except BlockingIOError:
                        break
                    if len(r) < 12:
                        continue
                    i = struct.unpack("!H", r[:2])[0]
                    if i in sent_at:
                        del sent_at[i]
                        out[i] = r
        finally:
            s.close()
        return out

    def test_tcp_pipelined_random_queries(self):
        rnd = random.Random(SEED + 2)
        queries = self.gen_queries(N_TCP, rnd)
        bad = []
        s = socket.create_connection(self.server.addr(), timeout=10)
        try:
            for start in range(0, len(queries), 100):
                chunk = queries[start:start + 100]
                wires = []
                for j, (qname, _, _, _) in enumerate(chunk):
                    q = dns.message.make_query(T.randcase(qname, rnd), "A",
                                               use_edns=bool(j % 2))
                    q.id = start + j
                    wires.append(q.to_wire())
                s.sendall(b"".join(T.tcp_frame(w) for w in wires))
                for j, w in enumerate(wires):
                    r = T.tcp_recv_msg(s)
                    if r[:2] != w[:2]:
                        bad.append("reply %d out of order" % (start + j))
                        continue
                    self.check_reply(chunk[j][0], chunk[j][3], dns.message.from_wire(r), bad)
        finally:
            s.close()
        self.assertFalse(bad, "%d of %d TCP queries wrong:\n  %s" % (len(bad), len(queries),
                                                                     "\n  ".join(bad[:40])))


if __name__ == "__main__":
    T.main()
