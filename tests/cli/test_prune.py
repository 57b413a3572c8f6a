"""spfdb-ctl log prune (SPEC §3, issue 15 item 9): change-log retention.

Usage: test_prune.py CTL [--sanitize] [unittest args]
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_ctl  # noqa: E402  (Db, v4_lines)
from test_ctl import Db, v4_lines  # noqa: E402

COMPLETION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib",
                          "spfdb-ctl.bash-completion")
USAGE = "expected 2026-11-23, 2026-11-23T10:00:00Z or a time ago such as 1h or 7d"


def next_second():
    """Sleep into the next second, so that the next commit's stamp is later
    than every one before."""
    time.sleep(1.05 - time.time() % 1)


def records(db):
    return json.loads(db.ok("log", "--json", leaks=False).stdout)


class Prune(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def three(self):
        """Three commits in three seconds: their log records."""
        db = self.db
        for i in range(3):
            if i:
                next_second()
            db.ok("add", "192.0.2.%d" % i)
        recs = records(db)
        self.assertEqual([r["seq"] for r in recs], [1, 2, 3])
        return recs

    def test_at_time_kept_before_dropped(self):
        db = self.db
        recs = self.three()
        full = db.ok("log").stdout.splitlines()
        entries = db.ok("list").stdout
        r = db.ok("log", "prune", "--before", recs[1]["time"])
        self.assertEqual(r.stdout, "dropped 1 record stamped before %s\n"
                         "oldest kept: seq=2 %s\n" % (recs[1]["time"], recs[1]["time"]))
        self.assertEqual(r.stderr, "")
        # log shows exactly the kept records, as before; no record of the prune
        kept = [l for l in full if " seq=1 " not in l]
        self.assertEqual(db.ok("log").stdout.splitlines(), kept)
        self.assertEqual([x["seq"] for x in records(db)], [2, 3])
        self.assertEqual(db.ok("list").stdout, entries)
        # the age form: everything is younger than an hour
        r = db.ok("log", "prune", "--before", "1h")
        self.assertRegex(r.stdout, r"^dropped 0 records stamped before \S+Z\n"
                         r"oldest kept: seq=2 %s\n$" % recs[1]["time"])

    def test_nothing_dropped_commits_nothing(self):
        db = self.db
        recs = self.three()
        before = db.state()
        r = db.ok("log", "prune", "--before", recs[0]["time"])
        self.assertEqual(r.stdout, "dropped 0 records stamped before %s\n"
                         "oldest kept: seq=1 %s\n" % (recs[0]["time"], recs[0]["time"]))
        self.assertEqual(db.state(), before, "a prune that dropped nothing wrote")
        empty = Db(self)
        r = empty.ok("log", "prune", "--before", "2100-01-01")
        self.assertEqual(r.stdout, "dropped 0 records stamped before 2100-01-01T00:00:00Z\n"
                         "oldest kept: none\n")

    def test_everything_then_new_records_go_on(self):
        db = self.db
        self.three()
        r = db.ok("log", "prune", "--before", "2100-01-01T00:00")
        self.assertEqual(r.stdout, "dropped 3 records stamped before 2100-01-01T00:00:00Z\n"
                         "oldest kept: none\n")
        self.assertEqual(db.ok("log").stdout, "")
        self.assertEqual(db.ok("log", "--json").stdout, "[\n]\n")
        db.ok("add", "198.51.100.0/24")
        self.assertEqual([x["seq"] for x in records(db)], [4])  # never 1 again

    def test_bad_time_and_usage(self):
        db = self.db
        self.three()
        for bad in ("90x", "yesterday", "2026-13-01", "", "-5d", "2026-11-23T10"):
            r = db.fails(2, "log", "prune", "--before", bad, want=["--before"])
            self.assertIn(USAGE, r.stderr)
            if bad:
                self.assertIn(bad, r.stderr)
            self.assertEqual(r.stdout, "")
        r = db.fails(2, "log", "prune", want=["log prune needs --before TIME"])
        db.fails(2, "log", "prune", "--before", "1d", "extra")
        db.fails(2, "log", "prune", "--since", "1d", "--before", "1d")
        self.assertEqual(len(records(db)), 3)

    def test_help_and_log_unchanged(self):
        db = self.db
        for args in (["log", "prune", "--help"], ["help", "log", "prune"]):
            r = db.run("--db", "/nonexistent/x", *args, db=False)
            self.assertEqual(r.returncode, 0, args)
            self.assertIn("usage: spfdb-ctl log prune --before TIME", r.stdout)
        r = db.run("log", "--help", db=False)
        self.assertIn("usage: spfdb-ctl log [--allocation NAME]", r.stdout)
        self.assertIn("log prune", db.run("--help", db=False).stdout)
        # `log` itself still takes no operand: prune is only the first word
        db.ok("list")
        db.fails(2, "log", "--since", "1d", "prune")

    def test_missing_dir_exits_3(self):
        missing = os.path.join(self.db.root, "typo")
        r = self.db.run("--db", missing, "log", "prune", "--before", "1d", db=False)
        self.assertEqual(r.returncode, 3)
        self.assertIn("create it", r.stderr)
        self.assertFalse(os.path.exists(missing))

    def test_report_lost_exits_4(self):
        db = self.db
        self.three()
        with open("/dev/full", "w") as full:
            rc, err = test_ctl.run_with(["--db", db.dir, "log", "prune", "--before",
                                         "2100-01-01"], full)
        self.assertEqual(rc, 4, err)
        self.assertIn(b"do not retry", err)
        self.assertEqual(records(db), [])


class Long(unittest.TestCase):
    """A 100,000-entry history (100 commits of 1,000 adds) pruned in one
    transaction, timed."""

    COMMITS, ADDS = 100, 1000

    def test_long_history(self):
        db = Db(self)
        t0 = time.monotonic()
        for i in range(self.COMMITS):
            db.ok("add", "-", input=v4_lines(self.ADDS, base=(11 << 24) + i * self.ADDS),
                  leaks=False)
        written = time.monotonic() - t0
        next_second()
        db.ok("add", "198.51.100.0/24")
        last = records(db)[-1]
        self.assertEqual(last["seq"], self.COMMITS + 1)
        size = os.path.getsize(os.path.join(db.dir, "data.mdb"))
        t0 = time.monotonic()
        r = db.ok("log", "prune", "--before", last["time"])
        took = time.monotonic() - t0
        self.assertEqual(r.stdout, "dropped %d records stamped before %s\n"
                         "oldest kept: seq=%d %s\n"
                         % (self.COMMITS, last["time"], last["seq"], last["time"]))
        self.assertEqual(db.ok("log").stdout.count(" command: "), 1)
        self.assertEqual(len(db.ok("list").stdout.splitlines()), self.COMMITS * self.ADDS + 1)
        print("\n# %d entry changes in %d commits (written in %.1f s, data.mdb %d bytes): "
              "pruned in %.3f s" % (self.COMMITS * self.ADDS, self.COMMITS, written, size, took))
        self.assertLess(took, 30.0)


class Completion(unittest.TestCase):
    """Bash completion offers prune after log, and --before after log prune."""

    def complete(self, *words):
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); '
                  '_spfdb_ctl; printf "%s\\n" "${COMPREPLY[@]}"')
        r = subprocess.run(["bash", "--norc", "-c", script, "bash", COMPLETION, test_ctl.CTL,
                            "--db", "/nonexistent"] + list(words),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(w for w in r.stdout.split("\n") if w)

    def test_words(self):
        self.assertEqual(self.complete("log", ""), ["prune"])
        self.assertEqual(self.complete("log", "p"), ["prune"])
        self.assertEqual(self.complete("log", "prune", "--"), ["--before", "--db", "--help"])
        self.assertEqual(self.complete("log", "prune", "--before", ""), [])
        self.assertEqual(self.complete("log", "--since", "1d", ""), [])
        self.assertEqual(self.complete("log", "--"),
                         ["--allocation", "--db", "--help", "--json", "--since"])


def main():
    test_ctl.run(test_ctl.take_args()[1])


if __name__ == "__main__":
    main()
