"""spfdb-ctl import (SPEC §3's conventions for a bulk command): the input
format, errors naming the line, nothing written on any error, --dry-run,
the per-allocation diff, --json, and the resulting sets checked against a
Python model with random data.

Usage: test_import.py CTL [--sanitize] [unittest args]
"""
import ipaddress
import json
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_ctl  # noqa: E402
from test_ctl import Db  # noqa: E402


def canon(p):
    return str(ipaddress.ip_network(p))


def sort_key(p):
    n = ipaddress.ip_network(p)
    return (n.version, int(n.network_address), n.prefixlen)


class Model:
    """What the database should hold: allocation name -> set of prefixes."""

    def __init__(self, db):
        self.sets = {}
        for line in db.ok("allocation", "list", leaks=False).stdout.splitlines():
            name = line.split()[0]
            self.sets[name] = set(db.ok("list", "--allocation", name, leaks=False).stdout.split())

    def check(self, tc, db):
        got = Model(db)
        tc.assertEqual(got.sets, self.sets)


def lines_of(pairs):
    return "".join("%s %s\n" % p for p in pairs)


class Format(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)
        self.db.ok("allocation", "list")

    def test_onboard(self):
        text = ("# customers\n"
                "acme 192.0.2.0/24\n"
                "  acme\t2001:DB8::/32   # a comment\r\n"
                "\n"
                "Beta 198.51.100.7\n"
                "gamma\n"
                "acme 192.0.2.0/24\n")
        r = self.db.ok("import", "-", input=text)
        self.assertEqual(r.stdout,
                         "acme: added 2, skipped 1 (new allocation)\n"
                         "beta: added 1, skipped 0 (new allocation)\n"
                         "gamma: added 0, skipped 0 (new allocation)\n"
                         "allocations 3 (new 3, unchanged 0): added 3, skipped 1\n")
        self.assertIn("stdin line 7: 192.0.2.0/24 repeats line 2, skipped", r.stderr)
        self.assertEqual(self.db.ok("allocation", "list").stdout,
                         "acme 1 1\nbeta 1 0\ndefault 0 0\ngamma 0 0\n")
        self.assertEqual(self.db.ok("list", "--allocation", "acme").stdout,
                         "192.0.2.0/24\n2001:db8::/32\n")
        # again: everything present, nothing committed
        before = self.db.state()
        r = self.db.ok("import", "-", input=text)
        self.assertEqual(r.stdout, "allocations 3 (new 0, unchanged 3): added 0, skipped 4\n")
        self.assertIn("stdin line 2: 192.0.2.0/24 already present, skipped", r.stderr)
        self.assertEqual(self.db.state(), before)

    def test_file_and_same_prefix_in_two_allocations(self):
        path = os.path.join(self.db.root, "in.txt")
        with open(path, "w") as f:
            f.write("b 192.0.2.0/24\na 192.0.2.0/24\n")
        self.db.ok("import", path)
        self.assertEqual(self.db.ok("list", "--allocation", "a").stdout, "192.0.2.0/24\n")
        self.assertEqual(self.db.ok("list", "--allocation", "b").stdout, "192.0.2.0/24\n")

    def test_errors_name_the_line_and_change_nothing(self):
        self.db.ok("import", "-", input="acme 192.0.2.0/24\n")
        cases = [
            ("acme 192.0.2.0/24\nacme 198.51.100.7/24\n",
             ["stdin line 2", "'198.51.100.7/24'", "198.51.100.0/24"]),
            ("acme 192.0.2.1\nbad_name 192.0.2.0/24\n",
             ["stdin line 2", "bad allocation name 'bad_name'"]),
            ("acme 192.0.2.1\n-acme 192.0.2.0/24\n", ["stdin line 2", "'-acme'"]),
            ("acme 192.0.2.1\n" + "a" * 64 + " 192.0.2.0/24\n", ["stdin line 2", "longer"]),
            ("acme 192.0.2.1\nacme 192.0.2.0/24 198.51.100.0/24\n",
             ["stdin line 2", "one allocation and one prefix a line"]),
            ("acme 192.0.2.1\nglobal member\n",
             ["stdin line 2", "'global member'", "ALLOCATION member NAME"]),
            ("acme 192.0.2.1\nglobal member eu us\n",
             ["stdin line 2", "'global member eu us'", "ALLOCATION member NAME"]),
            ("acme 192.0.2.1\nglobal member e_u\n",
             ["stdin line 2", "bad allocation name 'e_u'"]),
            ("acme 192.0.2.1\nglobal member eu\n",
             ["stdin line 2", "unknown allocation 'eu'", "member of 'global'"]),
            ("acme 192.0.2.1\nacme bogus\n", ["stdin line 2", "'bogus'"]),
            ("acme 192.0.2.1\nacme 0.0.0.0/7\n", ["stdin line 2", "'0.0.0.0/7'", "--force"]),
            ("x 192.0.2.1\n" * 3 + "acme 192.0.2.1\n192.0.2.5\n",
             ["stdin line 5", "bad allocation name '192.0.2.5'", "the allocation first"]),
        ]
        for text, want in cases:
            self.db.fails(2, "import", "-", input=text, want=want)
            self.db.fails(2, "import", "--replace", "-", input=text, want=want)
            self.db.fails(2, "import", "--dry-run", "-", input=text, want=want)
        # the first bad line is the one named
        r = self.db.fails(2, "import", "-", input="acme 1.2.3.4/33\nacme bogus\n")
        self.assertNotIn("bogus", r.stderr)
        # a file that cannot be read; --allow-empty without --replace
        self.db.fails(2, "import", os.path.join(self.db.root, "missing"), want=["missing"])
        self.db.fails(2, "import", "--allow-empty", "-", input="acme 192.0.2.0/24\n",
                      want=["--allow-empty", "--replace"])
        self.db.fails(2, "import")
        self.db.fails(2, "import", "a", "b")
        self.db.fails(2, "import", "--allocation", "acme", "-", input="acme 192.0.2.0/24\n")

    def test_wide_needs_force(self):
        self.db.fails(2, "import", "-", input="acme 0.0.0.0/7\n", want=["--force"])
        r = self.db.ok("import", "--force", "-", input="acme 0.0.0.0/7\nacme 10.0.0.0/8\n")
        self.assertIn("warning: stdin line 1: 0.0.0.0/7 is shorter than /8", r.stderr)
        self.assertIn("warning: stdin line 2: 10.0.0.0/8 is special-use", r.stderr)
        # --replace keeps a wide entry without --force, refuses a new one
        self.db.ok("import", "--replace", "-", input="acme 0.0.0.0/7\nacme 10.0.0.0/8\n")
        self.db.fails(2, "import", "--replace", "-", input="acme 0.0.0.0/7\nacme 2000::/15\n",
                      want=["'2000::/15'", "--force", "acme"])

    def test_mapped_is_stored_as_ipv4(self):
        r = self.db.ok("import", "-", input="acme ::ffff:198.51.100.0/120\n")
        self.assertIn("stored as 198.51.100.0/24", r.stderr)
        self.assertEqual(self.db.ok("list", "--allocation", "acme").stdout, "198.51.100.0/24\n")

    def test_replica_refuses(self):
        self.db.ok("key", "add", "k")
        self.db.ok("primary", "set", "127.0.0.1:5399", "--key", "k", "--zone", "xfr.example")
        self.db.fails(2, "import", "-", input="acme 192.0.2.0/24\n", want=["replica"])


