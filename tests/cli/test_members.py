"""spfdb-ctl's member allocations (SPEC §2 "members", §3 `allocation
add/set/del/list`, `check`, `import` member lines, `log`): each refusal with
its exit status, its message naming the allocation concerned and the
database unchanged; round trips; the live union seen by `check`.

Usage: test_members.py CTL [--sanitize] [unittest args, e.g. a TestCase name]
"""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_ctl  # noqa: E402  (CTL, SANITIZE)
from test_ctl import Db  # noqa: E402


def regions(db):
    """eu, us, apac with an entry each (eu two), and global without members."""
    db.ok("allocation", "add", "eu")
    db.ok("allocation", "add", "us")
    db.ok("allocation", "add", "apac")
    db.ok("allocation", "add", "global")
    db.ok("add", "--allocation", "eu", "198.51.100.0/24", "2001:db8:e::/48")
    db.ok("add", "--allocation", "us", "203.0.113.0/24")
    db.ok("add", "--allocation", "apac", "192.0.2.0/25")


def members_of(db, name):
    for a in json.loads(db.ok("allocation", "list", "--json").stdout):
        if a["name"] == name:
            return a["members"]
    raise AssertionError("no allocation %s" % name)


class Refusals(unittest.TestCase):
    """Every refusal: exit 2, the message names who, nothing changes."""

    def setUp(self):
        self.db = Db(self)
        regions(self.db)
        self.db.ok("allocation", "set", "global", "--member", "eu", "--member", "us")

    def test_unknown_member(self):
        db = self.db
        db.fails(2, "allocation", "set", "global", "--member", "eu", "--member", "mars",
                 want=["unknown allocation 'mars'", "'global'"])
        db.fails(2, "allocation", "add", "world", "--member", "mars",
                 want=["unknown allocation 'mars'"])
        db.fails(2, "allocation", "set", "nope", "--member", "eu",
                 want=["unknown allocation 'nope'"])

    def test_member_with_members(self):
        db = self.db
        db.fails(2, "allocation", "add", "world", "--member", "global", "--member", "apac",
                 want=["'global' cannot be a member of 'world'", "members of its own"])
        db.ok("allocation", "add", "world")
        db.fails(2, "allocation", "set", "world", "--member", "global",
                 want=["'global' cannot be a member of 'world'", "members of its own"])

    def test_self(self):
        db = self.db
        db.fails(2, "allocation", "set", "apac", "--member", "apac",
                 want=["allocation 'apac' cannot be a member of itself"])
        db.fails(2, "allocation", "add", "solo", "--member", "solo",
                 want=["'solo'", "member of itself"])

    def test_member_gets_no_members(self):
        # eu is a member of global: it has none itself
        self.db.fails(2, "allocation", "set", "eu", "--member", "apac",
                      want=["allocation 'eu' is a member of 'global'", "cannot have members"])

    def test_too_many(self):
        db = self.db
        names = ["r%02d" % i for i in range(33)]
        for n in names:
            db.ok("allocation", "add", n)
        args = []
        for n in names:
            args += ["--member", n]
        db.fails(2, "allocation", "set", "apac", *args, want=["r32", "at most 32"])
        db.fails(2, "allocation", "add", "big", *args, want=["at most 32"])
        # 32 is the most, and a name given twice counts once
        db.ok("allocation", "add", "big", *(args[:64] + ["--member", "r00"]))
        self.assertEqual(members_of(db, "big"), names[:32])

    def test_del_member_of_another(self):
        db = self.db
        db.fails(2, "allocation", "del", "eu", want=["allocation 'eu' is a member of 'global'"])
        db.fails(2, "allocation", "del", "--force", "us", want=["'us'", "'global'"])
        db.ok("allocation", "add", "world", "--member", "us")
        db.fails(2, "allocation", "del", "--force", "us", want=["'global', 'world'"])

    def test_del_zone_bound_still_names_zones(self):
        db = self.db
        db.ok("zone", "add", "d.example", "--allocation", "eu", "--ns", "ns1.example.net",
              "--ns", "ns2.example.net")
        db.fails(2, "allocation", "del", "--force", "eu", want=["d.example"])

    def test_usage(self):
        db = self.db
        # set needs --member; '' means none and goes alone
        db.fails(2, "allocation", "set", "global", want=["--member"])
        db.fails(2, "allocation", "set", "global", "--member", "", "--member", "eu",
                 want=["--member ''"])
        db.fails(2, "allocation", "set", "global", "--member", "e_u", want=["'e_u'"])


