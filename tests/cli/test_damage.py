"""Stored names that break SPEC §2 are damage (SPEC §3): spfdb-ctl exits 3
naming the record with the name escaped, and never prints a control
character; spfdbd skips the record, logs it escaped, and serves the rest.
Names are planted behind the library with mdb_load (lmdb-utils).

Usage: test_damage.py CTL SPFDBD [--sanitize] [unittest args]
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

CTL = SPFDBD = None
SANITIZE = False
ESC = "\x1b]0;pwned\x07\x1b[31m"  # a terminal title and colour, and a bell
ESC_SHOWN = "\\x1b]0;pwned\\x07\\x1b[31m"


def mdb_put(dbdir, sub, key, value):
    text = ("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n %s\n %s\nDATA=END\n"
            % (key.hex(), value.hex()))
    subprocess.run(["mdb_load", "-s", sub, dbdir], input=text.encode(), check=True,
                   capture_output=True, timeout=30)


def mdb_get_all(dbdir, sub):
    out = subprocess.run(["mdb_dump", "-s", sub, dbdir], check=True, capture_output=True,
                         timeout=30).stdout.decode()
    lines = out.split("HEADER=END\n", 1)[1].split("DATA=END")[0].split()
    return [(bytes.fromhex(lines[i]), bytes.fromhex(lines[i + 1]))
            for i in range(0, len(lines), 2)]


def s8(b):
    return bytes([len(b)]) + b


def zone_value(ns, hostmaster=b"", alloc_id=0, ttl=300, neg=60):
    return (b"\x01" + struct.pack(">III", alloc_id, ttl, neg) + s8(hostmaster) +
            bytes([len(ns)]) + b"".join(s8(h) for h in ns))


class Base(unittest.TestCase):
    def setUp(self):
        self.top = tempfile.mkdtemp(prefix="spfdb-damage-")
        self.addCleanup(shutil.rmtree, self.top, True)
        self.dir = os.path.join(self.top, "db")
        os.mkdir(self.dir, 0o755)

    def ctl(self, *args):
        env = dict(os.environ)
        env.pop("SPFDB_DB", None)
        return subprocess.run([CTL, "--db", self.dir] + list(args), capture_output=True,
                              timeout=60, env=env)

    def ok(self, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def damaged(self, args, what):
        """ARGS exits 3 naming WHAT escaped; no raw control character out."""
        r = self.ctl(*args)
        out, err = r.stdout.decode("latin-1"), r.stderr.decode("latin-1")
        self.assertEqual(r.returncode, 3, (args, err))
        self.assertIn("the stored %s" % what, err, args)
        self.assertIn("the database is damaged", err)
        for text in (out, err):
            self.assertFalse([c for c in text if ord(c) < 0x20 and c != "\n"],
                             (args, text))

    def base_db(self):
        self.ok("allocation", "add", "good")
        self.ok("add", "--allocation", "good", "192.0.2.0/24")
        self.ok("zone", "add", "good.example", "--ns", "ns1.example.net", "--ns",
                "ns2.example.net")


class Names(Base):
    def fresh(self):
        shutil.rmtree(self.dir)
        os.mkdir(self.dir, 0o755)
        self.base_db()

    def test_allocation_name(self):
        for name, shown in ((("bad" + ESC).encode(), "bad" + ESC_SHOWN),
                            (b"Bad", "Bad"), (b"-x", "-x"), (b"a" * 64, "a" * 64)):
            with self.subTest(name=name):
                self.fresh()
                mdb_put(self.dir, "allocs", name, struct.pack(">IQQ", 99, 0, 0))
                for args in (["allocation", "list"], ["allocation", "list", "--json"]):
                    self.damaged(args, 'allocation name "%s"' % shown)
                # what does not read it still works
                self.ok("list", "--allocation", "good")

    def test_allocation_name_by_id(self):
        # a zone bound to an id whose stored name is bad
        self.ok("allocation", "add", "cust")
        self.ok("zone", "add", "cust.example", "--allocation", "cust", "--ns", "ns1.example.net",
                "--ns", "ns2.example.net")
        ids = [k for k, v in mdb_get_all(self.dir, "allocid") if v == b"cust"]
        mdb_put(self.dir, "allocid", ids[0], ("cu\nst" + ESC).encode())
        for args in (["zone", "list"], ["zone", "list", "--json"]):
            self.damaged(args, 'allocation name "cu\\x0ast' + ESC_SHOWN + '"')

    def test_zone_names(self):
        for key, value, what in (
                (("ev" + ESC + ".example").encode(), zone_value([b"ns1.example.net", b"ns2.x"]),
                 'zone name "ev' + ESC_SHOWN + '.example"'),
                (b"ns.example", zone_value([b"ns1.example.net", ("a" + ESC + ".net").encode()]),
                 'NS host "a' + ESC_SHOWN + '.net" of zone "ns.example"'),
                (b"hm.example", zone_value([b"ns1.example.net"],
                                           ("x" + ESC + "@example.net").encode()),
                 'hostmaster "x' + ESC_SHOWN + '@example.net" of zone "hm.example"'),
                (b"UPPER.example", zone_value([b"ns1.example.net"]),
                 'zone name "UPPER.example"'),
                (b"nul\x00.example", zone_value([b"ns1.example.net"]),
                 'zone name "nul\\x00.example"')):
            with self.subTest(what=what):
                self.fresh()
                mdb_put(self.dir, "zones", key, value)
                for args in (["zone", "list"], ["zone", "list", "--json"],
                             ["zone", "add", "new.example", "--ns", "ns1.example.net"]):
                    self.damaged(args, what)

    def test_transfer_settings(self):
        cases = (
            ("xfr", b"key\x00" + ("k" + ESC).encode(),
             b"\x01\x01\x20" + b"s" * 32 + struct.pack(">q", 0),
             ["key", "list"], 'key name "k' + ESC_SHOWN + '"'),
            ("xfr", b"zone", b"\x01" + s8(("t" + ESC).encode()) + s8(b"ns.x"),
             ["transfer", "show"], 'transfer zone "t' + ESC_SHOWN + '"'),
            ("xfr", b"replica\x00" + ("192.0.2.1" + ESC).encode(), b"\x01" + s8(b"k"),
             ["replica", "list"], 'replica address "192.0.2.1' + ESC_SHOWN + '"'))
        for sub, key, value, args, what in cases:
            with self.subTest(what=what):
                self.fresh()
                mdb_put(self.dir, sub, key, value)
                self.damaged(args, what)

    def test_log_escaped(self):
        # a change log record whose allocation name was changed behind the
        # library: printed escaped
        self.ok("allocation", "add", "abcde")
        recs = mdb_get_all(self.dir, "log")
        key, value = recs[-1]
        self.assertIn(b"abcde", value)
        mdb_put(self.dir, "log", key, value.replace(b"abcde", b"a\x1b]0b"))
        r = self.ok("log")
        out = r.stdout.decode("latin-1")
        self.assertIn("allocation-add a\\x1b]0b", out)
        self.assertFalse([c for c in out if ord(c) < 0x20 and c != "\n"], out)

    def test_log_member_ops(self):
        # membership changes (SPEC §2 members), as a writer with member
        # allocations records them: named as such in text and JSON
        self.ok("allocation", "add", "abcde")
        key, value = mdb_get_all(self.dir, "log")[-1]
        add = b"\x31\x00\x05abcde\x00"  # ALLOC_ADD "abcde"
        self.assertIn(add, value)
        for code, op in ((b"\x51", "member-add"), (b"\x52", "member-del")):
            with self.subTest(op=op):
                mdb_put(self.dir, "log", key,
                        value.replace(add, code + b"\x00\x05abcde\x00\x00\x02m1\x00"))
                out = self.ok("log").stdout.decode()
                self.assertIn(" %s abcde m1\n" % op, out)
                doc = json.loads(self.ok("log", "--json").stdout)
                changes = [c for rec in doc for c in rec["changes"]]
                self.assertIn({"op": op, "allocation": "abcde", "member": "m1"}, changes)
                # --allocation finds it by either name
                for name in ("abcde", "m1"):
                    self.assertIn(" %s abcde m1\n" % op,
                                  self.ok("log", "--allocation", name).stdout.decode())


class Server(Base):
    """spfdbd skips a damaged record, logs it escaped, serves the rest."""

    def test_skips_and_serves(self):
        self.base_db()
        mdb_put(self.dir, "allocs", ("bad" + ESC).encode(), struct.pack(">IQQ", 99, 0, 0))
        mdb_put(self.dir, "zones", b"ns.example",
                zone_value([b"ns1.example.net", ("a" + ESC).encode()]))
        mdb_put(self.dir, "xfr", b"zone", b"\x01" + s8(("t" + ESC).encode()) + s8(b"ns.x"))
        mdb_put(self.dir, "xfr", b"key\x00" + ("k" + ESC).encode(),
                b"\x01\x01\x20" + b"s" * 32 + struct.pack(">q", 0))
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p = subprocess.Popen([SPFDBD, "--db", self.dir, "--listen", "127.0.0.1:%d" % port,
                              "--workers", "1"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            err = b""
            deadline = time.time() + 20
            while b"ready:" not in err:
                self.assertLess(time.time(), deadline, err)
                self.assertIsNone(p.poll(), err)
                err += p.stderr.readline()
            q = query("7.2.0.192.spf.good.good.example")
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(5)
            u.sendto(q, ("127.0.0.1", port))
            r = u.recv(4096)
            u.close()
            self.assertEqual(r[3] & 15, 3)  # 192.0.2.7 reversed is not listed: NXDOMAIN
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(5)
            u.sendto(query("192.0.2.7.spf.good.good.example"), ("127.0.0.1", port))
            r = u.recv(4096)
            u.close()
            self.assertEqual((r[3] & 15, struct.unpack(">H", r[6:8])[0]), (0, 1))
        finally:
            p.send_signal(signal.SIGTERM)
            rest = p.communicate(timeout=20)[1]
        err = (err + rest).decode("latin-1")
        self.assertEqual(p.returncode, 0, err)
        self.assertIn('the stored allocation name "bad' + ESC_SHOWN + '" breaks', err)
        self.assertIn('the stored NS host "a' + ESC_SHOWN + '" of zone "ns.example" breaks', err)
        self.assertIn('the stored transfer zone "t' + ESC_SHOWN + '" breaks', err)
        self.assertFalse([c for c in err if ord(c) < 0x20 and c != "\n"], err)


def query(name, qtype=1):
    wire = b"".join(s8(l.encode()) for l in name.split(".")) + b"\x00"
    return struct.pack(">HHHHHH", 0x1234, 0, 1, 0, 0, 0) + wire + struct.pack(">HH", qtype, 1)


def main():
    global CTL, SPFDBD, SANITIZE
    args = sys.argv[1:]
    CTL = os.path.abspath(args.pop(0))
    SPFDBD = os.path.abspath(args.pop(0))
    if args and args[0] == "--sanitize":
        SANITIZE = True
        args.pop(0)
    for tool in ("mdb_load", "mdb_dump"):
        if not shutil.which(tool):
            sys.exit("test_damage.py needs %s (lmdb-utils)" % tool)
    unittest.main(argv=[sys.argv[0]] + args, verbosity=2)


if __name__ == "__main__":
    main()
