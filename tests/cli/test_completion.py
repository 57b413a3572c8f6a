"""Bash completion of spfdb-ctl (contrib/spfdb-ctl.bash-completion): it
never evaluates data.  Names come from `spfdb-ctl allocation list` and
`zone list`, that is from the database, and the --db word comes from the
command line as typed; neither may run a command, expand a variable or a
glob, or put a word on the command line that is not a name of SPEC §2's
shape.  The hostile listings come from a fake spfdb-ctl earlier on PATH
(the real one refuses such names), which also records the arguments it
was run with.

Usage: test_completion.py CTL COMPLETION [--sanitize] [unittest args]
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_ctl  # noqa: E402  (CTL, SANITIZE)
from test_ctl import Db  # noqa: E402

COMPLETION = None

# Drive completion as bash does: the words, the cursor at the end of the
# line, then the function `complete -F` names.
SCRIPT = r'''
source "$1"; shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
_spfdb_ctl spfdb-ctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


class Shell:
    """A temporary HOME and working directory, a fake spfdb-ctl for the
    hostile cases, and a non-interactive bash that completes."""

    def __init__(self, tc):
        self.tc = tc
        self.root = tempfile.mkdtemp(prefix="spfdb-compl-")
        tc.addCleanup(shutil.rmtree, self.root, True)
        self.home = os.path.join(self.root, "home")
        self.cwd = os.path.join(self.root, "cwd")
        self.bin = os.path.join(self.root, "bin")
        for d in (self.home, self.cwd, self.bin):
            os.mkdir(d, 0o755)
        # a glob or $HOME that is expanded shows as one of these words
        open(os.path.join(self.cwd, "GLOBBED"), "w").close()
        self.argv_file = os.path.join(self.root, "argv")

    def marker(self, name):
        return os.path.join(self.root, name)

    def markers(self):
        return sorted(n for n in os.listdir(self.root) if n.startswith("PWNED"))

    def fake(self, allocations, zones):
        """spfdb-ctl on PATH printing these lines for `allocation list` and
        `zone list`, recording its argv (NUL-separated)."""
        def body(lines):
            return "".join("%s\n" % l for l in lines).replace("'", "'\\''")
        path = os.path.join(self.bin, "spfdb-ctl")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n"
                    "printf '%%s\\0' \"$@\" > '%s'\n"
                    "case \" $* \" in\n"
                    "*' zone list '*) printf '%%s' '%s' ;;\n"
                    "*) printf '%%s' '%s' ;;\n"
                    "esac\n" % (self.argv_file, body(zones), body(allocations)))
        os.chmod(path, stat.S_IRWXU)

    def argv(self):
        """The arguments the (fake) spfdb-ctl was last run with, None if
        it was not run; and forget them."""
        if not os.path.exists(self.argv_file):
            return None
        with open(self.argv_file) as f:
            args = f.read().split("\0")[:-1]
        os.unlink(self.argv_file)
        return args

    def complete(self, *words, env=None):
        e = dict(os.environ)
        e.pop("SPFDB_DB", None)
        e["HOME"] = self.home
        e["PATH"] = self.bin + os.pathsep + e.get("PATH", "")
        e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        if env:
            e.update(env)
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", SCRIPT, "bash", COMPLETION]
                           + list(words), cwd=self.cwd, capture_output=True, text=True,
                           timeout=60, env=e)
        self.tc.assertEqual(r.returncode, 0, r.stderr)
        return sorted(w for w in r.stdout.split("\n") if w)


class Hostile(unittest.TestCase):
    """Listings holding shell syntax, globs and odd words."""

    def setUp(self):
        self.sh = Shell(self)
        m = self.sh.marker
        hostile = ["$(>%s)" % m("PWNED1"), "`>%s`" % m("PWNED2"),
                   "$(touch${IFS}%s)" % m("PWNED3"), "acme$(>%s)" % m("PWNED4"),
                   "*", "$HOME", "~", "{a,b}", "a;b", "-x", "x\\y", "\x1b[31m", "é"]
        # of the characters names hold, but not of a name's shape
        allocs = ["Acme", "bad-", "-bad", "a_b", "a.b", "a" * 64]
        zones = ["Iphmx.example", "-bad.example", "a..example", ".example", "a" * 64 + ".example",
                 ("a" * 63 + ".") * 4 + "example"]
        self.sh.fake(["acme 0 0", "acme2 3 1"] + ["%s 0 0" % h for h in hostile + allocs],
                     ["iphmx.example provider 300 60 h@x.example ns1.x.example",
                      "spf_1.cust-2.example delegated:acme 300 60 h@x.example ns1.x.example"]
                     + ["%s provider 300 60" % h for h in hostile + zones])

    def check(self, want, *words):
        got = self.sh.complete("spfdb-ctl", *words)
        self.assertEqual(self.sh.markers(), [], "completion of %s ran a command" % (words,))
        self.assertEqual(got, want, words)

    def test_listing_is_never_evaluated(self):
        allocs = ["acme", "acme2"]
        zones = ["iphmx.example", "spf_1.cust-2.example"]
        self.check(allocs, "list", "--allocation", "")
        self.check(allocs, "spf-record", "")
        self.check(allocs, "allocation", "del", "")
        self.check(allocs, "allocation", "del", "--force", "a")
        self.check(allocs, "allocation", "add", "world", "--member", "")
        self.check(allocs, "allocation", "set", "world", "--member", "eu", "--member", "")
        self.check(allocs, "allocation", "set", "")
        self.check(zones, "zone", "del", "")
        self.check(zones, "zone", "set", "")
        self.check(zones, "spf-record", "acme", "--zone", "")
        self.check(["acme2"], "spf-record", "acme2")
        self.check([], "spf-record", "$")
        self.check([], "spf-record", "*")
        self.check([], "zone", "del", "`")

    def test_typed_word_is_never_evaluated(self):
        m = self.sh.marker
        for cur in ("$(>%s)" % m("PWNED5"), "`>%s`" % m("PWNED6"), "$HOME", "*"):
            self.check([], "spf-record", cur)
            self.check([], "--db", cur)
            self.check([], "replace", "--allocation", "acme", cur)
            self.check([], "zone", "del", cur)
            self.check([], "allocation", "set", "acme", "--member", cur)

    def test_db_word_is_never_evaluated(self):
        m = self.sh.marker
        for word in ("$(>%s)" % m("PWNED7"), "`>%s`" % m("PWNED8"), "$HOME", "${HOME}",
                     "*", "GLOB?ED", "[G]LOBBED", "{a,b}", "~root/db", "~", "\"$HOME\"",
                     "\"`>%s`\"" % m("PWNED9"), "$'\\x41'", "'unterminated", "trailing\\"):
            self.check([], "--db", word, "spf-record", "")
            self.assertIsNone(self.sh.argv(), "a listing was run for --db %s" % word)
        # quoted, the same characters are a path like any other
        self.check(["acme", "acme2"], "--db", "'$(>%s)'" % m("PWNED10"), "spf-record", "")
        self.assertEqual(self.sh.argv(), ["--db", "$(>%s)" % m("PWNED10"), "allocation", "list"])
        self.check(["acme", "acme2"], "--db", "\\*", "spf-record", "")
        self.assertEqual(self.sh.argv(), ["--db", "*", "allocation", "list"])

    def test_command_word_is_never_evaluated(self):
        word = "$(>%s)spfdb-ctl" % self.sh.marker("PWNED11")
        self.assertEqual(self.sh.complete(word, "spf-record", ""), [])
        self.assertEqual(self.sh.markers(), [])


class DbWord(unittest.TestCase):
    """The listing runs with the --db the command line gives, as the
    shell would pass it."""

    def setUp(self):
        self.sh = Shell(self)
        self.sh.fake(["acme 0 0"], ["iphmx.example provider"])

    def listed_with(self, *words):
        self.assertEqual(self.sh.complete("spfdb-ctl", *words), ["acme"], words)
        return self.sh.argv()

    def test_forms_of_the_word(self):
        d = "/srv/my spf db"
        for word in ("'/srv/my spf db'", '"/srv/my spf db"', "/srv/my\\ spf\\ db",
                     "/srv/my' 'spf\" \"db", "/srv/'my spf db'"):
            self.assertEqual(self.listed_with("--db", word, "spf-record", ""),
                             ["--db", d, "allocation", "list"], word)
        self.assertEqual(self.listed_with("--db", '"/a \\"b\\" \\$c \\\\d \\e"', "spf-record", ""),
                         ["--db", '/a "b" $c \\d \\e', "allocation", "list"])
        self.assertEqual(self.listed_with("--db", "~/db", "spf-record", ""),
                         ["--db", self.sh.home + "/db", "allocation", "list"])
        self.assertEqual(self.listed_with("--db", "'~/db'", "spf-record", ""),
                         ["--db", "~/db", "allocation", "list"])
        self.assertEqual(self.listed_with("--db", "/a~b", "spf-record", ""),
                         ["--db", "/a~b", "allocation", "list"])

    def test_which_db(self):
        self.assertEqual(self.listed_with("spf-record", ""), ["allocation", "list"])
        self.assertEqual(self.sh.complete("spfdb-ctl", "--db", "/a", "zone", "del", "--db", "/b",
                                          "i"), ["iphmx.example"])
        self.assertEqual(self.sh.argv(), ["--db", "/b", "zone", "list"])
        # --db=DIR, joined (COMP_WORDBREAKS without '=') or split at '='
        self.assertEqual(self.listed_with("--db=/srv/db", "spf-record", ""),
                         ["--db", "/srv/db", "allocation", "list"])
        self.assertEqual(self.listed_with("--db", "=", "'/srv/a b'", "spf-record", ""),
                         ["--db", "/srv/a b", "allocation", "list"])
        self.assertEqual(self.listed_with("--db='/srv/a b'", "spf-record", ""),
                         ["--db", "/srv/a b", "allocation", "list"])


class Names(unittest.TestCase):
    """The real spfdb-ctl over a database in a directory with spaces."""

    def setUp(self):
        self.sh = Shell(self)
        self.db = Db(self)
        self.db.dir = os.path.join(self.db.root, "my spf db")
        os.mkdir(self.db.dir, 0o755)
        for name in ("acme", "acme2", "beta-1"):
            self.db.ok("allocation", "add", name)
        self.db.ok("zone", "add", "iphmx.example", "--ns", "ns1.prov.example",
                   "--ns", "ns2.prov.example")
        self.db.ok("zone", "add", "spf.cust.example", "--allocation", "acme",
                   "--ns", "ns1.prov.example", "--ns", "ns2.prov.example")

    def complete(self, *words, env=None):
        return self.sh.complete(test_ctl.CTL, *words, env=env)

    def test_names_and_prefixes(self):
        q = "'%s'" % self.db.dir
        self.assertEqual(self.complete("--db", q, "spf-record", ""),
                         ["acme", "acme2", "beta-1", "default"])
        self.assertEqual(self.complete("--db", q, "list", "--allocation", "a"), ["acme", "acme2"])
        self.assertEqual(self.complete("--db", q, "list", "--allocation", "acme2"), ["acme2"])
        self.assertEqual(self.complete("--db", q, "allocation", "del", "b"), ["beta-1"])
        self.assertEqual(self.complete("--db", q, "allocation", "del", "x"), [])
        # --member: allocation names; allocation set NAME: one too
        self.assertEqual(self.complete("--db", q, "allocation", "add", "world", "--member", "a"),
                         ["acme", "acme2"])
        self.assertEqual(self.complete("--db", q, "allocation", "set", "world", "--member",
                                       "acme", "--member", "b"), ["beta-1"])
        self.assertEqual(self.complete("--db", q, "allocation", "set", "be"), ["beta-1"])
        self.assertEqual(self.complete("--db", q, "allocation", "set", "x", "--m"), ["--member"])
        self.assertEqual(self.complete("--db", q, "allocation", "add", "x", "--"),
                         ["--db", "--help", "--member"])
        self.assertEqual(self.complete("--db", q, "allocation", ""),
                         ["add", "del", "list", "set"])
        self.assertEqual(self.complete("--db", q, "zone", "del", ""),
                         ["iphmx.example", "spf.cust.example"])
        self.assertEqual(self.complete("--db", q, "zone", "set", "s"), ["spf.cust.example"])
        self.assertEqual(self.complete("--db", q, "spf-record", "acme", "--zone", "i"),
                         ["iphmx.example"])
        escaped = self.db.dir.replace(" ", "\\ ")
        self.assertEqual(self.complete("--db", escaped, "spf-record", "a"), ["acme", "acme2"])
        self.assertEqual(self.complete("--db", '"%s"' % self.db.dir, "zone", "del", "i"),
                         ["iphmx.example"])

    def test_db_from_the_environment(self):
        self.assertEqual(self.complete("spf-record", "", env={"SPFDB_DB": self.db.dir}),
                         ["acme", "acme2", "beta-1", "default"])

    def test_command_word_with_tilde(self):
        os.mkdir(os.path.join(self.sh.home, "bin"))
        os.symlink(test_ctl.CTL, os.path.join(self.sh.home, "bin", "spfdb-ctl"))
        r = self.sh.complete("~/bin/spfdb-ctl", "--db", "'%s'" % self.db.dir, "spf-record", "ac")
        self.assertEqual(r, ["acme", "acme2"])

    def test_words_still_completed(self):
        self.assertEqual(self.complete(""),
                         sorted("add del replace import import-spf list check allocation zone log "
                                "spf-record backup key transfer replica primary help".split()))
        self.assertEqual(self.complete("zone", ""), ["add", "del", "list", "set"])
        self.assertEqual(self.complete("allocation", "d"), ["del"])
        self.assertEqual(self.complete("log", "--"),
                         ["--allocation", "--db", "--help", "--json", "--since"])
        self.assertEqual(self.complete("import-spf", "--"),
                         ["--allocation", "--allow-empty", "--db", "--dry-run", "--force",
                          "--help", "--replace"])
        self.assertEqual(self.complete("--v"), ["--version"])
        parent = os.path.dirname(self.db.dir)
        self.assertEqual(self.complete("--db", parent + "/my"), [self.db.dir])
        self.assertEqual(self.complete("backup", parent + "/my"), [self.db.dir])


def main():
    global COMPLETION
    (COMPLETION,), args = test_ctl.take_args(1)
    test_ctl.run(args)


if __name__ == "__main__":
    main()
