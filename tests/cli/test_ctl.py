"""spfdb-ctl tests (SPEC §2, §3): exit codes, messages naming the bad token
and line, and a database left byte for byte unchanged by every failure.

Usage: test_ctl.py CTL [--sanitize] [unittest args, e.g. a TestCase name]
Each test works in its own temporary directory.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

CTL = None
SANITIZE = False

COMMANDS = ["add", "del", "replace", "import", "import-spf", "list", "check", "allocation add",
            "allocation set", "allocation del", "allocation list", "zone add", "zone set",
            "zone del", "zone list", "log", "spf-record", "backup"]


def ipv4(n):
    return "%d.%d.%d.%d" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


def v4_lines(count, base=11 << 24, step=1):
    """COUNT distinct public /32 addresses, one a line."""
    return "".join(ipv4(base + i * step) + "\n" for i in range(count))


def name_of_len(length, suffix):
    """A DNS name of exactly LENGTH characters ending in SUFFIX."""
    need = length - len(suffix) - 1  # labels and their dots before SUFFIX
    labels = []
    while need > 63:
        n = 63 if need - 64 >= 1 else 61
        labels.append("a" * n)
        need -= n + 1
    labels.append("a" * need)
    name = ".".join(labels + [suffix])
    assert len(name) == length, (len(name), length)
    return name


class Db:
    """One temporary database directory and the ctl binary run over it."""

    def __init__(self, tc):
        self.tc = tc
        self.root = tempfile.mkdtemp(prefix="spfdb-cli-")
        self.dir = os.path.join(self.root, "db")
        os.mkdir(self.dir, 0o755)  # not group-writable whatever the umask
        self.seen = {}
        tc.addCleanup(shutil.rmtree, self.root, True)

    def run(self, *args, input=None, env=None, db=True, timeout=120, leaks=True):
        e = dict(os.environ)
        e.pop("SPFDB_DB", None)
        if env:
            e.update(env)
        if not leaks:  # a helper run, not the command under test: save ASan's exit scan
            e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        argv = [CTL] + (["--db", self.dir] if db else []) + list(args)
        return subprocess.run(argv, input=input, env=e, capture_output=True,
                              text=True, timeout=timeout)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        self.tc.assertEqual(r.returncode, 0, "%s: %s" % (args, r.stderr))
        return r

    def state(self):
        """Everything a command could change, as ctl shows it, and the
        bytes of data.mdb.  The same bytes always show the same, so the
        listings are taken once per content (ASan runs are slow)."""
        with open(os.path.join(self.dir, "data.mdb"), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest not in self.seen:
            self.seen[digest] = self.listings()
        return self.seen[digest], digest

    def listings(self):
        allocs = self.ok("allocation", "list", leaks=False).stdout
        zones = self.ok("zone", "list", leaks=False).stdout
        entries = {}
        for line in allocs.splitlines():
            name = line.split()[0]
            entries[name] = self.ok("list", "--allocation", name, leaks=False).stdout
        return allocs, zones, entries

    def fails(self, code, *args, want=(), input=None, env=None):
        """Run a command that must exit CODE with every string of WANT on
        stderr and leave the database unchanged."""
        before = self.state()
        r = self.run(*args, input=input, env=env)
        self.tc.assertEqual(r.returncode, code, "%s: %s%s" % (args, r.stdout, r.stderr))
        for w in want:
            self.tc.assertIn(w, r.stderr, args)
        self.tc.assertEqual(self.state(), before, "%s changed the database" % (args,))
        return r


class Help(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def test_help_everywhere(self):
        for args in (["--help"], ["-h"], ["help"], ["zone", "--help"],
                     ["allocation", "--help"], ["help", "zone"]):
            r = self.db.run(*args, db=False)
            self.assertEqual(r.returncode, 0, args)
            self.assertIn("usage:", r.stdout)
        for cmd in COMMANDS:
            for args in (cmd.split() + ["--help"], ["help"] + cmd.split()):
                # --help needs no database, even a missing one
                r = self.db.run("--db", "/nonexistent/x", *args, db=False)
                self.assertEqual(r.returncode, 0, args)
                self.assertIn("usage: spfdb-ctl " + cmd, r.stdout)
                self.assertIn("--help", r.stdout)

    def test_version(self):
        r = self.db.run("--version", db=False)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^spfdb-ctl \d+\.\d+")

    def test_usage_errors(self):
        self.db.ok("allocation", "list")
        for args in ([], ["frobnicate"], ["zone"], ["zone", "frob"], ["--bogus", "list"],
                     ["add"], ["del"], ["check"], ["check", "1.2.3.4", "5.6.7.8"],
                     ["replace", "--allocation", "default"], ["replace", "f"],
                     ["list", "extra"], ["allocation", "add"], ["allocation", "del"],
                     ["zone", "add"], ["zone", "add", "z.example"], ["zone", "set", "z.example"],
                     ["zone", "del"], ["zone", "list", "x"], ["help", "nope"],
                     ["add", "1.2.3.4", "-"]):
            self.db.fails(2, *args)
        for cmd in COMMANDS:
            r = self.db.fails(2, *(cmd.split() + ["--no-such-option", "x"]))
            self.assertIn("usage: spfdb-ctl " + cmd, r.stderr)


class DbDir(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def test_missing_dir(self):
        missing = os.path.join(self.db.root, "typo")
        for args in (["add", "1.2.3.4"], ["list"], ["zone", "list"], ["allocation", "list"],
                     ["check", "1.2.3.4"], ["allocation", "add", "x"]):
            r = self.db.run("--db", missing, *args, db=False)
            self.assertEqual(r.returncode, 3, args)
            self.assertIn(missing, r.stderr)
            self.assertIn("create it", r.stderr)
            self.assertFalse(os.path.exists(missing), "ctl created the directory")

    def test_not_a_directory_or_not_a_database(self):
        f = os.path.join(self.db.root, "file")
        with open(f, "w") as fh:
            fh.write("x")
        r = self.db.run("--db", f, "list", db=False)
        self.assertEqual(r.returncode, 3)
        with open(os.path.join(self.db.dir, "data.mdb"), "wb") as fh:
            fh.write(os.urandom(65536))
        r = self.db.run("add", "1.2.3.4")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(self.db.dir, r.stderr)

    def test_env_and_option(self):
        other = os.path.join(self.db.root, "other")
        os.mkdir(other, 0o755)
        self.db.run("add", "192.0.2.0/24", env={"SPFDB_DB": other}, db=False)
        self.assertEqual(self.db.run("list", env={"SPFDB_DB": other}, db=False).stdout,
                         "192.0.2.0/24\n")
        # --db wins over $SPFDB_DB, before or after the command
        self.assertEqual(self.db.ok("list", env={"SPFDB_DB": other}).stdout, "")
        r = self.db.run("list", "--db", other, env={"SPFDB_DB": self.db.dir}, db=False)
        self.assertEqual(r.stdout, "192.0.2.0/24\n")
        # $SPFDB_DB naming a missing directory: 3, and nothing created
        missing = os.path.join(self.db.root, "nope")
        r = self.db.run("add", "1.2.3.4", env={"SPFDB_DB": missing}, db=False)
        self.assertEqual(r.returncode, 3)
        self.assertFalse(os.path.exists(missing))

    def test_unwritable(self):
        """A database the user may read but not write: 3, unchanged.  Root
        ignores file modes, so as root ctl runs as nobody (setpriv)."""
        self.db.ok("add", "192.0.2.0/24")
        before = self.db.state()
        argv = [CTL, "--db", self.db.dir, "add", "198.51.100.0/24"]
        files = [os.path.join(self.db.dir, f) for f in os.listdir(self.db.dir)]
        root = os.geteuid() == 0
        if root:
            self.assertIsNotNone(shutil.which("setpriv"), "setpriv (util-linux) is needed")
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + argv
            os.chmod(self.db.root, 0o755)
        # readable by the user, not writable
        os.chmod(self.db.dir, 0o755 if root else 0o555)
        for f in files:
            os.chmod(f, 0o644 if root else 0o444)
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        finally:
            os.chmod(self.db.dir, 0o755)
            for f in files:
                os.chmod(f, 0o644)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(self.db.dir, r.stderr)
        self.assertEqual(self.db.state(), before)


class Entries(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)
        self.db.ok("allocation", "list")

    def test_add_list_order_canonical(self):
        r = self.db.ok("add", "2001:DB8::/32", "198.51.100.7", "192.0.2.0/24", "2001:db8::1",
                       "203.0.113.0/25")
        self.assertEqual(r.stdout, "added 5, skipped 0\n")
        self.assertEqual(self.db.ok("list").stdout,
                         "192.0.2.0/24\n198.51.100.7/32\n203.0.113.0/25\n"
                         "2001:db8::/32\n2001:db8::1/128\n")
        self.assertEqual(self.db.ok("allocation", "list").stdout, "default 3 2\n")

    def test_bad_tokens(self):
        self.db.ok("add", "192.0.2.0/24")
        r = self.db.fails(2, "add", "198.51.100.0/24", "198.51.100.7/24", "bogus",
                          want=["'198.51.100.7/24'", "198.51.100.0/24"])
        self.assertNotIn("bogus", r.stderr)  # the first bad token only
        for tok in ("1.2.3.4/33", "1.2.3", "01.2.3.4", "1.2.3.4/", "::g", "1.2.3.4/024",
                    "", " 1.2.3.4", "1.2.3.4 ", "x\x01y"):
            self.db.fails(2, "add", "192.0.2.0/24", tok)
        self.db.fails(2, "add", "--allocation", "nope", "192.0.2.0/24", want=["nope"])
        self.db.fails(2, "add", "--allocation", "Bad_Name", "192.0.2.0/24", want=["Bad_Name"])

    def test_wide_special_mapped(self):
        self.db.fails(2, "add", "192.0.2.0/24", "0.0.0.0/7", want=["'0.0.0.0/7'", "--force"])
        self.db.fails(2, "add", "2000::/15", want=["'2000::/15'", "--force"])
        r = self.db.ok("add", "--force", "0.0.0.0/7", "2000::/15")
        self.assertIn("warning", r.stderr)
        r = self.db.ok("add", "10.0.0.0/8", "fd12:3456::/32", "100.64.0.0/10", "127.0.0.1",
                       "fe80::/64", "169.254.0.0/16")
        for p in ("10.0.0.0/8", "fd12:3456::/32", "100.64.0.0/10", "127.0.0.1/32", "fe80::/64",
                  "169.254.0.0/16"):
            self.assertRegex(r.stderr, "warning: %s is" % p)
        r = self.db.ok("add", "::ffff:198.51.100.0/120", "::FFFF:203.0.113.9")
        self.assertIn("stored as 198.51.100.0/24", r.stderr)
        self.assertIn("stored as 203.0.113.9/32", r.stderr)
        listed = self.db.ok("list").stdout.split()
        self.assertIn("198.51.100.0/24", listed)
        self.assertIn("203.0.113.9/32", listed)
        self.assertFalse([p for p in listed if p.startswith("::ffff")])
        # 6to4 is not mapped
        self.db.ok("add", "2002:c000:0200::/40")
        self.assertIn("2002:c000:200::/40", self.db.ok("list").stdout)

    def test_present_and_repeated(self):
        self.db.ok("add", "192.0.2.0/24")
        before = self.db.state()
        r = self.db.ok("add", "192.0.2.0/24", "192.0.2.0/24")
        self.assertEqual(r.stdout, "added 0, skipped 2\n")
        self.assertIn("192.0.2.0/24 already present", r.stderr)
        self.assertIn("given twice", r.stderr)
        # nothing changed, so nothing committed: not even the serial moved
        self.assertEqual(self.db.state(), before)
        r = self.db.ok("add", "-", input="198.51.100.0/24\n198.51.100.0/24\n")
        self.assertEqual(r.stdout, "added 1, skipped 1\n")
        self.assertIn("stdin line 2: 198.51.100.0/24 repeats line 1", r.stderr)

    def test_shuffled_repeats_in_input_order(self):
        # the sort moves items; notes still come in input order and name
        # the first occurrence
        text = ("203.0.113.0/24\n10.0.0.0/8\n2001:db8::/32\n10.0.0.0/8\n"
                "203.0.113.0/24\n192.0.2.0/24\n2001:db8::/32\n")
        r = self.db.ok("add", "-", input=text)
        self.assertEqual(r.stdout, "added 4, skipped 3\n")
        lines = [int(m) for m in re.findall(r"stdin line (\d+):", r.stderr)]
        self.assertEqual(lines, sorted(lines), r.stderr)
        self.assertIn("stdin line 4: 10.0.0.0/8 repeats line 2", r.stderr)
        self.assertIn("stdin line 5: 203.0.113.0/24 repeats line 1", r.stderr)
        self.assertIn("stdin line 7: 2001:db8::/32 repeats line 3", r.stderr)
        self.assertEqual(self.db.ok("list").stdout.split(),
                         ["10.0.0.0/8", "192.0.2.0/24", "203.0.113.0/24", "2001:db8::/32"])

    def test_shuffled_bulk_sorted_like_the_store(self):
        # a few thousand prefixes, IPv4 and IPv6, the same address at
        # several lengths, repeats far apart, in random order: the sort
        # (a radix sort on the key bytes) must order them by family,
        # address, length and find every repeat, as a model does
        import ipaddress
        import random
        rnd = random.Random(5)
        base = []
        for _ in range(700):
            a = rnd.choice([rnd.randrange(11 << 24, 99 << 24), rnd.randrange(1 << 24)
                            | (203 << 24)])
            for ln in rnd.sample([8, 12, 16, 22, 24, 31, 32], 3):
                base.append(ipaddress.ip_network((a >> (32 - ln) << (32 - ln), ln)))
        for _ in range(500):
            a = (0x2001 << 112) | rnd.getrandbits(rnd.choice([16, 64, 100]))
            for ln in rnd.sample([16, 32, 48, 56, 64, 100, 127, 128], 3):
                base.append(ipaddress.ip_network((a >> (128 - ln) << (128 - ln), ln)))
        lines = base + rnd.sample(base, 400)
        rnd.shuffle(lines)
        text = "".join("%s\n" % n for n in lines)
        first, repeats = {}, []
        for no, n in enumerate(lines, 1):
            if n in first:
                repeats.append("stdin line %d: %s repeats line %d" % (no, n, first[n]))
            else:
                first[n] = no
        want = sorted(first, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
        self.db.ok("allocation", "add", "bulk")
        r = self.db.ok("replace", "--allocation", "bulk", "--dry-run", "-", input=text)
        self.assertEqual(r.stdout, "".join("+ %s\n" % n for n in want)
                         + "added %d, removed 0, kept 0\n" % len(want))
        r = self.db.ok("add", "--allocation", "bulk", "-", input=text)
        self.assertEqual(r.stdout, "added %d, skipped %d\n" % (len(want), len(repeats)))
        self.assertEqual(re.findall(r"stdin line \d+: \S+ repeats line \d+", r.stderr),
                         repeats)
        self.assertEqual(self.db.ok("list", "--allocation", "bulk").stdout,
                         "".join("%s\n" % n for n in want))

    def test_stdin_format(self):
        text = ("# a comment line\n\n   \t\n192.0.2.0/24\n  198.51.100.0/24  # acme\r\n"
                "\t2001:db8::/32\t\r\n203.0.113.7#x\n203.0.113.8")  # no final newline
        r = self.db.ok("add", "-", input=text)
        self.assertEqual(r.stdout, "added 5, skipped 0\n")
        self.assertEqual(self.db.ok("list").stdout.split(),
                         ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.7/32",
                          "203.0.113.8/32", "2001:db8::/32"])
        self.db.fails(2, "add", "-", input="203.0.113.9\n\n# c\n1.2.3.4 5.6.7.8\n",
                      want=["stdin line 4", "'1.2.3.4 5.6.7.8'"])
        self.db.fails(2, "add", "-", input="203.0.113.9\n1.2.3.4/24 # host bits\n",
                      want=["stdin line 2", "'1.2.3.4/24'", "1.2.3.0/24"])
        self.db.fails(2, "del", "-", input="192.0.2.0/24\nnope\n", want=["stdin line 2", "'nope'"])

    def test_del(self):
        self.db.ok("add", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "192.0.2.0/24")
        self.db.fails(2, "del", "10.1.2.3", want=["'10.1.2.3'", "10.1.2.0/24"])
        self.db.fails(2, "del", "198.51.100.0/24", want=["'198.51.100.0/24'", "not an entry"])
        # one bad prefix among good ones: nothing is removed; the covering entry
        # is named as the data stood, though 10.1.0.0/16 is removed too
        self.db.fails(2, "del", "10.1.0.0/16", "192.0.2.0/24", "10.1.3.0/24",
                      want=["'10.1.3.0/24'", "10.1.0.0/16"])
        self.db.fails(2, "del", "-", input="192.0.2.0/24\n\n10.9.9.9\n",
                      want=["stdin line 3", "'10.9.9.9'", "10.0.0.0/8"])
        r = self.db.ok("del", "10.1.0.0/16", "10.1.2.0/24", "192.0.2.0/24")
        self.assertEqual(r.stdout, "removed 3\n")
        self.assertIn("10.1.0.0/16 removed but still listed: entry 10.0.0.0/8", r.stderr)
        self.assertIn("10.1.2.0/24 removed but still listed: entry 10.0.0.0/8", r.stderr)
        self.assertNotIn("192.0.2.0/24", r.stderr)
        self.assertEqual(self.db.ok("list").stdout, "10.0.0.0/8\n")
        self.db.fails(2, "del", "--allocation", "nope", "10.0.0.0/8", want=["nope"])

    def test_check(self):
        self.db.ok("add", "198.51.100.0/24", "198.51.100.0/26", "2001:db8::/32")
        self.db.ok("allocation", "add", "acme")
        self.db.ok("add", "--allocation", "acme", "203.0.113.0/24")
        r = self.db.ok("check", "198.51.100.7")
        self.assertEqual(r.stdout, "198.51.100.0/26\n")
        self.assertEqual(self.db.ok("check", "198.51.100.200").stdout, "198.51.100.0/24\n")
        self.assertEqual(self.db.ok("check", "2001:db8::1").stdout, "2001:db8::/32\n")
        self.assertEqual(self.db.ok("check", "::ffff:198.51.100.9").stdout,
                         "198.51.100.0/26\n")
        r = self.db.run("check", "203.0.113.1")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertEqual(self.db.ok("check", "--allocation", "acme", "203.0.113.1").stdout,
                         "203.0.113.0/24\n")
        self.assertEqual(self.db.run("check", "2001:db9::1").returncode, 1)
        self.db.fails(2, "check", "198.51.100.0/24", want=["'198.51.100.0/24'"])
        self.db.fails(2, "check", "198.51.100.x", want=["'198.51.100.x'"])
        self.db.fails(2, "check", "--allocation", "nope", "198.51.100.1", want=["nope"])

    def test_replace(self):
        self.db.ok("allocation", "add", "acme")
        self.db.ok("add", "--allocation", "acme", "192.0.2.0/24", "198.51.100.0/24",
                   "2001:db8::/32")
        path = os.path.join(self.db.root, "acme.txt")
        with open(path, "w") as f:
            f.write("# acme\n198.51.100.0/24\n203.0.113.0/24\r\n2001:db8:1::/48\n"
                    "203.0.113.0/24\n")
        before = self.db.state()
        r = self.db.ok("replace", "--allocation", "acme", "--dry-run", path)
        self.assertEqual(r.stdout, "- 192.0.2.0/24\n+ 203.0.113.0/24\n- 2001:db8::/32\n"
                                   "+ 2001:db8:1::/48\nadded 2, removed 2, kept 1\n")
        self.assertEqual(self.db.state(), before)
        r2 = self.db.ok("replace", path, "--allocation", "acme")  # options after FILE
        self.assertEqual(r2.stdout, r.stdout)
        self.assertEqual(self.db.ok("list", "--allocation", "acme").stdout,
                         "198.51.100.0/24\n203.0.113.0/24\n2001:db8:1::/48\n")
        # the same again changes nothing, and commits nothing
        before = self.db.state()
        with open(path) as f:
            text = f.read()
        r = self.db.ok("replace", "--allocation", "acme", "-", input=text)
        self.assertEqual(r.stdout, "added 0, removed 0, kept 3\n")
        self.assertEqual(self.db.state(), before)
        # emptying needs --allow-empty
        empty = os.path.join(self.db.root, "empty.txt")
        with open(empty, "w") as f:
            f.write("# nothing\n\n")
        self.db.fails(2, "replace", "--allocation", "acme", empty, want=["--allow-empty"])
        self.db.fails(2, "replace", "--allocation", "acme", "--dry-run", empty,
                      want=["--allow-empty"])
        self.db.fails(2, "replace", "--allocation", "acme", os.path.join(self.db.root, "nope"),
                      want=["nope"])
        self.db.fails(2, "replace", "--allocation", "acme", "-", input="192.0.2.0/24\nzzz\n",
                      want=["stdin line 2", "'zzz'"])
        with open(path, "a") as f:
            f.write("192.0.2.1/24\n")
        self.db.fails(2, "replace", "--allocation", "acme", path,
                      want=[path + " line 6", "'192.0.2.1/24'"])
        self.db.fails(2, "replace", "--allocation", "nope", empty, want=["nope"])
        # a wide prefix is refused only when it would be added
        self.db.fails(2, "replace", "--allocation", "acme", "-", input="0.0.0.0/6\n",
                      want=["'0.0.0.0/6'", "--force"])
        self.db.ok("replace", "--allocation", "acme", "--force", "-", input="0.0.0.0/6\n")
        self.db.ok("replace", "--allocation", "acme", "-", input="0.0.0.0/6\n1.0.0.0/8\n")
        r = self.db.ok("replace", "--allocation", "acme", "--allow-empty", empty)
        self.assertEqual(r.stdout, "- 0.0.0.0/6\n- 1.0.0.0/8\nadded 0, removed 2, kept 0\n")
        self.assertEqual(self.db.ok("list", "--allocation", "acme").stdout, "")
        # an empty allocation may be replaced by nothing
        self.db.ok("replace", "--allocation", "acme", empty)

    def test_map_growth_reruns_cleanly(self):
        # A tiny initial map makes spfdb_write rerun the callback: the counts
        # and notes must come out once, as if it ran once.
        env = {"SPFDB_MAPSIZE": str(64 * 1024)}
        n = 20000
        text = "198.51.100.0/24\n" + v4_lines(n) + "198.51.100.0/24\n"
        r = self.db.ok("add", "-", input=text, env=env)
        self.assertEqual(r.stdout, "added %d, skipped 1\n" % (n + 1))
        self.assertEqual(r.stderr.count("repeats line 1"), 1, r.stderr)
        self.assertEqual(len(self.db.ok("list").stdout.splitlines()), n + 1)


class Allocations(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)
        self.db.ok("allocation", "list")

    def test_allocations(self):
        self.assertEqual(self.db.ok("allocation", "list").stdout, "default 0 0\n")
        self.db.ok("allocation", "add", "ACME")
        self.db.ok("allocation", "add", "b-2")
        self.db.ok("add", "--allocation", "Acme", "192.0.2.0/24", "198.51.100.0/24",
                   "2001:db8::/32")
        self.assertEqual(self.db.ok("allocation", "list").stdout,
                         "acme 2 1\nb-2 0 0\ndefault 0 0\n")
        for bad in ("-x", "x-", "a_b", "a.b", "a" * 64, "", "ü"):
            self.db.fails(2, "allocation", "add", "--", bad)
        self.db.fails(2, "allocation", "add", "acme", want=["acme", "exists"])
        self.db.fails(2, "allocation", "del", "default", want=["default"])
        self.db.fails(2, "allocation", "del", "nope", want=["nope"])
        self.db.fails(2, "allocation", "del", "acme", want=["acme", "--force"])
        self.db.ok("zone", "add", "d1.example", "--allocation", "acme", "--ns", "ns1.example.net",
                   "--ns", "ns2.example.net")
        self.db.ok("zone", "add", "d2.example", "--allocation", "acme", "--ns", "ns1.example.net",
                   "--ns", "ns2.example.net")
        self.db.fails(2, "allocation", "del", "--force", "acme", want=["d1.example", "d2.example"])
        self.db.ok("zone", "del", "d1.example")
        self.db.ok("zone", "set", "d2.example", "--provider")
        self.db.ok("allocation", "del", "--force", "acme")
        self.db.ok("allocation", "del", "b-2")
        self.assertEqual(self.db.ok("allocation", "list").stdout, "default 0 0\n")
        # the name may be reused; its old entries are gone
        self.db.ok("allocation", "add", "acme")
        self.assertEqual(self.db.ok("list", "--allocation", "acme").stdout, "")


class Zones(unittest.TestCase):
    NS = ["--ns", "ns1.example.net", "--ns", "ns2.example.net"]

    def setUp(self):
        self.db = Db(self)
        self.db.ok("allocation", "add", "acme")

    def zones(self):
        return self.db.ok("zone", "list").stdout

    def test_add_list_defaults(self):
        r = self.db.ok("zone", "add", "SPF.Example.COM.", *self.NS)
        self.assertEqual(r.stderr, "")
        self.db.ok("zone", "add", "d.customer.example", "--allocation", "ACME",
                   "--ns", "ns1.example.net", "--ns", "ns2.example.org",
                   "--hostmaster", "dns.admin@Example.NET", "--ttl", "600",
                   "--negative-ttl", "30")
        self.assertEqual(self.zones(),
                         "d.customer.example delegated:acme 600 30 dns.admin@example.net "
                         "ns1.example.net,ns2.example.org\n"
                         "spf.example.com provider 300 60 hostmaster@example.net "
                         "ns1.example.net,ns2.example.net\n")

    def test_damaged_hostmaster_is_named_escaped(self):
        """A stored hostmaster that breaks SPEC §2 is damage (§3): zone set
        exits 3 naming it escaped, never raw, and changes nothing."""
        self.db.ok("zone", "add", "spf.example.com", *self.NS, "--hostmaster", "ab@cd.ef")
        dump = subprocess.run(["mdb_dump", "-p", "-s", "zones", self.db.dir],
                              capture_output=True, text=True, check=True).stdout
        self.assertIn("ab@cd.ef", dump)
        path = os.path.join(self.db.root, "zones.dump")
        with open(path, "w") as f:
            f.write(dump.replace("ab@cd.ef", "\\1b[@cd.ef"))
        subprocess.run(["mdb_load", "-f", path, "-s", "zones", self.db.dir],
                       capture_output=True, check=True)
        data = os.path.join(self.db.dir, "data.mdb")
        with open(data, "rb") as f:
            before = f.read()
        # every command that reads the zone refuses, naming it escaped
        for args in (["zone", "set", "spf.example.com", "--ttl", "600"], ["zone", "list"],
                     ["zone", "list", "--json"]):
            r = self.db.run(*args)
            self.assertEqual(r.returncode, 3, (args, r.stderr))
            self.assertIn('the stored hostmaster "\\x1b[@cd.ef" of zone "spf.example.com"',
                          r.stderr)
            self.assertNotIn("\x1b", r.stderr + r.stdout)
        with open(data, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_names(self):
        for bad in ("exa mple.com", "ex*ample.com", "a..b", ".", "", "a." * 2 + ".",
                    "x" * 64 + ".com", "ex/ample"):
            self.db.fails(2, "zone", "add", bad, *self.NS)
        self.db.ok("zone", "add", "under_score-1.example", *self.NS)
        self.db.fails(2, "zone", "add", "z.example", "--ns", "bad host", want=["bad host"])
        self.db.fails(2, "zone", "add", "z.example", "--ns", "a.example.net", "--ns",
                      "A.example.net.", want=["a.example.net"])
        self.db.fails(2, "zone", "add", "z.example", want=["--ns"])

    def test_length_limits(self):
        p120, p121 = name_of_len(120, "example"), name_of_len(121, "example")
        d188, d189 = name_of_len(188, "example.org"), name_of_len(189, "example.org")
        self.db.fails(2, "zone", "add", p121, *self.NS, want=["120"])
        self.db.fails(2, "zone", "add", p121 + ".", *self.NS, want=["120"])
        self.db.fails(2, "zone", "add", d189, "--allocation", "acme", *self.NS, want=["188"])
        self.db.ok("zone", "add", p120 + ".", *self.NS)
        self.db.ok("zone", "add", d188, "--allocation", "acme", *self.NS)
        # a delegated zone longer than 120 cannot become a provider zone
        self.db.fails(2, "zone", "set", d188, "--provider", want=["120"])
        # a provider zone may become delegated
        self.db.ok("zone", "set", p120, "--allocation", "acme")
        self.assertIn("%s delegated:acme " % p120, self.zones())

    def test_no_nesting(self):
        self.db.ok("zone", "add", "spf.example.com", *self.NS)
        self.db.fails(2, "zone", "add", "SPF.example.com.", *self.NS, want=["spf.example.com"])
        self.db.fails(2, "zone", "add", "example.com", *self.NS,
                      want=["above", "spf.example.com"])
        self.db.fails(2, "zone", "add", "x.spf.example.com", *self.NS,
                      want=["below", "spf.example.com"])
        self.db.fails(2, "zone", "add", "com", *self.NS, want=["spf.example.com"])
        self.db.ok("zone", "add", "pf.example.com", *self.NS)  # a sibling, not a parent
        self.db.ok("zone", "add", "xspf.example.com", *self.NS)

    def test_ns_placement(self):
        self.db.ok("zone", "add", "spf.example.com", *self.NS)
        self.db.fails(2, "zone", "add", "z.example", "--ns", "ns1.z.example", "--ns",
                      "ns2.example.net", want=["ns1.z.example", "z.example"])
        self.db.fails(2, "zone", "add", "z.example", "--ns", "ns.spf.example.com", "--ns",
                      "ns2.example.net", want=["ns.spf.example.com", "spf.example.com"])
        self.db.fails(2, "zone", "add", "z.example", "--ns", "spf.example.com",
                      want=["spf.example.com"])
        # a new zone may not swallow another zone's NS host
        self.db.fails(2, "zone", "add", "example.net", "--ns", "ns.example.org",
                      want=["ns1.example.net", "spf.example.com"])
        self.db.fails(2, "zone", "set", "spf.example.com", "--ns", "a.spf.example.com",
                      want=["a.spf.example.com"])
        self.db.ok("zone", "add", "z.example", "--ns", "ns.zz.example")

    def test_one_ns_warns(self):
        r = self.db.ok("zone", "add", "z.example", "--ns", "ns1.example.net")
        self.assertIn("warning", r.stderr)
        self.assertIn("two", r.stderr)

    def test_hostmaster(self):
        self.db.ok("zone", "add", "a.example", "--ns", "ns1.dns.example.net", "--ns",
                   "ns2.example.org")
        self.assertIn(" hostmaster@dns.example.net ", self.zones())
        self.db.ok("zone", "set", "a.example", "--hostmaster", "first.last@example.org")
        self.assertIn(" first.last@example.org ", self.zones())
        self.db.ok("zone", "set", "a.example", "--hostmaster", "")
        self.assertIn(" hostmaster@dns.example.net ", self.zones())
        for bad in ("nobody", "a@b@c", "@example.org", "a..b@example.org", ".a@example.org",
                    "a b@example.org", "x@bad domain", "x" * 64 + "@example.org"):
            self.db.fails(2, "zone", "set", "a.example", "--hostmaster", bad)

    def test_soa_size(self):
        # MNAME (first NS host) + RNAME in wire form: at most 190 octets.
        # wire(name) = len + 2; RNAME = 1 + len(local) + wire(domain).
        ns = name_of_len(150, "example.net")  # 152 octets
        local = "h" * (190 - 152 - 1 - len("example.org") - 2)
        self.db.ok("zone", "add", "a.example", "--ns", ns, "--ns", "ns2.example.org",
                   "--hostmaster", local + "@example.org")
        self.db.fails(2, "zone", "add", "b.example", "--ns", ns, "--ns", "ns2.example.org",
                      "--hostmaster", local + "h@example.org", want=["191", "190"])
        self.db.fails(2, "zone", "set", "a.example", "--hostmaster", local + "h@example.org",
                      want=["191"])
        # the default hostmaster counts too
        self.db.fails(2, "zone", "add", "c.example", "--ns", ns, "--ns", "ns2.example.org",
                      want=["190"])

    def test_ns_answer_size(self):
        # 12 header + question (zone wire + 4) + 11 OPT + each NS (12 + host wire)
        zone = "z.example"
        base = 12 + len(zone) + 2 + 4 + 11
        h1 = name_of_len(144, "example.net")
        h3 = name_of_len(144 + (512 - base - 3 * 14 - 3 * 144), "example.org")
        args = ["--hostmaster", "h@x.example"]
        self.assertEqual(base + 3 * 14 + 2 * 144 + len(h3), 512)
        h1b, h1c = "b" + h1[1:], "c" + h1[1:]
        self.db.ok("zone", "add", zone, "--ns", h1b, "--ns", h1c, "--ns", h3, *args)
        self.db.fails(2, "zone", "add", "y.example2", "--ns", h1b, "--ns", h1c, "--ns", h3,
                      *args, want=["513", "512"])
        self.db.fails(2, "zone", "set", zone, "--ns", h1b, "--ns", h1c,
                      "--ns", name_of_len(len(h3) + 1, "example.org"), *args, want=["513"])

    def test_ttls(self):
        self.db.ok("zone", "add", "z.example", *self.NS, "--ttl", "604800", "--negative-ttl",
                   "86400")
        self.assertIn(" 604800 86400 ", self.zones())
        for opt, val in (("--ttl", "0"), ("--ttl", "604801"), ("--ttl", "1h"), ("--ttl", "-1"),
                         ("--ttl", ""), ("--negative-ttl", "0"), ("--negative-ttl", "86401"),
                         ("--ttl", "99999999999999999999")):
            self.db.fails(2, "zone", "set", "z.example", opt, val, want=[opt])
            self.db.fails(2, "zone", "add", "y.example", *self.NS, opt, val, want=[opt])
        self.db.ok("zone", "set", "z.example", "--ttl", "1", "--negative-ttl", "1")
        self.assertIn(" 1 1 ", self.zones())

    def test_set_and_del(self):
        self.db.ok("zone", "add", "z.example", *self.NS)
        self.db.fails(2, "zone", "set", "y.example", "--ttl", "5", want=["y.example"])
        self.db.fails(2, "zone", "set", "z.example", want=["nothing"])
        self.db.fails(2, "zone", "set", "z.example", "--allocation", "nope", want=["nope"])
        self.db.fails(2, "zone", "add", "y.example", "--allocation", "nope", *self.NS,
                      want=["nope"])
        self.db.fails(2, "zone", "set", "z.example", "--allocation", "acme", "--provider")
        # --ns replaces the whole set; other settings stay
        self.db.ok("zone", "set", "z.example", "--ttl", "900")
        self.db.ok("zone", "set", "z.example", "--ns", "a.example.org", "--ns", "b.example.org",
                   "--ns", "c.example.org", "--allocation", "acme")
        self.assertEqual(self.zones(), "z.example delegated:acme 900 60 hostmaster@example.org "
                                       "a.example.org,b.example.org,c.example.org\n")
        self.db.fails(2, "zone", "del", "y.example", want=["y.example"])
        self.db.fails(2, "zone", "del", "bad name")
        self.db.ok("zone", "del", "Z.Example.")
        self.assertEqual(self.zones(), "")
        # deleting a zone does not touch the allocation
        self.assertIn("acme", self.db.ok("allocation", "list").stdout)


class Bulk(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)
        self.db.ok("add", "192.0.2.0/24")

    def test_million_lines_bad_at_999999(self):
        n = 1000000
        lines = v4_lines(n).splitlines(True)
        lines[999998] = "11.15.66.300\n"
        r = self.db.fails(2, "add", "-", input="".join(lines),
                          want=["line 999999", "'11.15.66.300'"])
        self.assertNotIn("line 1000000", r.stderr)

    def test_bulk_add_and_replace(self):
        n = 100000 if SANITIZE else 1000000
        text = v4_lines(n, step=2)
        t = time.monotonic()
        r = self.db.ok("add", "-", input=text)
        took = time.monotonic() - t
        sys.stderr.write("add - of %d lines: %.2f s\n" % (n, took))
        self.assertEqual(r.stdout, "added %d, skipped 0\n" % n)
        self.assertEqual(self.db.ok("allocation", "list").stdout, "default %d 0\n" % (n + 1))
        # replace: every other line moves by one address
        text2 = "".join(ipv4((11 << 24) + 2 * i + (i & 1)) + "\n" for i in range(n))
        t = time.monotonic()
        r = self.db.ok("replace", "--allocation", "default", "-", input=text2)
        sys.stderr.write("replace - of %d lines: %.2f s\n" % (n, time.monotonic() - t))
        self.assertTrue(r.stdout.endswith("added %d, removed %d, kept %d\n"
                                          % (n // 2, n // 2 + 1, n - n // 2)))
        self.assertEqual(r.stdout.count("\n"), n + 2)
        listed = self.db.ok("list").stdout
        self.assertEqual(listed, text2.replace("\n", "/32\n"))  # text2 is in address order

    def write_input(self, name, text):
        path = os.path.join(self.db.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_concurrent_writers(self):
        n = 20000 if SANITIZE else 100000
        files = [self.write_input("a.txt", v4_lines(n, base=11 << 24)),
                 self.write_input("b.txt", v4_lines(n, base=12 << 24))]
        procs = []
        try:
            for path in files:
                with open(path) as f:
                    procs.append(subprocess.Popen([CTL, "--db", self.db.dir, "add", "-"], stdin=f,
                                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                  text=True))
            outs = [p.communicate(timeout=120) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(out, "added %d, skipped 0\n" % n)
        self.assertEqual(self.db.ok("allocation", "list").stdout, "default %d 0\n" % (2 * n + 1))

    def test_kill9_during_bulk_add(self):
        # large enough that the add runs for a good part of a second: a
        # bulk add merges and appends, and a small one ends before a kill
        n = 200000 if SANITIZE else 1000000
        path = self.write_input("bulk.txt", v4_lines(n, base=13 << 24))

        def start(db):
            with open(path) as f:
                return subprocess.Popen([CTL, "--db", db.dir, "add", "-"], stdin=f,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        scratch = Db(self)
        t = time.monotonic()
        p = start(scratch)
        self.assertEqual(p.wait(timeout=120), 0)
        full = time.monotonic() - t
        killed = 0
        fracs = (0.15, 0.3, 0.5, 0.7, 0.85, 0.95)
        for frac in fracs:
            db = Db(self)
            db.ok("add", "192.0.2.0/24")
            p = start(db)
            try:
                time.sleep(full * frac)
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            killed += p.returncode == -signal.SIGKILL
            counts = db.ok("allocation", "list").stdout
            self.assertIn(counts, ("default 1 0\n", "default %d 0\n" % (n + 1)),
                          "kill at %.0f%%: a partial add" % (frac * 100))
            listed = db.ok("list").stdout.count("\n")
            self.assertEqual("default %d 0\n" % listed, counts)
            # the database still takes writes
            db.ok("add", "198.51.100.0/24")
        sys.stderr.write("add of %d lines took %.2f s; %d of %d killed\n"
                         % (n, full, killed, len(fracs)))
        self.assertGreater(killed, 0, "every add finished before the kill: test proved nothing")


class Output(unittest.TestCase):
    """Listings write nothing while their read transaction is open, and a
    closed pipe or a failed write exits 3 (SPEC section 3)."""

    def setUp(self):
        self.db = Db(self)

    def start(self, *args):
        # unbuffered: readline() takes one line and leaves the rest in the pipe
        p = subprocess.Popen([CTL, "--db", self.db.dir] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, bufsize=0)
        self.addCleanup(self.stop, p)
        return p

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=60)

    def test_closed_pipe_exits_3_silently(self):
        # more than a pipe holds, so the writer is still writing when the
        # reader goes (spfdb-ctl list | head -1)
        self.db.ok("add", "-", input=v4_lines(20000))
        for args in (["list"], ["list", "--json"], ["log"], ["log", "--json"]):
            p = self.start(*args)
            self.assertTrue(p.stdout.readline())
            p.stdout.close()
            err = p.stderr.read()
            self.assertEqual(p.wait(timeout=60), 3, "%s (killed by SIGPIPE if < 0)" % args)
            self.assertEqual(err, b"", args)

    def test_write_error_exits_3(self):
        self.db.ok("add", "192.0.2.0/24")
        for args in (["list"], ["log"], ["allocation", "list"], ["check", "192.0.2.1"],
                     ["replace", "--allocation", "default", "--dry-run", "-"]):
            with open("/dev/full", "w") as full:
                r = subprocess.run([CTL, "--db", self.db.dir] + args, input=b"192.0.2.0/25\n",
                                   stdout=full, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 3, args)
            self.assertIn(b"cannot write the output", r.stderr, args)

    def data_size(self):
        return os.path.getsize(os.path.join(self.db.dir, "data.mdb"))

    def churn(self, chunks):
        """Remove and re-add each chunk: every round rewrites pages."""
        before = self.data_size()
        for text in chunks:
            self.db.ok("del", "-", input=text, leaks=False)
            self.db.ok("add", "-", input=text, leaks=False)
        return self.data_size() - before

    def test_blocked_reader_pins_no_snapshot(self):
        # A listing blocked on a reader that stops reading (list | less)
        # must not hold its snapshot: LMDB could reuse no page freed after
        # it, and data.mdb would grow with every write.
        n = 40000 if SANITIZE else 100000
        self.db.ok("add", "-", input=v4_lines(n, step=3), leaks=False)
        lines = v4_lines(n, step=3).splitlines(True)
        chunks = ["".join(lines[i::8][:n // 16]) for i in range(8)]
        self.churn(chunks)  # settle the free list
        alone = self.churn(chunks)
        for args in (["log", "--json"], ["list"]):
            snapshot = self.db.ok(*args, leaks=False).stdout if args == ["list"] else None
            p = self.start(*args)
            self.assertTrue(p.stdout.readline())  # it is running, stdout full
            grown = self.churn(chunks)
            sys.stderr.write("%s blocked: data.mdb grew %d bytes (%d without it)\n"
                             % (args, grown, alone))
            self.assertLessEqual(grown, alone + (1 << 20), "%s pinned its snapshot" % args)
            rest, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
            if snapshot is not None:  # one consistent snapshot, from before the churn
                self.assertEqual(snapshot.split("\n", 1)[1], rest.decode())
            else:  # the log's chunks join up: every record once, in order
                records = json.loads("[" + rest.decode())
                self.assertGreaterEqual(len(records), 1 + 3 * 16)
                self.assertEqual([r["seq"] for r in records], list(range(1, len(records) + 1)))
                self.assertEqual([len(r["changes"]) for r in records],
                                 [n] + [n // 16] * (len(records) - 1))


def run_with(args, stdout, stdin=None, input=None, close=()):
    """Run ctl with STDOUT (a file object, an fd, or DEVNULL) and stderr
    captured; the fds in CLOSE are closed in the child before exec, as a
    shell's >&- does.  Returns (exit status, stderr bytes)."""
    def pre():
        for fd in close:
            os.close(fd)
    p = subprocess.run([CTL] + list(args), input=input, stdin=stdin, stdout=stdout,
                       stderr=subprocess.PIPE, timeout=120, preexec_fn=pre if close else None)
    return p.returncode, p.stderr