class Replace(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)
        self.db.ok("import", "-", input=("acme 192.0.2.0/24\nacme 198.51.100.0/24\n"
                                         "beta 203.0.113.0/24\nbeta 2001:db8::/48\n"
                                         "keep 192.0.2.0/24\n"))

    def test_diff_per_allocation(self):
        text = ("beta 203.0.113.0/24\nbeta 2001:db8:1::/48\n"
                "acme 192.0.2.0/24\nacme 192.0.2.128/25\n"
                "new 198.51.100.0/25\n")
        dry = self.db.run("import", "--replace", "--dry-run", "-", input=text)
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn("dry run: nothing changed", dry.stderr)
        before = self.db.state()
        want = ("+ acme 192.0.2.128/25\n"
                "- acme 198.51.100.0/24\n"
                "acme: added 1, removed 1, kept 1\n"
                "- beta 2001:db8::/48\n"
                "+ beta 2001:db8:1::/48\n"
                "beta: added 1, removed 1, kept 1\n"
                "+ new 198.51.100.0/25\n"
                "new: added 1, removed 0, kept 0 (new allocation)\n"
                "allocations 3 (new 1, unchanged 0): added 3, removed 2, kept 2\n")
        self.assertEqual(dry.stdout, want)
        self.assertEqual(self.db.state(), before)
        self.assertEqual(self.db.ok("import", "--replace", "-", input=text).stdout, want)
        m = {"acme": {"192.0.2.0/24", "192.0.2.128/25"},
             "beta": {"203.0.113.0/24", "2001:db8:1::/48"},
             "keep": {"192.0.2.0/24"}, "new": {"198.51.100.0/25"}, "default": set()}
        self.assertEqual(Model(self.db).sets, m)
        # the same again: nothing changes, nothing is committed
        before = self.db.state()
        r = self.db.ok("import", "--replace", "-", input=text)
        self.assertEqual(r.stdout, "allocations 3 (new 0, unchanged 3): added 0, removed 0, "
                                   "kept 5\n")
        self.assertEqual(self.db.state(), before)
        # one change log record for the whole import
        log = self.db.ok("log").stdout
        self.assertEqual(len({l.split()[1] for l in log.splitlines()
                              if "import --replace" in l}), 1)

    def test_empty_needs_allow_empty(self):
        self.db.fails(2, "import", "--replace", "-", input="acme\nbeta 203.0.113.0/24\n",
                      want=["stdin line 1", "'acme' empty", "--allow-empty"])
        self.db.fails(2, "import", "--replace", "--dry-run", "-", input="acme\n",
                      want=["--allow-empty"])
        r = self.db.ok("import", "--replace", "--allow-empty", "-", input="acme\n")
        self.assertEqual(r.stdout, "- acme 192.0.2.0/24\n- acme 198.51.100.0/24\n"
                                   "acme: added 0, removed 2, kept 0\n"
                                   "allocations 1 (new 0, unchanged 0): added 0, removed 2, "
                                   "kept 0\n")
        self.assertEqual(self.db.ok("list", "--allocation", "acme").stdout, "")
        # an empty allocation listed alone stays empty; a new one is made
        r = self.db.ok("import", "--replace", "-", input="acme\nfresh\n")
        self.assertEqual(r.stdout, "fresh: added 0, removed 0, kept 0 (new allocation)\n"
                                   "allocations 2 (new 1, unchanged 1): added 0, removed 0, "
                                   "kept 0\n")

    def test_json(self):
        text = "acme 192.0.2.0/24\nacme 192.0.2.128/25\nzed 198.51.100.0/24\n"
        r = self.db.ok("import", "--replace", "--dry-run", "--json", "-", input=text)
        doc = json.loads(r.stdout)
        self.assertEqual(doc, {
            "dry_run": True, "replace": True,
            "allocations": [
                {"allocation": "acme", "new": False, "added": ["192.0.2.128/25"],
                 "members_added": [], "members_removed": [],
                 "removed": ["198.51.100.0/24"], "kept": 1},
                {"allocation": "zed", "new": True, "added": ["198.51.100.0/24"],
                 "members_added": [], "members_removed": [],
                 "removed": [], "kept": 0}],
            "totals": {"allocations": 2, "new": 1, "unchanged": 0, "added": 2, "removed": 1,
                       "kept": 1, "members_added": 0, "members_removed": 0}})
        r = self.db.ok("import", "--json", "-", input=text)
        doc = json.loads(r.stdout)
        self.assertEqual(doc, {
            "dry_run": False, "replace": False,
            "allocations": [
                {"allocation": "acme", "new": False, "added": ["192.0.2.128/25"],
                 "members_added": [], "skipped": 1},
                {"allocation": "zed", "new": True, "added": ["198.51.100.0/24"],
                 "members_added": [], "skipped": 0}],
            "totals": {"allocations": 2, "new": 1, "unchanged": 0, "added": 2,
                       "members_added": 0, "skipped": 1}})

    def test_atomic_on_error_late_in_the_input(self):
        """A refusal found in the transaction (the last allocation) leaves
        the allocations before it as they were."""
        before = self.db.state()
        self.db.fails(2, "import", "--replace", "-",
                      input="acme 192.0.2.0/25\nbeta 203.0.113.0/24\nzzz 2000::/15\n",
                      want=["'2000::/15'"])
        self.assertEqual(self.db.state(), before)


