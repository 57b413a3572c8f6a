"""spfdb-ctl's transfer settings (SPEC §5, design §6): keys, the transfer
zone, replicas and the primary; a replica's refusal of local changes; no
secret in any listing or in the change log.  Also the exit status of a
write that committed nothing (SPEC §3: 4 only after a commit).

Usage: test_xfr_ctl.py CTL COMPLETION [--sanitize] [unittest args]
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_ctl  # noqa: E402  (CTL, SANITIZE, run_with)
from test_ctl import Db, run_with, closed_pipe  # noqa: E402

COMPLETION = None


def dev_full():
    return open("/dev/full", "wb")


class NoCommit(unittest.TestCase):
    """A writing command that changes nothing commits nothing: when its
    report cannot be written it exits 3 (nothing changed, safe to retry),
    never 4 ("committed, do not retry")."""

    CASES = [
        ("add of a present entry", [["add", "192.0.2.0/24"]], ["add", "192.0.2.0/24"], b""),
        ("replace with the same entries", [["add", "192.0.2.0/24"]],
         ["replace", "--allocation", "default", "-"], b"192.0.2.0/24\n"),
    ]

    def test_nothing_committed_exits_3(self):
        for name, setup, args, stdin in self.CASES:
            for how, out in (("/dev/full", dev_full), ("a closed pipe", closed_pipe)):
                db = Db(self)
                for s in setup:
                    db.ok(*s, leaks=False)
                before = db.state()
                o = out()
                try:
                    code, err = run_with(["--db", db.dir] + args, o, input=stdin)
                finally:
                    os.close(o) if isinstance(o, int) else o.close()
                what = "%s, stdout %s: %s" % (name, how, err)
                self.assertEqual(code, 3, what)
                self.assertNotIn(b"committed", err, what)
                self.assertEqual(db.state(), before, what)


def main():
    global COMPLETION
    args = sys.argv[1:]
    test_ctl.CTL = os.path.abspath(args.pop(0))
    COMPLETION = os.path.abspath(args.pop(0))
    if args and args[0] == "--sanitize":
        test_ctl.SANITIZE = True
        args.pop(0)
    unittest.main(argv=[sys.argv[0], "-v"] + args)


if __name__ == "__main__":
    main()
