"""SPEC §4 Transport: UDP replies leave from the address the query arrived
on, also on a wildcard listen address; [::] is IPv6-only.  IPv4 replies
carry DF (RFC 9715), seen on the wire with a packet socket (root)."""
import os
import socket
import struct
import time
import unittest

import answers as A
import spfdbtest as T

LISTED = "198.51.100.7.spf.acme.iphmx.example"
V6 = T.ipv6_loopback_works()
ROOT = os.geteuid() == 0


def reply_df(tc, src, dst, port, qid):
    """Query DST:PORT from SRC and read the reply's IPv4 header off the
    loopback interface: True when it has DF set."""
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    try:
        cap.bind(("lo", 0))
        cap.settimeout(0.5)
        w, r, peer = query_from(src, dst, port, qid)
        tc.assertEqual(peer, (dst, port))
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                pkt = cap.recv(65535)
            except socket.timeout:
                continue
            ihl = (pkt[0] & 15) * 4
            if len(pkt) < ihl + 8 or pkt[9] != socket.IPPROTO_UDP:
                continue
            sport = struct.unpack(">H", pkt[ihl:ihl + 2])[0]
            if socket.inet_ntoa(pkt[12:16]) == dst and sport == port and pkt[ihl + 8:] == r:
                return bool(struct.unpack(">H", pkt[6:8])[0] & 0x4000)
        tc.fail("the reply from %s:%d was not seen on lo" % (dst, port))
    finally:
        cap.close()


def query_from(src, dst, port, qid):
    """Send from a socket bound to SRC to DST:PORT; returns (reply, its source)."""
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        s.settimeout(2)
        w = T.make_query(LISTED, "A", qid=qid).to_wire()
        s.sendto(w, (dst, port))
        r, peer = s.recvfrom(65535)
        return w, r, peer[:2]
    finally:
        s.close()