def closed_pipe():
    """The write end of a pipe whose reader has gone: every write is EPIPE."""
    r, w = os.pipe()
    os.close(r)
    return w


class Committed(unittest.TestCase):
    """Exit 4: a writing command whose change was committed but whose report
    could not be written (SPEC section 3).  3 says 'nothing changed, safe to
    retry'; after a commit that is false, and a retried del then exits 2."""

    # Each writing command: the setup it needs, its arguments and stdin, what
    # the database shows after it ((listing command, expected output)), and
    # whether it reports on stdout.  Writers that print nothing have no
    # report to lose: they exit 0 whatever stdout is.
    ZONE = ["zone", "add", "s.example", "--ns", "ns1.example.net", "--ns", "ns2.example.net"]
    ZONE_LINE = "s.example provider %d 60 hostmaster@example.net ns1.example.net,ns2.example.net\n"
    WRITERS = [
        ("add", [], ["add", "192.0.2.0/24"], None,
         (["list"], "192.0.2.0/24\n198.51.100.0/24\n"), True),
        ("add -", [], ["add", "-"], b"192.0.2.0/24\n",
         (["list"], "192.0.2.0/24\n198.51.100.0/24\n"), True),
        ("del", [["add", "192.0.2.0/24"]], ["del", "192.0.2.0/24"], None,
         (["list"], "198.51.100.0/24\n"), True),
        ("replace", [], ["replace", "--allocation", "default", "-"], b"203.0.113.0/24\n",
         (["list"], "203.0.113.0/24\n"), True),
        ("import", [], ["import", "-"], b"acme 203.0.113.0/24\n",
         (["list", "--allocation", "acme"], "203.0.113.0/24\n"), True),
        ("import -", [["import", "-"]], ["import", "--replace", "-"], b"default 203.0.113.0/24\n",
         (["list"], "203.0.113.0/24\n"), True),
        ("allocation add", [], ["allocation", "add", "acme"], None,
         (["allocation", "list"], "acme 0 0\ndefault 1 0\n"), False),
        ("allocation set", [["allocation", "add", "acme"], ["allocation", "add", "eu"]],
         ["allocation", "set", "acme", "--member", "eu"], None,
         (["allocation", "list"], "acme 0 0 eu\ndefault 1 0\neu 0 0\n"), False),
        ("allocation del", [["allocation", "add", "acme"]], ["allocation", "del", "acme"], None,
         (["allocation", "list"], "default 1 0\n"), False),
        ("zone add", [], ZONE, None, (["zone", "list"], ZONE_LINE % 300), False),
        ("zone set", [ZONE], ["zone", "set", "s.example", "--ttl", "600"], None,
         (["zone", "list"], ZONE_LINE % 600), False),
        ("zone del", [ZONE], ["zone", "del", "s.example"], None, (["zone", "list"], ""), False),
    ]
    READERS = ["list", "check", "allocation list", "zone list", "log", "spf-record", "backup"]
    # writers whose exit 4 is tested with what they need: import-spf a DNS
    # server (test_import_spf.py)
    ELSEWHERE = ["import-spf"]

    def test_every_writer_is_covered(self):
        self.assertEqual(sorted({w[0].rstrip(" -") for w in self.WRITERS} | set(self.READERS) |
                                set(self.ELSEWHERE)),
                         sorted(COMMANDS))

    def check_writer(self, how, open_stdout):
        for name, setup, args, stdin, (show, want), reports in self.WRITERS:
            db = Db(self)
            db.ok("add", "198.51.100.0/24", leaks=False)
            for s in setup:
                db.ok(*s, leaks=False)
            out = open_stdout()
            try:
                code, err = run_with(["--db", db.dir] + args, out, input=stdin or b"")
            finally:
                os.close(out) if isinstance(out, int) else out.close()
            what = "%s, stdout %s: %s" % (name, how, err)
            self.assertEqual(db.ok(*show, leaks=False).stdout, want, "not committed: " + what)
            if reports:
                self.assertEqual(code, 4, what)
                self.assertIn(b"the change was committed", err, what)
                self.assertIn(b"do not retry", err, what)
            else:
                self.assertEqual((code, err), (0, b""), what)

    def test_help_names_4(self):
        r = subprocess.run([CTL, "--help"], capture_output=True, text=True, timeout=60)
        self.assertIn("4 the change was committed but its report could not be written",
                      r.stdout)

    def test_dev_full(self):
        self.check_writer("/dev/full", lambda: open("/dev/full", "wb"))

    def test_closed_pipe(self):
        # not killed by SIGPIPE (that would be a negative status), and not silent
        self.check_writer("a closed pipe", closed_pipe)

    def test_retried_del_exits_2(self):
        # Why 4 matters: a script that retries on 3 would retry this del,
        # and the retry finds nothing to delete.
        self.db = Db(self)
        self.db.ok("add", "192.0.2.0/24", "198.51.100.0/24")
        with open("/dev/full", "wb") as full:
            code, err = run_with(["--db", self.db.dir, "del", "192.0.2.0/24"], full)
        self.assertEqual(code, 4, err)
        r = self.db.fails(2, "del", "192.0.2.0/24", want=["not an entry"])
        self.assertEqual(r.stdout, "")

    def test_dry_run_and_readers_keep_3(self):
        # Nothing was committed: a failed listing is still 3, as Output checks;
        # here the same for a dry run to a closed pipe.
        db = Db(self)
        db.ok("add", "192.0.2.0/24")
        w = closed_pipe()
        try:
            code, err = run_with(["--db", db.dir, "replace", "--allocation", "default",
                                  "--dry-run", "-"], w, input=b"198.51.100.0/24\n")
        finally:
            os.close(w)
        self.assertEqual(code, 3, err)
        self.assertNotIn(b"committed", err)
        self.assertEqual(db.ok("list").stdout, "192.0.2.0/24\n")


