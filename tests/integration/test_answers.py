"""SPEC §4 answer table, row by row, over UDP and TCP, with and without EDNS,
for a provider and a delegated zone; 0x20 echo; RD/CD/AD/Z handling."""
import random
import struct

import dns.rrset

import answers as A
import spfdbtest as T


def report(failures, limit=60):
    head = failures[:limit]
    more = len(failures) - len(head)
    return "%d failure(s):\n  %s%s" % (len(failures), "\n  ".join(head),
                                        "\n  ... %d more" % more if more > 0 else "")


class AnswerTable(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def run_cases(self, cases, proto, seed):
        rnd = random.Random(seed)
        chk = A.Checker(self.db)
        n = 0
        for edns in (False, True):
            for qname, qtype, kind in cases:
                qclass = "IN"
                if isinstance(qtype, tuple):
                    qtype, qclass = qtype
                q = T.make_query(T.randcase(qname, rnd), qtype, qclass, edns=0 if edns else -1,
                                 do=rnd.random() < 0.5, rd=rnd.random() < 0.5,
                                 cd=rnd.random() < 0.3, qid=rnd.randrange(65536))
                wire = q.to_wire()
                ctx = "%s %s %s over %s%s" % (qname, qclass, qtype, proto, " +edns" if edns else "")
                try:
                    r = T.exchange(self.server.addr(), wire, proto)
                except Exception as e:
                    chk.fail(ctx, "no reply (%r); want %s" % (e, kind))
                    continue
                chk.check(wire, r, kind, A.zone_of(qname), ctx + " want " + kind)
                n += 1
        self.assert_alive()
        self.assertFalse(chk.failures, report(chk.failures))
        self.assertGreater(n, 0)

    def test_provider_udp(self):
        self.run_cases(A.address_cases(A.PROVIDER) + A.zone_cases(A.PROVIDER), "udp", 1)

    def test_provider_tcp(self):
        self.run_cases(A.address_cases(A.PROVIDER) + A.zone_cases(A.PROVIDER), "tcp", 2)

    def test_delegated_udp(self):
        self.run_cases(A.address_cases(A.DELEGATED) + A.zone_cases(A.DELEGATED), "udp", 3)

    def test_delegated_tcp(self):
        self.run_cases(A.address_cases(A.DELEGATED) + A.zone_cases(A.DELEGATED), "tcp", 4)

    def test_outside_zones_refused(self):
        for proto in ("udp", "tcp"):
            self.run_cases(A.outside_cases(), proto, 5)

    def test_class_not_in_refused(self):
        cases = []
        for cls in ("CH", "HS", "NONE", "ANY"):
            cases += [("iphmx.example", ("SOA", cls), "REFUSED"),
                      ("198.51.100.7.spf.acme.iphmx.example", ("A", cls), "REFUSED"),
                      ("203.0.113.5.spf.customer.example", ("A", cls), "REFUSED"),
                      ("nope.iphmx.example", ("A", cls), "REFUSED")]
        cases.append(("version.bind", ("TXT", "CH"), "REFUSED"))
        cases.append(("id.server", ("TXT", "CH"), "REFUSED"))
        for proto in ("udp", "tcp"):
            self.run_cases(cases, proto, 6)

    def test_zone_transfers_refused(self):
        chk = A.Checker(self.db)
        for proto in ("udp", "tcp"):
            for qname in ("iphmx.example", "spf.customer.example",
                          "198.51.100.7.spf.acme.iphmx.example", "nope.iphmx.example"):
                for qtype in ("AXFR", "IXFR"):
                    for edns in (-1, 0):
                        q = T.make_query(qname, qtype, edns=edns, qid=4242)
                        if qtype == "IXFR":  # RFC 1995 §3: the client's SOA in authority
                            q.authority.append(dns.rrset.from_text(
                                qname + ".", 0, "IN", "SOA", "ns1.example. h.example. 1 2 3 4 5"))
                        wire = q.to_wire()
                        ctx = "%s %s over %s edns=%d want REFUSED" % (qname, qtype, proto, edns)
                        try:
                            r = T.exchange(self.server.addr(), wire, proto)
                        except Exception as e:
                            chk.fail(ctx, "no reply (%r)" % e)
                            continue
                        chk.check(wire, r, "REFUSED", None, ctx)
        self.assertFalse(chk.failures, report(chk.failures))

    def test_rd_does_not_change_the_answer(self):
        """RFC 8906 §3.1.3.1: RD=1 answered exactly like RD=0 (RD copied)."""
        cases = (A.address_cases(A.PROVIDER)[::7] + A.zone_cases(A.DELEGATED)
                 + A.outside_cases()[:3])
        bad = []
        for proto in ("udp", "tcp"):
            for i, (qname, qtype, kind) in enumerate(cases):
                r = []
                for rd in (False, True):
                    q = T.make_query(qname, qtype, edns=i % 2 - 1, rd=rd, qid=1000 + i)
                    r.append(bytearray(T.exchange(self.server.addr(), q.to_wire(), proto)))
                if not r[1][2] & 0x01:
                    bad.append("%s %s %s: RD not copied" % (proto, qname, qtype))
                r[1][2] &= ~0x01
                if r[0] != r[1]:
                    bad.append("%s %s %s: reply differs with RD=1:\n    %s\n    %s"
                               % (proto, qname, qtype, r[0].hex(), r[1].hex()))
        self.assertFalse(bad, report(bad))

    def test_query_flags_cleared_or_copied(self):
        """RA, AD, Z clear in every reply even when set in the query; CD copied."""
        bad = []
        names = [("198.51.100.7.spf.acme.iphmx.example", "A"), ("iphmx.example", "SOA"),
                 ("nope.iphmx.example", "A"), ("example.", "A"), ("version.bind", "TXT")]
        for proto in ("udp", "tcp"):
            for qname, qtype in names:
                for bits in (T.AD, T.Z, T.RA, T.AD | T.Z | T.RA | T.CD | T.RD, T.CD):
                    wire = bytearray(T.make_query(qname, qtype, qid=77).to_wire())
                    flags = struct.unpack("!H", wire[2:4])[0] | bits
                    wire[2:4] = struct.pack("!H", flags)
                    r = T.Header(T.exchange(self.server.addr(), bytes(wire), proto))
                    for b, nm in ((T.RA, "RA"), (T.AD, "AD"), (T.Z, "Z")):
                        if r.has(b):
                            bad.append("%s %s %s query flags %#06x: %s set in reply"
                                       % (proto, qname, qtype, flags, nm))
                    for b, nm in ((T.CD, "CD"), (T.RD, "RD")):
                        if r.has(b) != bool(flags & b):
                            bad.append("%s %s %s query flags %#06x: %s not copied"
                                       % (proto, qname, qtype, flags, nm))
        self.assertFalse(bad, report(bad))

    def test_checker_has_teeth(self):
        """The reply checker itself rejects wrong replies (a check that cannot
        fail is no check)."""
        def fails(qwire, rwire, kind, z):
            c = A.Checker(self.db)
            return not c.check(qwire, bytes(rwire), kind, z, "teeth")

        listed = T.make_query("198.51.100.7.spf.acme.iphmx.example", "A", edns=0, qid=9).to_wire()
        r = bytearray(T.udp_raw(self.server.addr(), listed))
        self.assertFalse(fails(listed, r, "A", A.PROVIDER), "baseline must pass")
        for kind in ("NODATA", "NXDOMAIN", "REFUSED", "SOA"):
            self.assertTrue(fails(listed, r, kind, A.PROVIDER), kind)
        self.assertTrue(fails(listed, r, "A", A.DELEGATED), "wrong TTL")
        for byte, bit in ((2, 0x04), (3, 0x80), (3, 0x20), (3, 0x40), (3, 0x10), (2, 0x01)):
            m = bytearray(r)
            m[byte] ^= bit
            self.assertTrue(fails(listed, m, "A", A.PROVIDER), "flag %d/%#x" % (byte, bit))
        m = bytearray(r)
        m[13] ^= 0x20  # question name case
        self.assertTrue(fails(listed, m, "A", A.PROVIDER), "question case")
        m = bytearray(r)
        m[-5 - 11] ^= 1  # A rdata last octet (reply ends with the 11-octet OPT)
        self.assertTrue(fails(listed, m, "A", A.PROVIDER), "rdata")
        m = bytearray(r[:-11])
        m[11] -= 1  # drop the OPT
        self.assertTrue(fails(listed, m, "A", A.PROVIDER), "missing OPT")
        nx = T.make_query("nope.iphmx.example", "A", qid=10).to_wire()
        r = bytearray(T.udp_raw(self.server.addr(), nx))
        self.assertFalse(fails(nx, r, "NXDOMAIN", A.PROVIDER), "baseline must pass")
        self.assertTrue(fails(nx, r, "NODATA", A.PROVIDER))
        for off in (-4, -8, -12, -16, -20):  # MINIMUM, EXPIRE, RETRY, REFRESH, SERIAL
            m = bytearray(r)
            m[off] ^= 0x40
            self.assertTrue(fails(nx, m, "NXDOMAIN", A.PROVIDER), "SOA field at %d" % off)

    def test_0x20_echo(self):
        """Random-case names: question echoed byte for byte, answer unchanged."""
        rnd = random.Random(20)
        chk = A.Checker(self.db)
        cases = [("198.51.100.7.spf.acme.iphmx.example", "A", "A"),
                 (T.nibbles("2001:db8:1::abcd") + ".spf.acme.iphmx.example", "A", "A"),
                 (T.nibbles("2001:db8:2::fedc") + ".spf.customer.example", "A", "A"),
                 ("a.b.c.d.e.f.spf.acme.iphmx.example", "A", "NODATA"),
                 ("nope.iphmx.example", "A", "NXDOMAIN"), ("iphmx.example", "SOA", "SOA"),
                 ("spf.customer.example", "NS", "NS"), ("xexample.", "A", "REFUSED")]
        for proto in ("udp", "tcp"):
            for qname, qtype, kind in cases:
                for _ in range(8):
                    name = T.randcase(qname, rnd)
                    q = T.make_query(name, qtype, edns=0, qid=rnd.randrange(65536))
                    wire = q.to_wire()
                    r = T.exchange(self.server.addr(), wire, proto)
                    if T.question_bytes(r) != T.question_bytes(wire):
                        chk.fail(name, "question bytes %r, sent %r"
                                 % (T.question_bytes(r), T.question_bytes(wire)))
                    chk.check(wire, r, kind, A.zone_of(qname), "%s %s %s" % (proto, name, qtype))
        self.assertFalse(chk.failures, report(chk.failures))


if __name__ == "__main__":
    T.main()