class RoundTrips(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)
        regions(self.db)

    def test_add_set_del_list(self):
        db = self.db
        db.ok("allocation", "add", "World", "--member", "EU", "--member", "us",
              "--member", "apac")
        self.assertEqual(members_of(db, "world"), ["apac", "eu", "us"])
        self.assertEqual(db.ok("allocation", "list").stdout,
                         "apac 1 0\ndefault 0 0\neu 1 1\nglobal 0 0\nus 1 0\n"
                         "world 0 0 apac,eu,us\n")
        doc = json.loads(db.ok("allocation", "list", "--json").stdout)
        self.assertEqual(doc[-1], {"name": "world", "ipv4_entries": 0, "ipv6_entries": 0,
                                   "members": ["apac", "eu", "us"]})
        self.assertEqual(doc[0]["members"], [])
        # list shows an allocation's own entries only
        self.assertEqual(db.ok("list", "--allocation", "world").stdout, "")
        db.ok("allocation", "set", "world", "--member", "us")
        self.assertEqual(members_of(db, "world"), ["us"])
        # the same list again changes nothing: no commit, the serial stays
        before = db.state()
        db.ok("allocation", "set", "world", "--member", "us")
        self.assertEqual(db.state(), before)
        db.ok("allocation", "set", "world", "--member", "")
        self.assertEqual(members_of(db, "world"), [])
        self.assertEqual(db.ok("allocation", "list").stdout.splitlines()[-1], "world 0 0")
        # a union can be deleted; its members stay
        db.ok("allocation", "set", "world", "--member", "eu")
        db.ok("allocation", "del", "world")
        self.assertNotIn("world", db.ok("allocation", "list").stdout)
        self.assertEqual(db.ok("list", "--allocation", "eu").stdout,
                         "198.51.100.0/24\n2001:db8:e::/48\n")
        # once dropped from its union, a member can be deleted
        db.ok("allocation", "set", "global", "--member", "apac")
        db.fails(2, "allocation", "del", "--force", "apac", want=["'global'"])
        db.ok("allocation", "set", "global", "--member", "")
        db.ok("allocation", "del", "--force", "apac")

    def test_add_refused_creates_nothing(self):
        db = self.db
        db.fails(2, "allocation", "add", "world", "--member", "eu", "--member", "nope",
                 want=["'nope'"])
        self.assertNotIn("world", db.ok("allocation", "list").stdout)


class Check(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)
        regions(self.db)
        self.db.ok("allocation", "set", "global", "--member", "eu", "--member", "us",
                   "--member", "apac")

    def test_names_the_member(self):
        db = self.db
        self.assertEqual(db.ok("check", "--allocation", "global", "198.51.100.7").stdout,
                         "198.51.100.0/24 (member eu)\n")
        self.assertEqual(db.ok("check", "--allocation", "global", "2001:db8:e::1").stdout,
                         "2001:db8:e::/48 (member eu)\n")
        r = db.run("check", "--allocation", "global", "192.0.2.200")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("192.0.2.200/32 is not listed in allocation 'global'", r.stderr)
        # a plain allocation prints as before
        self.assertEqual(db.ok("check", "--allocation", "eu", "198.51.100.7").stdout,
                         "198.51.100.0/24\n")
        self.assertEqual(json.loads(db.ok("check", "--allocation", "global", "--json",
                                          "203.0.113.9").stdout),
                         {"allocation": "global", "address": "203.0.113.9", "listed": True,
                          "entry": "203.0.113.0/24", "member": "us"})

    def test_most_specific_wins(self):
        db = self.db
        # the union's own wider entry, a member's narrower one: the member's
        db.ok("add", "--allocation", "global", "198.51.0.0/16")
        self.assertEqual(db.ok("check", "--allocation", "global", "198.51.100.7").stdout,
                         "198.51.100.0/24 (member eu)\n")
        self.assertEqual(db.ok("check", "--allocation", "global", "198.51.7.1").stdout,
                         "198.51.0.0/16\n")
        # the same prefix in the union and a member: the union's own
        db.ok("add", "--allocation", "global", "203.0.113.0/24")
        self.assertEqual(db.ok("check", "--allocation", "global", "203.0.113.9").stdout,
                         "203.0.113.0/24\n")
        # the same prefix in two members: the first in name order
        db.ok("add", "--allocation", "us", "192.0.2.0/25")
        self.assertEqual(db.ok("check", "--allocation", "global", "192.0.2.1").stdout,
                         "192.0.2.0/25 (member apac)\n")

    def test_spf_record_prices_the_union(self):
        """spf-record's _spf line counts the union's CIDRs, not the union's
        own entries (none)."""
        db = self.db
        db.ok("zone", "add", "iphmx.example", "--ns", "ns1.p.example", "--ns", "ns2.p.example")
        out = db.ok("spf-record", "global").stdout
        self.assertIn("(4 CIDRs, in the top record)", out)
        db.ok("allocation", "set", "global", "--member", "us")
        self.assertIn("(1 CIDR, in the top record)", db.ok("spf-record", "global").stdout)

    def test_live_union(self):
        """An entry added to or removed from a member is listed or not in
        the union at once (the library's live union)."""
        db = self.db
        r = db.run("check", "--allocation", "global", "100.64.1.1")
        self.assertEqual(r.returncode, 1)
        db.ok("add", "--allocation", "apac", "100.64.0.0/16")
        self.assertEqual(db.ok("check", "--allocation", "global", "100.64.1.1").stdout,
                         "100.64.0.0/16 (member apac)\n")
        db.ok("del", "--allocation", "apac", "100.64.0.0/16")
        self.assertEqual(db.run("check", "--allocation", "global", "100.64.1.1").returncode, 1)
        # a member dropped takes its entries out of the union
        db.ok("allocation", "set", "global", "--member", "eu", "--member", "apac")
        self.assertEqual(db.run("check", "--allocation", "global", "203.0.113.9").returncode, 1)
        db.ok("allocation", "set", "global", "--member", "eu", "--member", "apac",
              "--member", "us")
        self.assertEqual(db.ok("check", "--allocation", "global", "203.0.113.9").stdout,
                         "203.0.113.0/24 (member us)\n")