class StdFds(unittest.TestCase):
    """Started with fds 0, 1 or 2 closed, ctl opens /dev/null on them before
    anything else, so that LMDB's files never take those numbers and no
    listing, count or message is written into data.mdb or lock.mdb
    (SPEC section 3)."""

    SETS = [(0,), (1,), (2,), (0, 1), (1, 2), (0, 1, 2)]
    PRINTED = (b"added ", b"removed ", b"special-use", b"not an entry", b"192.0.2.0/24\n",
               b'"entries"', b"default 1 1", b"seq=")

    def setUp(self):
        self.db = Db(self)
        self.db.ok("add", "192.0.2.0/24", "2001:db8::/32")

    def files(self):
        out = {}
        for f in ("data.mdb", "lock.mdb"):
            with open(os.path.join(self.db.dir, f), "rb") as fh:
                out[f] = fh.read()
        return out

    def run_closed(self, close, *args, input=None):
        """ctl ARGS with the fds CLOSE closed, the others: stdin INPUT, stdout
        and stderr captured.  (exit status, stdout, stderr); None for a closed one."""
        def pre():
            for fd in close:
                os.close(fd)
        p = subprocess.run([CTL, "--db", self.db.dir] + list(args), input=input,
                           stdin=subprocess.DEVNULL if input is None else None,
                           capture_output=True, timeout=120, preexec_fn=pre)
        # nothing ctl prints may land in the database files (the change log
        # holds command lines, so the marks are bits of output only)
        for f, data in self.files().items():
            for text in self.PRINTED:
                self.assertFalse(text in data, "%s closed, %s: %r written into %s"
                                 % (close, args, text, f))
        return (p.returncode, None if 1 in close else p.stdout.decode(),
                None if 2 in close else p.stderr.decode())

    def listing(self):
        return self.db.ok("list", leaks=False).stdout

    def test_list(self):
        data = self.files()["data.mdb"]
        for close in self.SETS:
            for args in (["list"], ["list", "--json"], ["allocation", "list"], ["log"]):
                code, out, err = self.run_closed(close, *args)
                self.assertEqual(code, 0, "%s closed, %s: %s" % (close, args, err))
                if out is not None and args == ["list"]:
                    self.assertEqual(out, "192.0.2.0/24\n2001:db8::/32\n")
                self.assertEqual(self.files()["data.mdb"], data, "%s closed, %s" % (close, args))
                self.assertEqual(self.listing(), "192.0.2.0/24\n2001:db8::/32\n", close)

    def test_writers(self):
        # a special-use prefix: a warning on stderr after the commit.  With
        # fd 1 closed ctl writes its count to /dev/null, which succeeds: 0.
        want = "192.0.2.0/24\n2001:db8::/32\n"
        for k, close in enumerate(self.SETS):
            prefix = "10.%d.0.0/16" % k
            code, out, err = self.run_closed(close, "add", prefix)
            self.assertEqual(code, 0, "%s closed: %s" % (close, err))
            if out is not None:
                self.assertEqual(out, "added 1, skipped 0\n")
            if err is not None:
                self.assertIn("special-use", err)
            self.assertIn(prefix + "\n", self.listing(), close)
            code, out, err = self.run_closed(close, "del", prefix)
            self.assertEqual(code, 0, "%s closed: %s" % (close, err))
            self.assertEqual(self.listing(), want, close)
            # refused input: the message goes to stderr (or /dev/null)
            code, out, err = self.run_closed(close, "del", "203.0.113.0/24")
            self.assertEqual(code, 2, close)
            self.assertEqual(self.listing(), want, close)

    def test_closed_stdin_reads_as_empty(self):
        # `add -` with stdin closed reads /dev/null: nothing to add, as `add - </dev/null`
        code, out, err = self.run_closed((0,), "add", "-")
        self.assertEqual((code, out), (0, "added 0, skipped 0\n"), err)
        self.assertEqual(self.listing(), "192.0.2.0/24\n2001:db8::/32\n")


def take_args(n_paths=0):
    """The command line every tests/cli script takes: spfdb-ctl's path, N_PATHS
    more paths (returned, absolute), --sanitize (a sanitizer build: smaller
    loads), then unittest's own arguments (returned)."""
    global CTL, SANITIZE
    args = sys.argv[1:]
    CTL = os.path.abspath(args.pop(0))
    paths = [os.path.abspath(args.pop(0)) for _ in range(n_paths)]
    if args and args[0] == "--sanitize":
        SANITIZE = True
        args.pop(0)
    return paths, args


def run(args):
    unittest.main(module="__main__", argv=[sys.argv[0], "-v"] + args)


def main():
    run(take_args()[1])


if __name__ == "__main__":
    main()