class Oracle(unittest.TestCase):
    """Random allocations and prefixes, imported and replaced, against a
    Python model of the sets."""

    def setUp(self):
        self.db = Db(self)
        self.db.ok("allocation", "list")
        self.rng = random.Random(int(os.environ.get("SPFDB_TEST_SEED", "20261207")))

    def prefix(self):
        rng = self.rng
        if rng.random() < 0.75:
            ln = rng.choice([16, 20, 24, 24, 28, 30, 32, 32])
            a = (rng.choice([11, 12, 13]) << 24 | rng.randrange(1 << 16) << 8
                 | rng.randrange(256)) >> (32 - ln) << (32 - ln)
            return "%s/%d" % (ipaddress.IPv4Address(a), ln)
        ln = rng.choice([32, 40, 48, 56, 64, 128])
        a = (0x2a00 << 112 | rng.randrange(1 << 24) << 88) >> (128 - ln) << (128 - ln)
        return "%s/%d" % (ipaddress.IPv6Address(a), ln)

    def test_random(self):
        """An allocation of the model not in the input is untouched."""
        names = ["c%03d" % i for i in range(60)]
        model = Model(self.db)
        for rnd in range(8):
            replace = rnd % 2 == 1
            pairs = []
            for name in self.rng.sample(names, 25):
                if self.rng.random() < 0.1:
                    pairs.append((name, ""))  # listed alone
                have = sorted(model.sets.get(name, ()), key=sort_key)
                keep = [p for p in have if self.rng.random() < 0.6] if replace else []
                new = [self.prefix() for _ in range(self.rng.randrange(0, 30))]
                pairs += [(name, p) for p in keep + new]
                if new and self.rng.random() < 0.2:
                    pairs.append((name, new[0]))  # a repeat
            self.rng.shuffle(pairs)
            listed = {n for n, _ in pairs}  # a name with no line is not listed
            args = ["import"] + (["--replace", "--allow-empty"] if replace else []) + ["-"]
            r = self.db.ok(*args, input=lines_of(pairs))
            # the model
            want = {}
            for name, p in pairs:
                want.setdefault(name, set())
                if p:
                    want[name].add(canon(p))
            diff = {}
            for name in listed:
                old = model.sets.get(name, set())
                new = want[name] if replace else old | want[name]
                diff[name] = (sorted(new - old, key=sort_key), sorted(old - new, key=sort_key),
                              name not in model.sets)
                model.sets[name] = new
            model.check(self, self.db)
            # the report, line by line
            out, tot = [], [0, 0, 0]
            for name in sorted(listed):
                added, removed, created = diff[name]
                tot[0] += created
                tot[1] += not created and not added and not removed
                if not (added or removed or created):
                    continue
                if replace:
                    marks = sorted([(sort_key(p), "+", p) for p in added] +
                                   [(sort_key(p), "-", p) for p in removed])
                    out += ["%s %s %s" % (m, name, p) for _, m, p in marks]
                    out.append("%s: added %d, removed %d, kept %d%s" % (
                        name, len(added), len(removed), len(model.sets[name]) - len(added),
                        " (new allocation)" if created else ""))
                else:
                    given = {canon(p) for n, p in pairs if n == name and p}
                    out.append("%s: added %d, skipped %d%s" % (
                        name, len(added), sum(1 for n, p in pairs if n == name and p)
                        - len(added), " (new allocation)" if created else ""))
                    self.assertLessEqual(set(added), given)
            self.assertEqual(r.stdout.splitlines()[:-1], out, "round %d" % rnd)
            self.assertTrue(r.stdout.splitlines()[-1].startswith(
                "allocations %d (new %d, unchanged %d): added %d, " % (
                    len(listed), tot[0], tot[1], sum(len(d[0]) for d in diff.values()))))
            # JSON of a dry run of the same input says the same, changes nothing
            before = self.db.state()
            doc = json.loads(self.db.ok(*(args[:-1] + ["--dry-run", "--json", "-"]),
                                        input=lines_of(pairs)).stdout)
            self.assertEqual(self.db.state(), before)
            self.assertEqual([a["allocation"] for a in doc["allocations"]], sorted(listed))
            for a in doc["allocations"]:
                self.assertEqual(a["added"], [])
                self.assertFalse(a["new"])
                if replace:
                    self.assertEqual(a["removed"], [])

    def test_many_allocations(self):
        """10,000 allocations of a few prefixes each, in one run."""
        pairs = []
        for i in range(10000):
            for k in range(3):
                pairs.append(("n%05d" % i, "%s/32" % ipaddress.IPv4Address(
                    (11 << 24) + i * 4 + k)))
        self.rng.shuffle(pairs)
        r = self.db.ok("import", "-", input=lines_of(pairs), timeout=600)
        self.assertTrue(r.stdout.endswith(
            "allocations 10000 (new 10000, unchanged 0): added 30000, skipped 0\n"))
        lines = self.db.ok("allocation", "list").stdout.splitlines()
        self.assertEqual(len(lines), 10001)
        self.assertEqual(lines[1], "n00000 3 0")
        self.assertEqual(self.db.ok("list", "--allocation", "n09999").stdout,
                         "".join("%s/32\n" % ipaddress.IPv4Address((11 << 24) + 39996 + k)
                                 for k in range(3)))
        self.assertEqual(self.db.ok("check", "--allocation", "n04321",
                                    str(ipaddress.IPv4Address((11 << 24) + 4321 * 4 + 2))
                                    ).returncode, 0)
        self.assertEqual(self.db.run("check", "--allocation", "n04321",
                                     str(ipaddress.IPv4Address((11 << 24) + 4321 * 4 + 3))
                                     ).returncode, 1)


if __name__ == "__main__":
    test_ctl.CTL = os.path.abspath(sys.argv[1])
    args = sys.argv[2:]
    if args and args[0] == "--sanitize":
        test_ctl.SANITIZE = True
        args = args[1:]
    unittest.main(argv=[sys.argv[0]] + args, verbosity=2)