class Del(unittest.TestCase):
    """del on a union: its own entries; the members' still list an address."""

    def setUp(self):
        self.db = Db(self)
        regions(self.db)
        self.db.ok("allocation", "set", "global", "--member", "eu", "--member", "us")

    def test_not_an_entry_names_the_member(self):
        self.db.fails(2, "del", "--allocation", "global", "198.51.100.7",
                      want=["'198.51.100.7': not an entry of allocation 'global'",
                            "entry 198.51.100.0/24 of member eu covers it"])
        self.db.fails(2, "del", "--allocation", "global", "192.0.2.1",
                      want=["not an entry of allocation 'global'"])

    def test_still_listed_through_a_member(self):
        db = self.db
        db.ok("add", "--allocation", "global", "198.51.100.0/25", "192.0.2.0/24")
        r = db.ok("del", "--allocation", "global", "198.51.100.0/25", "192.0.2.0/24")
        self.assertEqual(r.stdout, "removed 2\n")
        self.assertEqual(r.stderr, "spfdb-ctl: warning: 198.51.100.0/25 removed but still "
                                   "listed: entry 198.51.100.0/24 of member eu covers it\n")
        self.assertEqual(db.ok("list", "--allocation", "global").stdout, "")


class Import(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def test_plain_adds_members_order_free(self):
        db = self.db
        # the union's line before its members exist, and they made by the file
        text = "global member eu\nglobal member us\neu 198.51.100.0/24\nus 203.0.113.0/24\n"
        r = db.ok("import", "-", input=text)
        self.assertEqual(r.stdout.splitlines(), [
            "eu: added 1, skipped 0 (new allocation)",
            "+ global member eu",
            "+ global member us",
            "global: added 0, skipped 0 (new allocation)",
            "us: added 1, skipped 0 (new allocation)",
            "allocations 3 (new 3, unchanged 0): added 2, skipped 0"])
        self.assertEqual(members_of(db, "global"), ["eu", "us"])
        self.assertEqual(db.ok("check", "--allocation", "global", "203.0.113.1").stdout,
                         "203.0.113.0/24 (member us)\n")
        # plain import adds: us stays, apac joins, a repeated line counts once
        db.ok("allocation", "add", "apac")
        r = db.ok("import", "-", input="global member apac\nglobal member apac\n"
                                       "global member eu\n")
        self.assertEqual(r.stdout, "+ global member apac\n"
                                   "global: added 0, skipped 0\n"
                                   "allocations 1 (new 0, unchanged 0): added 0, skipped 0\n")
        self.assertEqual(members_of(db, "global"), ["apac", "eu", "us"])
        # nothing new: unchanged, no commit
        before = db.state()
        r = db.ok("import", "-", input="global member eu\n")
        self.assertEqual(r.stdout, "allocations 1 (new 0, unchanged 1): added 0, skipped 0\n")
        self.assertEqual(db.state(), before)

    def test_replace_sets_exactly(self):
        db = self.db
        db.ok("import", "-", input="eu 198.51.100.0/24\nus 203.0.113.0/24\napac 192.0.2.0/25\n"
                                   "global member eu\nglobal member us\n")
        text = "global member apac\nglobal member eu\n"
        r = db.ok("import", "--replace", "--dry-run", "-", input=text)
        self.assertEqual(r.stdout.splitlines(), [
            "+ global member apac", "- global member us",
            "global: added 0, removed 0, kept 0",
            "allocations 1 (new 0, unchanged 0): added 0, removed 0, kept 0"])
        self.assertEqual(members_of(db, "global"), ["eu", "us"])
        doc = json.loads(db.ok("import", "--replace", "--json", "-", input=text).stdout)
        self.assertEqual(doc["allocations"], [
            {"allocation": "global", "new": False, "added": [], "members_added": ["apac"],
             "members_removed": ["us"], "removed": [], "kept": 0}])
        self.assertEqual((doc["totals"]["members_added"], doc["totals"]["members_removed"]),
                         (1, 1))
        self.assertEqual(members_of(db, "global"), ["apac", "eu"])
        # an allocation named without member lines is left without members
        r = db.ok("import", "--replace", "-", input="global\neu 198.51.100.0/24\n")
        self.assertEqual(r.stdout.splitlines(), [
            "- global member apac", "- global member eu",
            "global: added 0, removed 0, kept 0",
            "allocations 2 (new 0, unchanged 1): added 0, removed 0, kept 1"])
        self.assertEqual(members_of(db, "global"), [])

    def test_replace_order_free(self):
        """eu leaves global and becomes a union itself in one import: the
        final state is valid, so the import is."""
        db = self.db
        db.ok("import", "-", input="eu\nus\nfr\nglobal member eu\nglobal member us\n")
        db.ok("import", "--replace", "-", input="eu member fr\nglobal member us\n")
        self.assertEqual(members_of(db, "eu"), ["fr"])
        self.assertEqual(members_of(db, "global"), ["us"])
        # and back: eu drops fr and joins global again
        db.ok("import", "--replace", "-", input="global member eu\nglobal member us\neu\n")
        self.assertEqual(members_of(db, "eu"), [])
        self.assertEqual(members_of(db, "global"), ["eu", "us"])

    def test_refusals_name_the_line(self):
        db = self.db
        db.ok("import", "-", input="eu 198.51.100.0/24\nus\nglobal member eu\n")
        many = "".join("r%02d\n" % i for i in range(33)) + \
            "".join("big member r%02d\n" % i for i in range(33))
        cases = [
            ("us 192.0.2.1\nworld member mars\n",
             ["stdin line 2", "unknown allocation 'mars'", "'world'"]),
            ("world member world\n", ["stdin line 1", "'world' cannot be a member of itself"]),
            ("world member global\n",
             ["stdin line 1", "'global' cannot be a member of 'world'", "members of its own"]),
            ("us\neu member us\n",
             ["stdin line 2", "allocation 'eu' is a member of 'global'"]),
            # us becomes a union, and world (new) takes it as a member
            ("world member us\nus member apac\napac\n",
             ["stdin line 1", "'us' cannot be a member of 'world'"]),
            (many, ["stdin line 34", "'big' would have 33 members", "at most 32"]),
        ]
        for text, want in cases:
            for args in (["import", "-"], ["import", "--replace", "--allow-empty", "-"],
                         ["import", "--dry-run", "-"]):
                db.fails(2, *args, input=text, want=want)
        # --replace: eu, still global's member, would get members
        db.fails(2, "import", "--replace", "--allow-empty", "-",
                 input="eu member us\nglobal member eu\n",
                 want=["stdin line 1", "allocation 'eu' is a member of 'global'"])


class Log(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def test_member_changes_logged(self):
        db = self.db
        db.ok("allocation", "add", "eu")
        db.ok("allocation", "add", "us")
        db.ok("allocation", "add", "global", "--member", "eu", "--member", "us")
        db.ok("allocation", "set", "global", "--member", "us")
        lines = db.ok("log").stdout.splitlines()
        ops = [re.search(r" (member-\S+ \S+ \S+)$", l).group(1) for l in lines
               if re.search(r" member-(add|del) ", l)]
        self.assertEqual(ops, ["member-add global eu", "member-add global us",
                               "member-del global eu"])
        # each in the record of its command, after the allocation it makes
        i = next(k for k, l in enumerate(lines) if l.endswith(" allocation-add global"))
        self.assertIn("allocation add global --member eu --member us", lines[i - 1])
        self.assertTrue(lines[i + 1].endswith(" member-add global eu"), lines[i + 1])
        self.assertIn("allocation set global --member us", lines[-2])
        # --allocation eu shows the changes of eu's membership too
        ops = [re.search(r" (member-\S+ \S+ \S+)$", l).group(1)
               for l in db.ok("log", "--allocation", "eu").stdout.splitlines()
               if re.search(r" member-(add|del) ", l)]
        self.assertEqual(ops, ["member-add global eu", "member-del global eu"])
        doc = json.loads(db.ok("log", "--json").stdout)
        ch = [c for r in doc for c in r["changes"] if c["op"].startswith("member-")]
        self.assertEqual(ch[-1], {"op": "member-del", "allocation": "global", "member": "eu"})


def main():
    test_ctl.run(test_ctl.take_args()[1])


if __name__ == "__main__":
    main()
