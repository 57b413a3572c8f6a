"""The soak (scripts/soak.py) in short: 60 s of UDP and TCP load over IPv4
and IPv6 while a writer changes the data, every answer checked against the
commits.  Also: the oracle's window is exact at its edges, the reply checks
refuse what SPEC §4 forbids, and a run whose oracle misses commits reports
wrong answers (so a clean run means something)."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import spfdbtest as T

HERE = os.path.dirname(os.path.abspath(__file__))
SOAK = os.path.join(HERE, "..", "..", "scripts", "soak.py")
sys.path.insert(0, os.path.dirname(SOAK))
import soak  # noqa: E402

SOAK_S = 60
QPS = 1000


def run_soak(*args, timeout):
    """soak.py ARGS with the binaries under test: (exit status, its JSON, stdout)."""
    fd, path = tempfile.mkstemp(prefix="soak-", suffix=".json")
    os.close(fd)
    try:
        p = subprocess.run([sys.executable, SOAK, "--spfdbd", T.SPFDBD, "--ctl", T.CTL,
                            "--json", path] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout)
        with open(path) as f:
            text = f.read()
        return p.returncode, (json.loads(text) if text else None), p.stdout + p.stderr
    finally:
        os.unlink(path)


class Q:
    def __init__(self, alloc, fam, probe):
        self.alloc, self.fam, self.probe = alloc, fam, probe


class Window(unittest.TestCase):
    """Commit 1 (start 10, end 11) lists probe X; commit 2 (start 12, end
    13) unlists it.  A query sent at ts, answered at tr, may see the commits
    from the last one ended before ts to the last one started before tr."""

    def setUp(self):
        self.x = (81 << 24) | 0x0A0B0C
        probes = {4: [self.x], 6: [1 << 120]}
        self.o = soak.Oracle(probes, {a: set() for a in soak.ALLOCS})
        self.o.serials[0] = 100
        self.o.by_serial[100] = 0
        p = (4, self.x, 32)
        self.o.start(1, 10.0, "a0", [p], [])
        self.o.end(1, 11.0, 101)
        self.o.start(2, 12.0, "a0", [], [p])
        self.o.end(2, 13.0, 102)
        self.q = Q("a0", 4, 0)

    def ok(self, ts, tr, listed, serial=None):
        return self.o.check(self.q, ts, tr, listed, serial) is None

    def test_edges(self):
        w = self.o.window
        self.assertEqual(w(9.0, 9.5), (0, 0))
        self.assertEqual(w(9.0, 10.0), (0, 0))    # started at tr: not seen
        self.assertEqual(w(9.0, 10.001), (0, 1))
        self.assertEqual(w(11.0, 11.5), (0, 1))   # ended at ts: may be missed
        self.assertEqual(w(11.001, 11.5), (1, 1))
        self.assertEqual(w(11.5, 12.5), (1, 2))
        self.assertEqual(w(14.0, 15.0), (2, 2))

    def test_listed(self):
        self.assertFalse(self.ok(9.0, 9.5, True))
        self.assertTrue(self.ok(9.0, 10.5, True))
        self.assertTrue(self.ok(11.5, 12.5, True))
        self.assertFalse(self.ok(13.5, 14.0, True))

    def test_nxdomain_serial(self):
        self.assertTrue(self.ok(9.0, 10.5, False, 100))
        self.assertFalse(self.ok(9.0, 10.5, False, 101))   # listed in commit 1
        self.assertFalse(self.ok(11.5, 11.6, False, 100))  # stale: commit 1 was known
        self.assertTrue(self.ok(11.5, 12.5, False, 102))
        self.assertFalse(self.ok(9.0, 9.5, False, 102))    # from the future
        self.assertFalse(self.ok(9.0, 9.5, False, 99))     # no commit's serial
        self.assertFalse(self.ok(13.5, 14.0, False, 100))  # ABA: same state, old snapshot


class Replies(unittest.TestCase):
    def query(self, rd=True, edns=False):
        q = soak.Query()
        q.qid, q.rd, q.edns = 0x1234, rd, edns
        q.question = soak.encode_name(["1", "2", "3", "4", "spf", "a0"] +
                                      soak.ZONE.split(".")) + struct.pack("!HH", 1, 1)
        return q

    def listed(self, q, flags=0x8500, ttl=300, rdata=b"\x7f\0\0\2", question=None):
        return (struct.pack("!6H", q.qid, flags, 1, 1, 0, 0) + (question or q.question) +
                struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + rdata)

    def test_checks(self):
        q = self.query()
        self.assertEqual(soak.parse_reply(q, self.listed(q)), (True, None))
        for bad in (self.listed(q, flags=0x8580),   # RA set
                    self.listed(q, flags=0x8100),   # AA clear
                    self.listed(q, ttl=60),
                    self.listed(q, rdata=b"\x7f\0\0\3"),
                    self.listed(q, question=q.question.replace(b"spf", b"SPF")),
                    self.listed(q)[:-1]):
            with self.assertRaises((ValueError, struct.error, IndexError)):
                soak.parse_reply(q, bad)


class Soak(unittest.TestCase):
    def test_soak_60s(self):
        rc, res, out = run_soak("--duration", SOAK_S, "--qps", QPS, "--flat", "fds",
                                "--prune", 20, timeout=SOAK_S + 120)
        self.assertIsNotNone(res, out)
        self.assertEqual(rc, 0, out)
        c = res["counts"]
        self.assertEqual(c.get("wrong", 0), 0, out)
        self.assertEqual(res["exit_status"], 0, out)
        for k in ("udp4", "udp6", "tcp4", "tcp6"):
            self.assertGreater(c.get("answered_" + k, 0), SOAK_S * QPS * 0.05, out)
        for k in ("names4", "names6", "listed", "unlisted", "tcp_split_writes"):
            self.assertGreater(c.get(k, 0), 100, out)
        self.assertEqual(c["checked"], sum(c.get("answered_" + k, 0)
                                           for k in ("udp4", "udp6", "tcp4", "tcp6")), out)
        self.assertGreater(res["qps_achieved"], 0.8 * QPS, out)
        self.assertLessEqual(res["lost_rate"], 0.001, out)
        self.assertGreater(res["commits"], SOAK_S, out)   # at least one a second
        w = res["writer"]
        for k in ("add", "del", "replace", "prune"):
            self.assertGreater(w.get(k, 0), 0, out)
        self.assertGreaterEqual(len(res["samples"]), SOAK_S // 2, out)
        self.assertTrue(res["flat"]["fds"]["flat"], out)
        self.assertIn("verdict: PASS", out)

    def test_missed_commits_are_found(self):
        """--fault 5: the oracle ignores every fifth commit's changes."""
        rc, res, out = run_soak("--duration", 8, "--qps", 500, "--flat", "", "--fault", 5,
                                timeout=120)
        self.assertIsNotNone(res, out)
        self.assertEqual(rc, 1, out)
        self.assertGreater(res["counts"].get("wrong", 0), 0, out)
        self.assertIn("verdict: FAIL", out)


if __name__ == "__main__":
    T.main()
