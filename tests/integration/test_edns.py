"""SPEC §4 "Failure, malformed input, EDNS, size": EDNS rules and the
malformed-query rules, with raw packets over UDP (and a few over TCP)."""
import random
import socket
import struct
import time

import dns.name

import answers as A
import spfdbtest as T

LISTED = "198.51.100.7.spf.acme.iphmx.example."
FORMERR, NOTIMP, REFUSED = 1, 4, 5


def hdr(qid=0x1234, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def question(name=LISTED, qtype=1, qclass=1):
    return dns.name.from_text(name).to_wire() + struct.pack("!HH", qtype, qclass)


def opt_rr(payload=1232, ext=0, ver=0, flags=0, rdata=b"", owner=b"\x00"):
    return owner + struct.pack("!HHBBHH", 41, payload, ext, ver, flags, len(rdata)) + rdata


def rr(name, rtype, rdata, ttl=0):
    return dns.name.from_text(name).to_wire() + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def option(code, data=b""):
    return struct.pack("!HH", code, len(data)) + data


SOA_RDATA = (dns.name.from_text("a.example.").to_wire() + dns.name.from_text("b.example.").to_wire()
             + struct.pack("!5I", 1, 2, 3, 4, 5))


class Edns(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def send(self, wire, proto="udp"):
        return T.exchange(self.server.addr(), wire, proto)

    def check_error(self, ctx, qwire, r, rcode, opt, qd=(0, 1)):
        """An error reply: RCODE, AA clear, ID/OPCODE/RD copied, question
        echoed when QD is 1, OPT exactly when OPT is True (None: either)."""
        qh, h = T.Header(qwire), T.Header(r)
        bad = []
        if not h.has(T.QR):
            bad.append("QR clear")
        if h.rcode != rcode:
            bad.append("RCODE %s, want %s" % (A.dns_rcode(h.rcode), A.dns_rcode(rcode)))
        if h.has(T.AA):
            bad.append("AA set on an error reply")
        if h.id != qh.id or h.opcode != qh.opcode or h.has(T.RD) != qh.has(T.RD):
            bad.append("ID/OPCODE/RD not copied: %d/%d/%d vs %d/%d/%d"
                       % (h.id, h.opcode, h.has(T.RD), qh.id, qh.opcode, qh.has(T.RD)))
        if h.has(T.CD) != qh.has(T.CD):
            bad.append("CD %d, query had %d (SPEC §4: CD copied in every reply)"
                       % (h.has(T.CD), qh.has(T.CD)))
        for b, nm in ((T.RA, "RA"), (T.AD, "AD"), (T.Z, "Z")):
            if h.has(b):
                bad.append(nm + " set")
        if isinstance(qd, int):
            qd = (qd,)
        if h.qd not in qd:
            bad.append("QDCOUNT %d, want %r" % (h.qd, qd))
        elif h.qd == 1 and T.question_bytes(r) != T.question_bytes(qwire):
            bad.append("question not echoed byte for byte")
        if h.an or h.ns:
            bad.append("ANCOUNT %d NSCOUNT %d, want 0 0" % (h.an, h.ns))
        try:
            o = T.opt_of(r)
        except Exception as e:
            bad.append("reply unparsable: %r" % e)
            o = None
        if opt is True and o is None:
            bad.append("no OPT in reply (query had one)")
        if opt is False and o is not None:
            bad.append("OPT in reply (query had none)")
        if o is not None and (o.rclass != 1232 or (o.ttl >> 16) & 0xFF != 0 or o.rdata):
            bad.append("OPT size %d version %d rdata %r" % (o.rclass, (o.ttl >> 16) & 0xFF, o.rdata))
        if bad:
            self.fail("%s: %s\nquery %s\nreply %s" % (ctx, "; ".join(bad), qwire.hex(), r.hex()))

    # ---- EDNS ---------------------------------------------------------------

    def test_opt_exactly_when_query_had_one(self):
        for proto in ("udp", "tcp"):
            for name, qtype in ((LISTED, 1), ("nope.iphmx.example.", 1), ("iphmx.example.", 6),
                                ("example.", 1), (LISTED, 16)):
                q = hdr() + question(name, qtype)
                r = self.send(q, proto)
                self.assertIsNone(T.opt_of(r), "%s %s: OPT without one in the query" % (proto, name))
                self.assertEqual(T.Header(r).ar, 0)
                q = hdr(ar=1) + question(name, qtype) + opt_rr(payload=4096)
                r = self.send(q, proto)
                o = T.opt_of(r)
                self.assertIsNotNone(o, "%s %s: no OPT though the query had one" % (proto, name))
                self.assertEqual(o.owner, [])
                self.assertEqual(o.rclass, 1232, "UDP size in reply OPT")
                self.assertEqual(o.ttl, 0, "OPT ext-rcode/version/flags")
                self.assertEqual(o.rdata, b"", "OPT options")

    def test_udp_size_always_1232(self):
        for size in (0, 1, 512, 1231, 1232, 1233, 4096, 65535):
            r = self.send(hdr(ar=1) + question() + opt_rr(payload=size))
            self.assertEqual(T.Header(r).rcode, 0)
            self.assertEqual(T.opt_of(r).rclass, 1232, "requestor size %d" % size)

    def test_do_bit_copied_other_flags_zero(self):
        for proto in ("udp", "tcp"):
            for qflags, want in ((0x8000, 0x8000), (0, 0), (0xFFFF, 0x8000), (0x7FFF, 0)):
                for name in (LISTED, "nope.iphmx.example.", "example."):
                    r = self.send(hdr(ar=1) + question(name) + opt_rr(flags=qflags), proto)
                    o = T.opt_of(r)
                    self.assertEqual(o.ttl & 0xFFFF, want, "%s %s query OPT flags %#06x"
                                     % (proto, name, qflags))

    def test_badvers(self):
        """EDNS version > 0: BADVERS = OPT EXTENDED-RCODE 1, header RCODE 0."""
        for proto in ("udp", "tcp"):
            for name, qclass in ((LISTED, 1), ("iphmx.example.", 1), ("example.", 1),
                                 ("nope.iphmx.example.", 1), (LISTED, 3)):
                for ver, do in ((1, 0), (2, 0x8000), (255, 0)):
                    q = (hdr(flags=T.RD | (T.CD if ver == 2 else 0), ar=1) + question(name, 1, qclass)
                         + opt_rr(ver=ver, flags=do))
                    r = self.send(q, proto)
                    ctx = "%s %s class %d EDNS version %d" % (proto, name, qclass, ver)
                    self.check_error(ctx, q, r, 0, True, qd=1)
                    o = T.opt_of(r)
                    raw = r[o.rdata_off - 10:o.rdata_off]  # TYPE CLASS TTL RDLEN
                    self.assertEqual(raw[4], 1, ctx + ": OPT EXTENDED-RCODE octet (raw %s)" % raw.hex())
                    self.assertEqual(raw[5], 0, ctx + ": OPT VERSION octet")
                    self.assertEqual(struct.unpack("!H", raw[6:8])[0], do, ctx + ": OPT flags")
                    self.assertEqual(r[3] & 0x0F, 0, ctx + ": header RCODE")

    def test_query_options_ignored(self):
        # COOKIE (10) is answered (test_cookies.py); every other option is ignored.
        opts = (option(3) + option(12, b"\x00" * 20)
                + option(65001, b"xyz") + option(11) + option(8, b"\x00\x01\x18\x00\xc6\x33\x64"))
        for name, kind in ((LISTED, "A"), ("nope.iphmx.example.", "NXDOMAIN"),
                           ("7.spf.acme.iphmx.example.", "NODATA"), ("example.", "REFUSED")):
            q = hdr(ar=1) + question(name) + opt_rr(rdata=opts)
            r = self.send(q)  # UDP: even edns-tcp-keepalive is ignored
            chk = A.Checker(self.db)
            chk.check(q, r, kind, A.zone_of(name), "options in query, %s" % name)
            self.assertFalse(chk.failures, "\n".join(chk.failures))
            self.assertEqual(T.opt_of(r).rdata, b"", "options echoed over UDP")

    def test_large_udp_query_answered(self):
        """Well-formed queries larger than 512 and 1232 octets (non-OPT additional
        records, ignored) are answered, not misread as truncated."""
        for n_extra in (4, 12, 30, 200):  # 1172, 3388, 8374, 55464 octets
            txt = rr("x.example.", 16, b"\xff" + b"y" * 255)
            q = hdr(ar=n_extra + 1) + question() + opt_rr() + txt * n_extra
            try:
                r = self.send(q)
            except socket.timeout:
                self.fail("no reply to a well-formed %d-octet UDP query (SPEC §4: every "
                          "well-formed query in a zone gets NOERROR or NXDOMAIN, never silence)"
                          % len(q))
            chk = A.Checker(self.db)
            chk.check(q, r, "A", A.PROVIDER, "UDP query of %d octets" % len(q))
            self.assertFalse(chk.failures, "\n".join(chk.failures))

    def test_other_additional_records_ignored(self):
        txt = rr("x.example.", 16, b"\x03abc")
        for extra, ar in ((txt, 1), (txt + opt_rr(), 2), (opt_rr() + txt, 2)):
            q = hdr(ar=ar) + question() + extra
            r = self.send(q)
            chk = A.Checker(self.db)
            chk.check(q, r, "A", A.PROVIDER, "additional %s" % extra.hex())
            self.assertFalse(chk.failures, "\n".join(chk.failures))

    # ---- malformed input, rule by rule --------------------------------------

    def test_rule1_short_or_response_no_reply(self):
        for n in (0, 1, 2, 11):
            self.assertTrue(T.udp_none(self.server.addr(), (hdr() + question())[:n], wait=0.3),
                            "reply to a %d-octet datagram" % n)
        for q in (hdr(flags=T.QR) + question(), hdr(flags=T.QR | T.AA) + question(),
                  hdr(flags=T.QR | (4 << 11)) + question(), hdr(flags=T.QR, qd=0)):
            self.assertTrue(T.udp_none(self.server.addr(), q, wait=0.3),
                            "reply to a response (QR=1): %s" % q.hex())
        self.probe_alive()

    def test_rule2_opcode_notimp(self):
        for proto in ("udp", "tcp"):
            for opcode in (1, 2, 3, 4, 5, 6, 15):
                for withopt in (False, True):
                    q = (hdr(flags=(opcode << 11) | T.RD | (T.CD if withopt else 0),
                             ar=int(withopt)) + question()
                         + (opt_rr() if withopt else b""))
                    self.check_error("%s opcode %d" % (proto, opcode), q, self.send(q, proto),
                                     NOTIMP, withopt, qd=1)
            # The first rule decides: a NOTIFY with two questions is NOTIMP.
            q = hdr(flags=4 << 11, qd=2) + question() + question("iphmx.example.", 6)
            self.check_error(proto + " NOTIFY qd=2", q, self.send(q, proto), NOTIMP, False)

    def test_rule3_formerr(self):
        long_label = b"\x40" + b"a" * 64 + b"\x00"
        long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x00"  # 257 octets
        cases = [
            ("QDCOUNT 0", hdr(qd=0), 0),
            ("QDCOUNT 2", hdr(qd=2) + question() + question("iphmx.example.", 6), (0, 1)),
            ("ANCOUNT 1", hdr(an=1) + question() + rr(LISTED, 1, b"\x7f\x00\x00\x02"), 1),
            ("NSCOUNT 1", hdr(ns=1) + question() + rr("iphmx.example.", 6, SOA_RDATA), 1),
            ("label of 64", hdr() + long_label + b"\x00\x01\x00\x01", 0),
            ("name of 257", hdr() + long_name + b"\x00\x01\x00\x01", 0),
            ("pointer in question", hdr() + b"\x03abc\xc0\x0c\x00\x01\x00\x01", 0),
            ("pointer as whole name", hdr() + b"\xc0\x0c\x00\x01\x00\x01", 0),
            ("extended label type", hdr() + b"\x41\x00\x00\x01\x00\x01", 0),
            ("label type 0x80", hdr() + b"\x81a\x00\x00\x01\x00\x01", 0),
            ("question cut in name", hdr() + question()[:10], 0),
            ("question cut in type", hdr() + question()[:-3], 0),
            ("question without root", hdr() + b"\x03abc", 0),
            ("header only", hdr(), 0),
            ("trailing octet", hdr() + question() + b"\x00", 1),
            ("trailing octets", hdr() + question() + b"garbage", 1),
            ("ARCOUNT 1, nothing there", hdr(ar=1) + question(), 1),
            ("ARCOUNT 2, one OPT", hdr(ar=2) + question() + opt_rr(), 1),
            ("OPT in answer", hdr(an=1) + question() + opt_rr(), 1),
            ("OPT in authority", hdr(ns=1) + question() + opt_rr(), 1),
            ("record cut", hdr(ar=1) + question() + opt_rr()[:8], 1),
            ("rdata cut", hdr(ar=1) + question() + opt_rr(rdata=option(3))[:-2], 1),
            ("question in zone, name over 255 (v6 with long zone)",
             hdr() + long_name[:-1] + b"\x03spf\x00\x00\x01\x00\x01", 0),
        ]
        cases += [("CD, " + c, q[:3] + bytes([q[3] | T.CD]) + q[4:], qd) for c, q, qd in cases[:6]]
        cases.append(("CD, header only", hdr(flags=T.CD | T.RD), 0))
        for proto in ("udp", "tcp"):
            for ctx, q, qd in cases:
                if proto == "tcp" and not q:
                    continue
                try:
                    r = self.send(q, proto)
                except Exception as e:
                    self.fail("%s %s: no reply (%r), want FORMERR" % (proto, ctx, e))
                # Whether a cut or misplaced OPT counts as "the query had one" is
                # open; OPT presence is checked in test_rule4 where it is clear.
                self.check_error(proto + " " + ctx, q, r, FORMERR, None, qd=qd)
        # With a valid OPT, FORMERR still carries OPT.
        q = hdr(qd=2, ar=1) + question() + question() + opt_rr()
        self.check_error("QDCOUNT 2 with OPT", q, self.send(q), FORMERR, True, qd=(0, 1))
        q = hdr(an=1, ar=1) + question() + rr(LISTED, 1, b"\x7f\x00\x00\x02") + opt_rr()
        self.check_error("ANCOUNT 1 with OPT", q, self.send(q), FORMERR, True, qd=1)
        q = hdr(ar=1) + question() + opt_rr() + b"\x00\x00"
        self.check_error("OPT then trailing octets", q, self.send(q), FORMERR, None, qd=1)

    def test_rule3_ixfr_with_soa_is_not_formerr(self):
        q = hdr(ns=1) + question("iphmx.example.", 251) + rr("iphmx.example.", 6, SOA_RDATA)
        for proto in ("udp", "tcp"):
            self.check_error(proto + " IXFR with SOA", q, self.send(q, proto), REFUSED, False, qd=1)

    def test_rule4_formerr_with_opt(self):
        cases = [
            ("two OPTs", hdr(ar=2) + question() + opt_rr() + opt_rr()),
            ("two OPTs, second version 1", hdr(ar=2) + question() + opt_rr() + opt_rr(ver=1)),
            ("OPT owner not root", hdr(ar=1) + question() + opt_rr(owner=b"\x01a\x00")),
            ("option length past rdata", hdr(ar=1) + question()
             + opt_rr(rdata=struct.pack("!HH", 3, 10) + b"ab")),
            ("option header cut", hdr(ar=1) + question() + opt_rr(rdata=b"\x00\x03\x00")),
            ("two OPTs outside zones", hdr(ar=2) + question("example.") + opt_rr() + opt_rr()),
            ("two OPTs, class CH", hdr(ar=2) + question(LISTED, 1, 3) + opt_rr() + opt_rr()),
        ]
        for proto in ("udp", "tcp"):
            for ctx, q in cases:
                self.check_error(proto + " " + ctx, q, self.send(q, proto), FORMERR, True, qd=1)

    def test_first_rule_decides(self):
        upd = (hdr(flags=(5 << 11) | T.RD, qd=1, an=1, ns=1) + question("iphmx.example.", 6)
               + rr("iphmx.example.", 255, b"") + rr("x.iphmx.example.", 1, b"\x01\x02\x03\x04"))
        cases = [
            ("UPDATE (nsupdate-like): NOTIMP before FORMERR", upd, NOTIMP, False, (0, 1)),
            ("NOTIFY with EDNS version 1: NOTIMP before BADVERS",
             hdr(flags=4 << 11, ar=1) + question() + opt_rr(ver=1), NOTIMP, True, 1),
            ("opcode 2, QDCOUNT 0", hdr(flags=2 << 11, qd=0), NOTIMP, False, 0),
            ("ANCOUNT 1 with EDNS version 1: FORMERR before BADVERS",
             hdr(an=1, ar=1) + question() + rr(LISTED, 1, b"\x7f\x00\x00\x02") + opt_rr(ver=1),
             FORMERR, True, 1),
            ("two OPTs version 1: FORMERR before BADVERS",
             hdr(ar=2) + question() + opt_rr(ver=1) + opt_rr(ver=1), FORMERR, True, 1),
            ("AXFR with EDNS version 1: BADVERS before REFUSED",
             hdr(ar=1) + question("iphmx.example.", 252) + opt_rr(ver=1), 0, True, 1),
        ]
        for proto in ("udp", "tcp"):
            for ctx, q, rcode, opt, qd in cases:
                r = self.send(q, proto)
                self.check_error(proto + " " + ctx, q, r, rcode, opt, qd=qd)
                o = T.opt_of(r)
                if o is not None:
                    self.assertEqual(o.ttl >> 24, 1 if "BADVERS before" in ctx else 0,
                                     proto + " " + ctx + ": OPT EXTENDED-RCODE")

    def test_rule5_before_rule6(self):
        q = hdr(ar=1) + question("example.", 1, 3) + opt_rr(ver=1)
        r = self.send(q)
        self.check_error("BADVERS before REFUSED", q, r, 0, True, qd=1)
        self.assertEqual(T.opt_of(r).ttl >> 24, 1, "EXTENDED-RCODE")

    def test_no_input_crashes(self):
        """Bounded random mutations of valid queries; the server keeps answering."""
        rnd = random.Random(7)
        base = [hdr(ar=1) + question() + opt_rr(rdata=option(10, b"12345678")),
                hdr() + question(T.nibbles("2001:db8:1::1") + ".spf.acme.iphmx.example."),
                hdr(ns=1) + question("iphmx.example.", 251) + rr("iphmx.example.", 6, SOA_RDATA),
                hdr(ar=2) + question() + opt_rr() + rr("x.", 16, b"\x01a")]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        deadline = time.time() + 8
        sent = 0
        try:
            while sent < 20000 and time.time() < deadline:
                m = bytearray(rnd.choice(base))
                op = rnd.random()
                if op < 0.5:
                    for _ in range(rnd.randint(1, 4)):
                        m[rnd.randrange(len(m))] = rnd.randrange(256)
                elif op < 0.7:
                    m = m[:rnd.randrange(len(m) + 1)]
                elif op < 0.85:
                    m += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 40)))
                else:
                    m = bytearray(rnd.randrange(256) for _ in range(rnd.randint(0, 300)))
                if len(m) > 2:
                    m[2] &= 0x7F  # mostly not responses, so they are parsed
                try:
                    s.sendto(bytes(m), self.server.addr())
                    sent += 1
                except BlockingIOError:
                    time.sleep(0.001)
                try:
                    while True:
                        s.recv(4096)
                except BlockingIOError:
                    pass
                if sent % 500 == 0:
                    time.sleep(0.01)
        finally:
            s.close()
        self.assertGreater(sent, 1000)
        self.probe_alive()

    def probe_alive(self):
        self.assert_alive()
        q = hdr(qid=999) + question()
        chk = A.Checker(self.db)
        for proto in ("udp", "tcp"):
            chk.check(q, self.send(q, proto), "A", A.PROVIDER, "probe over " + proto)
        self.assertFalse(chk.failures, "\n".join(chk.failures))


if __name__ == "__main__":
    T.main()