class Wildcard(T.ServerCase):
    listen = ("0.0.0.0:{port}",) + (("[::]:{port}",) if V6 else ())

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def check_reply(self, w, r, ctx):
        chk = A.Checker(self.db)
        chk.check(w, r, "A", A.PROVIDER, ctx)
        self.assertFalse(chk.failures, "\n".join(chk.failures))

    def test_reply_source_is_queried_address_v4(self):
        port = self.server.port
        for i, (src, dst) in enumerate([("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "127.0.0.2"),
                                        ("127.0.0.2", "127.0.0.3"), ("127.0.0.9", "127.0.0.2"),
                                        ("127.0.0.1", "127.1.2.3")]):
            try:
                w, r, peer = query_from(src, dst, port, 10 + i)
            except socket.timeout:
                self.fail("no reply to %s from %s" % (dst, src))
            self.assertEqual(peer, (dst, port), "reply to a query sent to %s:%d came from %r"
                             % (dst, port, peer))
            self.check_reply(w, r, "to %s" % dst)
            # And a connected socket (the kernel drops replies from elsewhere).
            w = T.make_query(LISTED, "A", qid=40 + i).to_wire()
            try:
                r = T.udp_raw((dst, port), w, src=src)
            except socket.timeout:
                self.fail("connected socket to %s: no reply from the queried address" % dst)
            self.check_reply(w, r, "connected to %s" % dst)

    @unittest.skipUnless(ROOT, "reading lo needs root (CAP_NET_RAW)")
    def test_reply_has_df_v4(self):
        self.assertTrue(reply_df(self, "127.0.0.1", "127.0.0.3", self.server.port, 60),
                        "a reply through the wildcard listener without DF")

    def test_tcp_on_second_loopback_address(self):
        w = T.make_query(LISTED, "A", qid=5).to_wire()
        self.check_reply(w, T.tcp_raw(("127.0.0.2", self.server.port), w), "tcp to 127.0.0.2")

    @unittest.skipUnless(V6, "no IPv6 loopback here")
    def test_reply_source_v6(self):
        w, r, peer = query_from("::1", "::1", self.server.port, 77)
        self.assertEqual(peer, ("::1", self.server.port))
        self.check_reply(w, r, "to ::1")
        w = T.make_query(LISTED, "A", qid=78).to_wire()
        self.check_reply(w, T.tcp_raw(("::1", self.server.port), w), "tcp to ::1")


@unittest.skipUnless(V6, "no IPv6 loopback here")
class V6Only(T.ServerCase):
    listen = ("[::]:{port}",)

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def test_v6_wildcard_is_v6_only(self):
        port = self.server.port
        # IPV6_V6ONLY: 0.0.0.0 on the same port is still free for UDP and TCP.
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", port))
            except OSError as e:
                self.fail("[::]:%d also holds IPv4 (kind %d): %r" % (port, kind, e))
            finally:
                s.close()
        w, r, peer = query_from("::1", "::1", port, 3)
        self.assertEqual(T.Header(r).rcode, 0)
        self.assertTrue(T.udp_none(("127.0.0.1", port), w, wait=0.3),
                        "an IPv4 query was answered by a [::] listener")


class SpecificAddress(T.ServerCase):
    listen = ("127.0.0.2:{port}",)

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def test_specific_listen_address(self):
        w, r, peer = query_from("127.0.0.1", "127.0.0.2", self.server.port, 9)
        self.assertEqual(peer, ("127.0.0.2", self.server.port))
        self.assertTrue(T.udp_none(("127.0.0.1", self.server.port), w, wait=0.3),
                        "answered on 127.0.0.1, listening on 127.0.0.2 only")

    @unittest.skipUnless(ROOT, "reading lo needs root (CAP_NET_RAW)")
    def test_reply_has_df(self):
        self.assertTrue(reply_df(self, "127.0.0.1", "127.0.0.2", self.server.port, 61),
                        "a reply without DF")


@unittest.skipUnless(V6, "no IPv6 loopback here")
class SpecificV6(T.ServerCase):
    listen = ("[::1]:{port}",)

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def test_v6_listen_address(self):
        for proto in ("udp", "tcp"):
            w = T.make_query(LISTED, "A", qid=21, edns=0).to_wire()
            chk = A.Checker(self.db)
            chk.check(w, T.exchange(("::1", self.server.port), w, proto), "A", A.PROVIDER,
                      "[::1] over " + proto)
            self.assertFalse(chk.failures, chk.failures)


@unittest.skipUnless(V6, "no IPv6 loopback here")
class MixedListeners(T.ServerCase):
    """An IPv4 socket and a wildcard IPv6 one on the same port, each with
    its UDP worker: bursts alternate between them, and every reply must
    still leave from the address its query went to."""
    listen = ("127.0.0.1:{port}", "[::]:{port}")
    server_args = ("--workers", "1")

    @classmethod
    def setup_db(cls, db):
        A.build(db)

    def test_alternating_bursts(self):
        port = self.server.port
        targets = [(socket.AF_INET, ("127.0.0.1", port)), (socket.AF_INET6, ("::1", port))]
        socks = [socket.socket(f, socket.SOCK_DGRAM) for f, _ in targets]
        try:
            for s in socks:
                s.settimeout(2)
            qid = 1
            for rnd in range(30):
                for k, (_, dst) in enumerate(targets):
                    burst = (rnd * 7 + k * 13) % 64 + 1
                    sent = set()
                    for _ in range(burst):
                        socks[k].sendto(T.make_query(LISTED, "A", qid=qid).to_wire(), dst)
                        sent.add(qid)
                        qid = qid % 65535 + 1
                    for _ in range(burst):
                        r, peer = socks[k].recvfrom(65535)
                        h = T.Header(r)
                        self.assertEqual(peer[:2], dst)
                        self.assertIn(h.id, sent)
                        self.assertEqual(h.rcode, 0)
                        sent.discard(h.id)
        finally:
            for s in socks:
                s.close()


if __name__ == "__main__":
    T.main()
