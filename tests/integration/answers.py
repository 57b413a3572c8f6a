"""The shared dataset and reply checks for SPEC §4's answer table.

Two zones: a provider zone (names <ip>.spf.<alloc>.iphmx.example) and a
delegated zone bound to allocation cust (names <ip>.spf.customer.example).
"""

import os

import dns.name
import dns.rrset

import spfdbtest as T

PROVIDER = {
    "zone": "iphmx.example",
    "base": "spf.acme.iphmx.example",
    "ns": ["ns1.dns.example.net", "ns2.dns.example.net"],
    "rname": [b"dns.admin", b"example", b"net"],  # dns.admin@example.net, RFC 1035 §8
    "ttl": 600,
    "neg": 90,
}
DELEGATED = {
    "zone": "spf.customer.example",
    "base": "spf.customer.example",
    "ns": ["ns-a.example.org", "ns-b.example.org"],
    "rname": [b"hostmaster", b"example", b"org"],  # default: hostmaster@ NS1 minus a label
    "ttl": 300,
    "neg": 60,
}

ACME = ["198.51.100.0/24", "192.0.2.7", "8.8.8.8", "2001:db8:1::/48", "2001:db8:ff::7"]
CUST = ["203.0.113.0/25", "2001:db8:2::/64"]

# Listed and unlisted addresses of each zone's address base.
PROVIDER.update(
    L4=["198.51.100.7", "198.51.100.255", "192.0.2.7", "8.8.8.8"],
    U4=["203.0.113.5", "192.0.2.8", "198.51.101.0", "255.255.255.255"],
    L6=["2001:db8:1::1", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", "2001:db8:ff::7"],
    U6=["2001:db8:2::1", "2001:db8:ff::8", "2001:db8::1"],
    M4=["198.51.100.9"],   # listed, asked as ::ffff:a.b.c.d nibbles
    MU4=["203.0.113.5"],   # unlisted, asked the same way
)
DELEGATED.update(
    L4=["203.0.113.5", "203.0.113.127", "203.0.113.0"],
    U4=["203.0.113.128", "198.51.100.7"],
    L6=["2001:db8:2::1", "2001:db8:2:0:ffff:ffff:ffff:ffff"],
    U6=["2001:db8:1::1", "2001:db8:2:1::"],
    M4=["203.0.113.77"],
    MU4=["198.51.100.7"],
)


def build(db):
    """Fill DB with the dataset (spfdb-ctl)."""
    db.ctl("allocation", "add", "acme")
    db.ctl("allocation", "add", "cust")
    db.ctl("allocation", "add", "other")
    db.ctl("add", "--allocation", "acme", *ACME)
    db.ctl("add", "--allocation", "cust", *CUST)
    db.ctl("zone", "add", PROVIDER["zone"], "--ns", PROVIDER["ns"][0], "--ns", PROVIDER["ns"][1],
           "--hostmaster", "dns.admin@example.net", "--ttl", PROVIDER["ttl"],
           "--negative-ttl", PROVIDER["neg"])
    # Default TTLs (300/60) and the default hostmaster; zone given with its dot.
    db.ctl("zone", "add", DELEGATED["zone"] + ".", "--allocation", "cust",
           "--ns", DELEGATED["ns"][0], "--ns", DELEGATED["ns"][1])


def mapped(v4):
    return T.nibbles("::ffff:" + v4)


def address_cases(z):
    """(qname, qtype, kind) for the address names under zone Z's address base."""
    b = z["base"]
    c = []
    for a in z["L4"]:
        c += [(f"{a}.{b}", "A", "A"), (f"{a}.{b}", "ANY", "A")]
        c += [(f"{a}.{b}", t, "NODATA") for t in ("AAAA", "TXT", "MX", "SOA", "NS", "DS", "HTTPS",
                                                   "CNAME", "PTR", "TYPE65280")]
        labels = a.split(".")
        for k in (1, 2, 3):  # QNAME minimisation walks 7., 100.7., 51.100.7.
            tail = ".".join(labels[4 - k:])
            c += [(f"{tail}.{b}", "A", "NODATA"), (f"{tail}.{b}", "NS", "NODATA")]
    for a in z["U4"]:
        c += [(f"{a}.{b}", "A", "NXDOMAIN"), (f"{a}.{b}", "TXT", "NXDOMAIN"),
              (f"{a}.{b}", "ANY", "NXDOMAIN")]
        labels = a.split(".")
        for k in (1, 2, 3):
            c.append((".".join(labels[4 - k:]) + "." + b, "A", "NODATA"))
    for a in z["L6"]:
        n = T.nibbles(a)
        c += [(f"{n}.{b}", "A", "A"), (f"{n}.{b}", "ANY", "A"), (f"{n}.{b}", "AAAA", "NODATA"),
              (f"{n}.{b}", "TXT", "NODATA"), (f"{n.upper()}.{b}", "A", "A")]
        parts = n.split(".")
        for k in range(1, 32):
            c.append((".".join(parts[32 - k:]) + "." + b, "A", "NODATA"))
        c.append((".".join(parts[16:]).upper() + "." + b, "A", "NODATA"))
        c.append(("1." + n + "." + b, "A", "NXDOMAIN"))  # 33 nibbles
    for a in z["U6"]:
        n = T.nibbles(a)
        c += [(f"{n}.{b}", "A", "NXDOMAIN"), (f"{n}.{b}", "AAAA", "NXDOMAIN"),
              (f"{n.upper()}.{b}", "A", "NXDOMAIN")]
        parts = n.split(".")
        for k in (1, 8, 16, 31):
            c.append((".".join(parts[32 - k:]) + "." + b, "A", "NODATA"))
    for a in z["M4"]:
        c += [(f"{mapped(a)}.{b}", "A", "A"), (f"{mapped(a).upper()}.{b}", "ANY", "A"),
              (f"{mapped(a)}.{b}", "AAAA", "NODATA")]
    for a in z["MU4"]:
        c += [(f"{mapped(a)}.{b}", "A", "NXDOMAIN")]
    # Four single-digit labels: listed (A) or a tail (NODATA), never NXDOMAIN.
    eights = "A" if "8.8.8.8" in z["L4"] else "NODATA"
    c += [(f"8.8.8.8.{b}", "A", eights), ("1.2.3.4." + b, "A", "NODATA"),
          ("0.0.0.0." + b, "A", "NODATA"), ("5.1.2.3.4." + b, "A", "NODATA"),
          ("1.2.3.4.5.6." + b, "A", "NODATA"),
          (".".join("1" * 31) + "." + b, "A", "NODATA"),
          (".".join("1" * 32) + "." + b, "A", "NXDOMAIN"),
          ("0." + b, "A", "NODATA"), ("a." + b, "A", "NODATA"), ("F." + b, "TXT", "NODATA"),
          ("1.a." + b, "A", "NODATA"), ("255." + b, "A", "NODATA"), ("25.5." + b, "A", "NODATA")]
    # Absent: neither octet nor nibble labels, or mixed, or too many.  (In a
    # delegated zone, _spf and _ip right below the apex are the other forms'
    # names, SPEC §4; below another label they are absent.)
    for bad in ("01", "256", "0a", "x", "_", "a-b", "1\\.2", "\\193", "2001:db8::1", "-1", "00",
                "100.a", "a.100", "1.2.3.04", "1.2.3.256", "198.51.100.7.1",
                "1.198.51.100.7", "_spf.1", "0x1", "ff", "g", "G", "\\000", "\\032", "1\\0002",
                "*", "a.g", "1.2.3.4.5.6.7.8.9.0.1.2.3.4.5.6.7.8.9.0.1.2.3.4.5.6.7.8.9.0.1.2.3"):
        c.append((bad + "." + b, "A", "NXDOMAIN"))
    return c


def zone_cases(z):
    """Apex and structural names of zone Z (besides the address names)."""
    zn = z["zone"]
    c = [(zn, "SOA", "SOA"), (zn, "NS", "NS"), (zn, "ANY", "SOA"),
         (zn, "DS", "NODATA"), (zn, "A", "NODATA"), (zn, "AAAA", "NODATA"),
         (zn, "TXT", "NODATA"), (zn, "MX", "NODATA"), (zn, "CNAME", "NODATA"),
         (zn, "DNSKEY", "NODATA"), (zn.upper(), "SOA", "SOA")]
    if z is PROVIDER:
        c += [("spf.acme." + zn, "A", "NODATA"), ("spf.acme." + zn, "ANY", "NODATA"),
              ("spf.acme." + zn, "SOA", "NODATA"), ("acme." + zn, "A", "NODATA"),
              ("acme." + zn, "NS", "NODATA"), ("SPF.ACME." + zn, "A", "NODATA"),
              ("spf.other." + zn, "A", "NODATA"), ("other." + zn, "TXT", "NODATA"),
              ("198.51.100.7.spf.other." + zn, "A", "NXDOMAIN"),
              ("8.8.8.8.spf.other." + zn, "A", "NODATA"),
              ("8.8.8.8.spf.cust." + zn, "A", "NODATA"),
              ("203.0.113.5.spf.cust." + zn, "A", "A"),  # cust works as a provider alloc too
              ("spf.nope." + zn, "A", "NXDOMAIN"), ("nope." + zn, "A", "NXDOMAIN"),
              ("198.51.100.7.spf.nope." + zn, "A", "NXDOMAIN"),
              ("7.spf.nope." + zn, "A", "NXDOMAIN"),
              ("x.acme." + zn, "A", "NXDOMAIN"), ("198.51.100.7.x.acme." + zn, "A", "NXDOMAIN"),
              ("198.51.100.7.acme." + zn, "A", "NXDOMAIN"),
              ("spf.spf.acme." + zn, "A", "NXDOMAIN"), ("_dmarc." + zn, "TXT", "NXDOMAIN"),
              ("198.51.100.7." + zn, "A", "NXDOMAIN"), ("www." + zn, "A", "NXDOMAIN")]
    else:
        c += [("198.51.100.7.spf.acme." + zn, "A", "NXDOMAIN"),
              ("203.0.113.5.spf.cust." + zn, "A", "NXDOMAIN"),
              ("spf.cust." + zn, "A", "NXDOMAIN"), ("www." + zn, "A", "NXDOMAIN"),
              ("_dmarc." + zn, "TXT", "NXDOMAIN")]
    return c


def outside_cases():
    return [("example.", "A", "REFUSED"), ("customer.example", "A", "REFUSED"),
            ("customer.example", "NS", "REFUSED"), (".", "SOA", "REFUSED"), (".", "NS", "REFUSED"),
            ("xiphmx.example", "SOA", "REFUSED"), ("iphmx.example.com", "A", "REFUSED"),
            ("198.51.100.7.spf.acme.iphmx.example.net", "A", "REFUSED"),
            ("spf.customer.example.org", "A", "REFUSED"), ("example", "SOA", "REFUSED"),
            ("customer-spf.example", "A", "REFUSED")]


class SmallMapCase(T.ServerCase):
    """A server on the answers database made with a 256 KiB LMDB map, so
    that the writes of a test grow it (MDB_MAP_RESIZED in spfdbd); the test
    sets SPFDB_MAPSIZE to MAPSIZE around its own spfdb-ctl runs too."""

    MAPSIZE = str(256 * 1024)

    @classmethod
    def setUpClass(cls):
        os.environ["SPFDB_MAPSIZE"] = cls.MAPSIZE  # both spfdb-ctl and spfdbd
        try:
            super().setUpClass()
        finally:
            del os.environ["SPFDB_MAPSIZE"]

    @classmethod
    def setup_db(cls, db):
        build(db)


class Checker:
    """Checks one reply against the query and the expected kind; collects
    failures as strings."""

    def __init__(self, db):
        self.db = db
        self.failures = []

    def serial_range(self):
        return (int(self.db.t_first) - 1, int(self.db.t_last) + self.db.commits + 1)

    def fail(self, ctx, what):
        self.failures.append(f"{ctx}: {what}")

    def check(self, qwire, rwire, kind, z, ctx, qtype_is_any=False, opt_options_ok=()):
        """Returns False when it recorded a failure."""
        n = len(self.failures)
        try:
            self._check(qwire, rwire, kind, z, ctx, opt_options_ok)
        except Exception as e:  # a parse error in the reply is a failure too
            self.fail(ctx, "reply unparsable: %r (%s)" % (e, rwire.hex()))
        return len(self.failures) == n

    def _check(self, qwire, rwire, kind, z, ctx, opt_options_ok):
        qh, h = T.Header(qwire), T.Header(rwire)
        f = lambda what: self.fail(ctx, what)
        if h.id != qh.id:
            f("ID %d, query had %d" % (h.id, qh.id))
        if not h.has(T.QR):
            f("QR clear")
        if h.opcode != qh.opcode:
            f("OPCODE %d, query had %d" % (h.opcode, qh.opcode))
        for bit, name in ((T.RD, "RD"), (T.CD, "CD")):
            if h.has(bit) != qh.has(bit):
                f("%s %d, query had %d (SPEC §4: RD and CD copied)" % (name, h.has(bit), qh.has(bit)))
        for bit, name in ((T.RA, "RA"), (T.AD, "AD"), (T.Z, "Z"), (T.TC, "TC")):
            if h.has(bit):
                f("%s set (SPEC §4: RA, AD and Z clear)" % name)
        if h.qd != 1 or T.question_bytes(rwire) != T.question_bytes(qwire):
            f("question not echoed byte for byte: qd=%d %r vs %r"
              % (h.qd, T.question_bytes(rwire) if h.qd else b"", T.question_bytes(qwire)))
        rrs = T.records(rwire)
        qopt = T.opt_of(qwire)
        opt = [r for r in rrs if r.type == T.T_OPT]
        other_ar = [r for r in rrs if r.section == 3 and r.type != T.T_OPT]
        if other_ar:
            f("additional section holds %d non-OPT records" % len(other_ar))
        if qopt is None and opt:
            f("OPT in reply to a query without OPT (RFC 6891 §7)")
        if qopt is not None:
            if len(opt) != 1:
                f("%d OPT records in reply to a query with OPT" % len(opt))
            else:
                o = opt[0]
                if o.section != 3 or o.owner != []:
                    f("OPT not in additional section or owner not root")
                if o.rclass != 1232:
                    f("OPT UDP size %d, want 1232" % o.rclass)
                ext, ver, fl = o.ttl >> 24, (o.ttl >> 16) & 0xFF, o.ttl & 0xFFFF
                if ext != 0 or ver != 0:
                    f("OPT extended rcode %d version %d, want 0 0" % (ext, ver))
                if fl != (qopt.ttl & 0x8000):
                    f("OPT flags %#06x, want DO copied from %#06x" % (fl, qopt.ttl & 0xFFFF))
                codes = [c for c, _ in T.opt_options(o.rdata)]
                if any(c not in opt_options_ok for c in codes):
                    f("OPT carries options %r (SPEC §4: no options)" % codes)
        ans = [r for r in rrs if r.section == 1]
        auth = [r for r in rrs if r.section == 2]
        bound = 12 + len(T.question_bytes(qwire)) + (rrset_bound(z) if z else 0) + 11
        if len(rwire) > bound:
            f("reply of %d octets exceeds header + question + larger RRset + 11 = %d"
              % (len(rwire), bound))
        qlabels = T.lower_labels(T.read_name(qwire, 12)[0])

        if kind == "REFUSED":
            if h.rcode != 5:
                f("RCODE %d, want REFUSED" % h.rcode)
            if h.has(T.AA):
                f("AA set on REFUSED (SPEC §4: AA clear)")
            if ans or auth:
                f("REFUSED with %d answer, %d authority records" % (len(ans), len(auth)))
            return
        if not h.has(T.AA):
            f("AA clear on an answer from a zone")
        want_rcode = 3 if kind == "NXDOMAIN" else 0
        if h.rcode != want_rcode:
            f("RCODE %s, want %s" % (dns_rcode(h.rcode), dns_rcode(want_rcode)))
        if kind == "A":
            if len(ans) != 1:
                f("%d answer records, want one A" % len(ans))
            else:
                a = ans[0]
                if a.type != T.T_A or a.rclass != 1 or a.rdata != bytes([127, 0, 0, 2]):
                    f("answer type %d class %d rdata %s, want A IN 127.0.0.2"
                      % (a.type, a.rclass, a.rdata.hex()))
                if T.lower_labels(a.owner) != qlabels:
                    f("answer owner %s is not the query name" % a.owner_text())
                if a.ttl != z["ttl"]:
                    f("A TTL %d, want the zone's answer TTL %d" % (a.ttl, z["ttl"]))
            if auth:
                f("positive answer with %d authority records (SPEC: none)" % len(auth))
        elif kind in ("NODATA", "NXDOMAIN"):
            if ans:
                f("%s with %d answer records (types %r)" % (kind, len(ans), [r.type for r in ans]))
            if len(auth) != 1 or auth[0].type != T.T_SOA:
                f("authority %r, want exactly the zone's SOA" % [r.type for r in auth])
            else:
                self._soa(rwire, auth[0], z, f)
        elif kind == "SOA":
            if len(ans) != 1 or ans[0].type != T.T_SOA:
                f("answer %r, want one SOA" % [r.type for r in ans])
            else:
                self._soa(rwire, ans[0], z, f)
            if auth:
                f("SOA answer with %d authority records" % len(auth))
        elif kind == "NS":
            if auth:
                f("NS answer with %d authority records" % len(auth))
            got = []
            for r in ans:
                if r.type != T.T_NS or r.rclass != 1:
                    f("answer record type %d in NS answer" % r.type)
                    continue
                if r.ttl != z["ttl"]:
                    f("NS TTL %d, want %d" % (r.ttl, z["ttl"]))
                if T.lower_labels(r.owner) != T.labels_of(z["zone"]):
                    f("NS owner %s" % r.owner_text())
                got.append(b".".join(T.read_name(rwire, r.rdata_off)[0]).decode().lower())
            if sorted(got) != sorted(z["ns"]):
                f("NS set %r, want %r" % (got, z["ns"]))
        else:
            raise ValueError(kind)

    def _soa(self, wire, rr, z, f):
        if T.lower_labels(rr.owner) != T.labels_of(z["zone"]):
            f("SOA owner %s, want %s" % (rr.owner_text(), z["zone"]))
        if rr.ttl != z["neg"]:
            f("SOA TTL %d, want the negative TTL %d" % (rr.ttl, z["neg"]))
        mname, rname, serial, refresh, retry, expire, minimum = T.soa_fields((wire, rr.rdata_off))
        if T.lower_labels(mname) != T.labels_of(z["ns"][0]):
            f("SOA MNAME %r, want the first NS %s" % (mname, z["ns"][0]))
        if T.lower_labels(rname) != z["rname"]:
            f("SOA RNAME %r, want %r" % (rname, z["rname"]))
        lo, hi = self.serial_range()
        if not lo <= serial <= hi:
            f("SOA serial %d not the time of the last change (%d..%d)" % (serial, lo, hi))
        if (refresh, retry, expire, minimum) != (14400, 3600, 1209600, z["neg"]):
            f("SOA timers %r, want (14400, 3600, 1209600, %d)"
              % ((refresh, retry, expire, minimum), z["neg"]))


def wire_len(name):
    return len(dns.name.from_text(name).to_wire())


def rrset_bound(z):
    """The zone's larger RRset (SOA or apex NS), uncompressed (SPEC §4 size rule)."""
    apex = wire_len(z["zone"])
    soa = apex + 10 + wire_len(z["ns"][0]) + sum(len(l) + 1 for l in z["rname"]) + 1 + 20
    ns = sum(apex + 10 + wire_len(n) for n in z["ns"])
    return max(soa, ns)


def dns_rcode(r):
    import dns.rcode
    try:
        return dns.rcode.to_text(r)
    except Exception:
        return str(r)


def zone_of(qname):
    q = qname.lower().rstrip(".")
    for z in (PROVIDER, DELEGATED):
        if q == z["zone"] or q.endswith("." + z["zone"]):
            return z
    return None
