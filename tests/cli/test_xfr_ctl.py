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


KEY_RE = re.compile(r'\A# hmac-sha256:([a-z0-9._-]+):([A-Za-z0-9+/=]+)\n'
                    r'key "([a-z0-9._-]+)" \{\n\talgorithm hmac-sha256;\n'
                    r'\tsecret "([A-Za-z0-9+/=]+)";\n\};\n\Z')
REPLICA_MSG = ("spfdb-ctl: this database is a replica of %s (transfer zone %s); "
               "make changes on the primary\n")
NS = ["--ns", "ns1.prov.example", "--ns", "ns2.prov.example"]


def parse_key(text):
    """(name, secret octets) of a key add printout, checked whole."""
    m = KEY_RE.match(text)
    assert m, "not a key printout: %r" % text
    assert m.group(1) == m.group(3) and m.group(2) == m.group(4), text
    return m.group(1), base64.b64decode(m.group(2), validate=True)


def b64(octets):
    return base64.b64encode(octets).decode()


def secret_forms(secret):
    """The ways a secret can show: base64, hex (mdb_dump), the octets."""
    return [b64(secret), secret.hex(), secret.hex().upper()]


def log_records(db):
    return json.loads(db.ok("log", "--json", leaks=False).stdout)


class Keys(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def add(self, name, *args, input=None):
        r = self.db.ok("key", "add", name, *args, input=input)
        self.assertEqual(r.stderr, "")
        return parse_key(r.stdout)

    def test_new_key_is_printed_once_in_every_form(self):
        name, secret = self.add("replica1")
        self.assertEqual((name, len(secret)), ("replica1", 32))
        _, other = self.add("replica2")
        self.assertNotEqual(secret, other)
        # listed without it, and not printed again
        out = self.db.ok("key", "list").stdout
        self.assertRegex(out, r"\Areplica1 hmac-sha256 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ -\n"
                              r"replica2 hmac-sha256 \S+ -\n\Z")
        for form in secret_forms(secret):
            self.assertNotIn(form, out)

    def test_kdig_takes_the_first_line(self):
        r = self.db.ok("key", "add", "kdig.example")
        line = r.stdout.splitlines()[0][2:]
        # Nothing listens on port 1: kdig only has to take the key and try.
        k = subprocess.run(["kdig", "-y", line, "@127.0.0.1", "-p", "1", "example.", "SOA",
                            "+time=1", "+retry=0"], capture_output=True, text=True, timeout=30)
        out = k.stdout + k.stderr
        self.assertNotIn("bad key", out)
        self.assertRegex(out, "timeout|failed to query|refused")
        # and it would say so of a bad one
        k = subprocess.run(["kdig", "-y", line[:-8] + "!", "@127.0.0.1", "-p", "1", "example.",
                            "SOA", "+time=1", "+retry=0"], capture_output=True, text=True,
                           timeout=30)
        self.assertIn("bad key", k.stdout + k.stderr)

    def conf(self, text, name="key.conf"):
        path = os.path.join(self.db.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_bind_takes_the_statement(self):
        r = self.db.ok("key", "add", "bind.example")
        c = subprocess.run(["named-checkconf", self.conf(r.stdout)], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(c.returncode, 0, c.stdout + c.stderr)
        broken = r.stdout.replace('secret "', 'secret "!')
        c = subprocess.run(["named-checkconf", self.conf(broken)], capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(c.returncode, 0, "named-checkconf takes anything")

    def test_knot_takes_the_same_id_algorithm_secret(self):
        name, secret = parse_key(self.db.ok("key", "add", "knot.example").stdout)
        conf = self.conf("key:\n  - id: %s\n    algorithm: hmac-sha256\n    secret: %s\n"
                         % (name, b64(secret)), "knot.conf")
        c = subprocess.run(["knotc", "-c", conf, "conf-check"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(c.returncode, 0, c.stdout + c.stderr)

    def test_name_is_normalised(self):
        name, _ = self.add("Ops.Example.")
        self.assertEqual(name, "ops.example")
        self.assertEqual(self.db.ok("key", "list").stdout.split()[0], "ops.example")
        self.db.fails(2, "key", "add", "OPS.example", want=["key 'ops.example' exists"])

    def test_secret_from_stdin(self):
        secret = bytes(range(1, 33))
        for name, given in (("a.example", b64(secret) + "\n"),
                            ("b.example", "hmac-sha256:b.example:%s\n" % b64(secret)),
                            ("c.example", "  HMAC-SHA256:C.Example.:%s\r\n" % b64(secret)),
                            ("d.example", b64(secret[:16])),
                            ("e.example", b64(bytes(64)))):
            got = self.add(name, "--secret", "-", input=given)
            self.assertEqual(got[0], name)
            self.assertEqual(b64(got[1]), given.split(":")[-1].strip())

    def test_refusals(self):
        db = self.db
        db.ok("key", "add", "k1")
        secret = b64(bytes(range(100, 132)))
        cases = [
            (["key", "add", "k1"], None, "key 'k1' exists"),
            (["key", "add", "a..b"], None, "bad key name 'a..b'"),
            (["key", "add", "x" * 101], None, "bad key name"),
            (["key", "add", "-x"], None, "usage:"),
            (["key", "add", "a b"], None, "bad key name 'a b'"),
            (["key", "add"], None, "usage: spfdb-ctl key add NAME"),
            (["key", "add", "k2", secret], None, "usage: spfdb-ctl key add NAME"),
            (["key", "add", "k2", "--secret", secret], None, "--secret takes only '-'"),
            (["key", "add", "k2", "--secret=" + secret], None, "--secret takes only '-'"),
            (["key", "add", "k2", "--secret", "-"], "", "no secret on standard input"),
            (["key", "add", "k2", "--secret", "-"], " \n\n", "no secret on standard input"),
            (["key", "add", "k2", "--secret", "-"], secret + "\n" + secret, "more than one line"),
            (["key", "add", "k2", "--secret", "-"], "!" + secret[1:], "not canonical base64"),
            (["key", "add", "k2", "--secret", "-"], secret.rstrip("=") , "not canonical base64"),
            (["key", "add", "k2", "--secret", "-"], secret[:-2] + "B=", "not canonical base64"),
            (["key", "add", "k2", "--secret", "-"], secret[:20] + " " + secret[20:],
             "not canonical base64"),
            (["key", "add", "k2", "--secret", "-"], "x" * 2000, "more than a key"),
            (["key", "add", "k2", "--secret", "-"], "hmac-md5:k2:" + secret,
             "key algorithm 'hmac-md5'"),
            (["key", "add", "k2", "--secret", "-"], secret + ":k2:" + secret,
             "key algorithm (not shown)"),
            (["key", "add", "k2", "--secret", "-"], "hmac-sha256:k3:" + secret,
             "named 'k3', not k2"),
            (["key", "add", "k2", "--secret", "-"], "k2:" + secret, "not base64, or hmac-sha256"),
            (["key", "add", "k2", "--secret", "-"], b64(bytes(15)), "has 15 octets"),
            (["key", "add", "k2", "--secret", "-"], b64(bytes(65)), "has 65 octets"),
            (["key", "del", "k9"], None, "no key 'k9'"),
            (["key", "del", "K..1"], None, "bad key name"),
            (["key", "list", "x"], None, "usage: spfdb-ctl key list"),
        ]
        for args, stdin, want in cases:
            r = db.fails(2, *args, want=[want], input=stdin)
            self.assertNotIn(secret, r.stderr + r.stdout, args)
            self.assertNotIn(secret[8:30], r.stderr + r.stdout, args)

    def test_del(self):
        db = self.db
        for k in ("k1", "k2", "k3"):
            db.ok("key", "add", k)
        db.ok("replica", "add", "192.0.2.1", "--key", "k1")
        db.ok("replica", "add", "[2001:db8::1]:5300", "--key", "k1")
        db.ok("primary", "set", "198.51.100.1", "--key", "k2", "--zone", "xfr.up.example")
        db.fails(2, "key", "del", "k1", want=[
            "key 'k1' is in use by replica 192.0.2.1:53, replica [2001:db8::1]:5300;"])
        db.fails(2, "key", "del", "k2", want=["key 'k2' is in use by primary xfr.up.example;"])
        self.assertEqual(db.ok("key", "del", "k3").stdout, "")
        db.ok("replica", "del", "192.0.2.1")
        db.ok("replica", "del", "[2001:db8::1]:5300")
        db.ok("key", "del", "K1.")
        db.ok("primary", "del")
        db.ok("key", "del", "k2")
        self.assertEqual(db.ok("key", "list").stdout, "")

    def test_list_names_the_users(self):
        db = self.db
        before = int(time.time())
        for k in ("b.example", "a.example", "c.example"):
            db.ok("key", "add", k)
        after = int(time.time())
        db.ok("replica", "add", "192.0.2.2", "--key", "a.example")
        db.ok("replica", "add", "192.0.2.1:5300", "--key", "a.example")
        db.ok("primary", "set", "198.51.100.1", "--key", "b.example", "--zone", "xfr.up.example")
        lines = [l.split(" ") for l in db.ok("key", "list").stdout.splitlines()]
        self.assertEqual([l[:2] + l[3:] for l in lines], [
            ["a.example", "hmac-sha256", "replica=192.0.2.1:5300,replica=192.0.2.2:53"],
            ["b.example", "hmac-sha256", "primary=xfr.up.example"],
            ["c.example", "hmac-sha256", "-"]])
        js = json.loads(db.ok("key", "list", "--json").stdout)
        self.assertEqual([(k["name"], k["algorithm"], k["replicas"], k["primary"]) for k in js], [
            ("a.example", "hmac-sha256", ["192.0.2.1:5300", "192.0.2.2:53"], None),
            ("b.example", "hmac-sha256", [], "xfr.up.example"),
            ("c.example", "hmac-sha256", [], None)])
        for k, l in zip(js, lines):
            # time() reads the coarse clock, up to a tick behind Python's
            self.assertTrue(before - 1 <= k["unix"] <= after)
            self.assertEqual(k["created"], l[2])
            self.assertEqual(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(k["unix"])), l[2])
            self.assertEqual(set(k), {"name", "algorithm", "created", "unix", "replicas",
                                      "primary"})


class Transfer(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def show(self):
        return dict(l.split(" ", 1) for l in self.db.ok("transfer", "show").stdout.splitlines()
                    if not l.startswith("replica "))

    def test_set_show_del(self):
        db = self.db
        db.ok("key", "list")  # a database to compare with
        db.fails(2, "transfer", "show", want=["no transfer zone is set"])
        db.fails(2, "transfer", "del", want=["no transfer zone is set"])
        r = db.ok("transfer", "set", "XFR.esp.example.")
        self.assertEqual(r.stdout, "")
        self.assertIn("note: no key may transfer it yet", r.stderr)
        s0 = self.show()
        self.assertEqual((s0["zone"], s0["ns"]), ("xfr.esp.example", "primary.invalid"))
        self.assertEqual(s0["oldest-ixfr-serial"], s0["serial"])
        # data commits move the serial; IXFR reaches back to the first
        db.ok("add", "192.0.2.0/24")
        db.ok("add", "198.51.100.0/24")
        s1 = self.show()
        self.assertGreater(int(s1["serial"]), int(s0["serial"]))
        self.assertEqual(s1["oldest-ixfr-serial"], s0["serial"])
        # the settings change no serial and log nothing
        n = len(log_records(db))
        db.ok("key", "add", "k1")
        r = db.ok("transfer", "set", "xfr.esp.example", "--ns", "NS.esp.example.")
        self.assertEqual((r.stdout, r.stderr), ("", ""))
        db.ok("replica", "add", "192.0.2.53", "--key", "k1")
        s2 = self.show()
        self.assertEqual((s2["ns"], s2["serial"]), ("ns.esp.example", s1["serial"]))
        # without --ns the NS host stays; a new name is another zone
        db.ok("transfer", "set", "xfr2.esp.example")
        self.assertEqual(self.show()["ns"], "ns.esp.example")
        self.assertEqual(len(log_records(db)), n)
        out = db.ok("transfer", "show").stdout
        self.assertEqual(out, "zone xfr2.esp.example\nns ns.esp.example\nserial %s\n"
                              "oldest-ixfr-serial %s\nreplica 192.0.2.53:53 k1\n"
                         % (s1["serial"], s0["serial"]))
        js = json.loads(db.ok("transfer", "show", "--json").stdout)
        self.assertEqual(js, {"zone": "xfr2.esp.example", "ns": "ns.esp.example",
                              "serial": int(s1["serial"]),
                              "oldest_ixfr_serial": int(s0["serial"]),
                              "replicas": [{"address": "192.0.2.53:53", "key": "k1"}]})
        self.assertEqual(db.ok("transfer", "del").stdout, "")
        db.fails(2, "transfer", "show", want=["no transfer zone is set"])
        # the replicas and keys stay
        self.assertEqual(db.ok("replica", "list").stdout, "192.0.2.53:53 k1\n")

    def test_refusals(self):
        db = self.db
        db.ok("zone", "add", "spf.esp.example", *NS)
        long62 = test_ctl.name_of_len(62, "example")
        db.ok("transfer", "set", long62)
        db.ok("transfer", "del")
        db.fails(2, "transfer", "set", test_ctl.name_of_len(63, "example"),
                 want=["has 63 characters; at most 62"])
        db.fails(2, "transfer", "set", "a..example", want=["bad transfer zone name 'a..example'"])
        db.fails(2, "transfer", "set", "xfr.example", "--ns", "a.example", "--ns", "b.example",
                 want=["one NS host", "usage:"])
        db.fails(2, "transfer", "set", "xfr.example", "--ns", "a..b", want=["bad NS host"])
        db.fails(2, "transfer", "set", want=["usage: spfdb-ctl transfer set ZONE"])
        for zone, how in (("spf.esp.example", "is"), ("x.spf.esp.example", "lies below"),
                          ("esp.example", "lies above")):
            db.fails(2, "transfer", "set", zone, want=[
                "transfer zone %s %s served zone spf.esp.example: served zones and the "
                "transfer zone never nest" % (zone, how)])
        # and the served zones keep clear of the transfer zone
        db.ok("transfer", "set", "xfr.other.example")
        for zone, how in (("xfr.other.example", "is"), ("a.xfr.other.example", "lies below"),
                          ("other.example", "lies above")):
            db.fails(2, "zone", "add", zone, *NS, want=[
                "zone %s %s the transfer zone xfr.other.example: served zones and the transfer "
                "zone never nest" % (zone, how)])
        db.fails(2, "transfer", "del", "x", want=["usage: spfdb-ctl transfer del"])


class Replicas(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)
        self.db.ok("key", "add", "k1", leaks=False)

    def test_add_del_list(self):
        db = self.db
        r = db.ok("replica", "add", "192.0.2.1", "--key", "K1")
        self.assertEqual(r.stdout, "")
        self.assertIn("note: no transfer zone is set", r.stderr)
        db.ok("transfer", "set", "xfr.esp.example")
        r = db.ok("replica", "add", "[2001:DB8:0::1]:5300", "--key", "k1")
        self.assertEqual((r.stdout, r.stderr), ("", ""))
        db.ok("replica", "add", "198.51.100.7:53", "--key", "k1")
        self.assertEqual(db.ok("replica", "list").stdout,
                         "192.0.2.1:53 k1\n198.51.100.7:53 k1\n[2001:db8::1]:5300 k1\n")
        self.assertEqual(json.loads(db.ok("replica", "list", "--json").stdout), [
            {"address": "192.0.2.1:53", "key": "k1"},
            {"address": "198.51.100.7:53", "key": "k1"},
            {"address": "[2001:db8::1]:5300", "key": "k1"}])
        db.ok("replica", "del", "192.0.2.1:53")
        db.ok("replica", "del", "198.51.100.7")
        db.ok("replica", "del", "[2001:db8::1]:5300")
        self.assertEqual(db.ok("replica", "list").stdout, "")
        self.assertEqual(json.loads(db.ok("replica", "list", "--json").stdout), [])

    def test_refusals(self):
        db = self.db
        db.ok("replica", "add", "192.0.2.1", "--key", "k1")
        cases = [
            (["replica", "add", "192.0.2.1:53", "--key", "k1"], "replica 192.0.2.1:53 is already"),
            (["replica", "add", "192.0.2.2", "--key", "k2"],
             "no key 'k2': create it first (spfdb-ctl key add k2)"),
            (["replica", "add", "192.0.2.2"], "replica add needs --key NAME"),
            (["replica", "add", "192.0.2.2", "--key", "a..b"], "bad key name 'a..b'"),
            (["replica", "add", "--key", "k1"], "usage: spfdb-ctl replica add"),
            (["replica", "del", "192.0.2.9"], "no replica 192.0.2.9:53"),
            (["replica", "del"], "usage: spfdb-ctl replica del"),
            (["replica", "list", "x"], "usage: spfdb-ctl replica list"),
        ]
        for bad in ("192.0.2.1:0", "192.0.2.1:65536", "192.0.2.256", "host.example",
                    "[2001:db8::1", "2001:db8::1]:53", "192.0.2.1:053", "::ffff:192.0.2.1x"):
            cases.append((["replica", "add", bad, "--key", "k1"],
                          "bad replica address '%s'" % bad))
            cases.append((["replica", "del", bad], "bad replica address '%s'" % bad))
        for args, want in cases:
            self.db.fails(2, *args, want=[want])


class Primary(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)
        self.db.ok("key", "add", "up", leaks=False)

    def set(self, *args, **kw):
        return self.db.ok("primary", "set", *args, "--key", "up", "--zone", "xfr.up.example",
                          **kw)

    def test_set_show_del(self):
        db = self.db
        db.fails(2, "primary", "show", want=["this database follows no primary"])
        db.fails(2, "primary", "del", want=["this database follows no primary"])
        serial = json.loads(db.ok("transfer", "set", "xfr.here.example") and
                            db.ok("transfer", "show", "--json").stdout)["serial"]
        db.ok("transfer", "del")
        self.assertEqual(self.set("192.0.2.1", "[2001:db8::2]:5300").stdout, "")
        self.assertEqual(db.ok("primary", "show").stdout,
                         "zone xfr.up.example\nkey up\nprimary 192.0.2.1:53\n"
                         "primary [2001:db8::2]:5300\nsynced no\nserial %d\n"
                         "primary-serial -\nlast-contact -\nlast-success -\n" % serial)
        self.assertEqual(json.loads(db.ok("primary", "show", "--json").stdout), {
            "zone": "xfr.up.example", "key": "up",
            "primaries": ["192.0.2.1:53", "[2001:db8::2]:5300"], "synced": False,
            "serial": serial, "primary_serial": None, "last_contact": None,
            "last_success": None})
        self.assertEqual(db.ok("primary", "del").stdout, "")
        db.fails(2, "primary", "show", want=["this database follows no primary"])

    def test_force_when_the_database_holds_data(self):
        for setup, want in (
                ([["zone", "add", "spf.esp.example"] + NS], "serves 1 zone and holds 0 entries"),
                ([["add", "192.0.2.0/24", "2001:db8::/32"]], "serves 0 zones and holds 2 entries"),
                ([["allocation", "add", "acme"], ["add", "--allocation", "acme", "192.0.2.0/24"]],
                 "serves 0 zones and holds 1 entry,")):
            db = Db(self)
            db.ok("key", "add", "up", leaks=False)
            for s in setup:
                db.ok(*s, leaks=False)
            db.fails(2, "primary", "set", "192.0.2.1", "--key", "up", "--zone", "xfr.up.example",
                     want=[want, "use --force"])
            db.ok("primary", "set", "192.0.2.1", "--key", "up", "--zone", "xfr.up.example",
                  "--force")
            # a replica already: its data is the primary's, no --force to change primaries
            db.ok("primary", "set", "192.0.2.2", "--key", "up", "--zone", "xfr.up.example")
            self.assertIn("primary 192.0.2.2:53\n", db.ok("primary", "show").stdout)
        # an empty allocation is no data
        self.db.ok("allocation", "add", "acme")
        self.set("192.0.2.1")

    def test_refusals(self):
        db = self.db
        cases = [
            (["192.0.2.1", "--key", "nokey", "--zone", "xfr.up.example"], "no key 'nokey'"),
            (["192.0.2.1", "--key", "up", "--zone", test_ctl.name_of_len(63, "example")],
             "has 63 characters; at most 62"),
            (["192.0.2.1", "--key", "up", "--zone", "a..b"], "bad zone name 'a..b'"),
            (["192.0.2.1:0", "--key", "up", "--zone", "x.example"],
             "bad primary address '192.0.2.1:0'"),
            (["192.0.2.1", "192.0.2.1:53", "--key", "up", "--zone", "x.example"],
             "primary address 192.0.2.1:53 given twice"),
            (["192.0.2.%d" % i for i in range(1, 10)] + ["--key", "up", "--zone", "x.example"],
             "at most 8 primary addresses"),
            (["192.0.2.1", "--zone", "x.example"], "primary set needs --key NAME"),
            (["192.0.2.1", "--key", "up"], "primary set needs --zone ZONE"),
            (["--key", "up", "--zone", "x.example"], "usage: spfdb-ctl primary set"),
        ]
        for args, want in cases:
            db.fails(2, "primary", "set", *args, want=[want])
        self.set(*["192.0.2.%d" % i for i in range(1, 9)])
        db.fails(2, "primary", "del", "x", want=["usage: spfdb-ctl primary del"])


class Replica(unittest.TestCase):
    """A database that follows a primary refuses every data change, naming
    the primary, and still reads and changes its transfer settings."""

    ZONE = ["zone", "add", "new.example"] + NS
    WRITERS = [
        (["add", "203.0.113.0/24"], None),
        (["add", "192.0.2.0/24"], None),  # present: would change nothing
        (["add", "-"], "203.0.113.0/24\n"),
        (["del", "192.0.2.0/24"], None),
        (["del", "203.0.113.0/24"], None),  # no entry: would be refused otherwise
        (["replace", "--allocation", "acme", "-"], "203.0.113.0/24\n"),
        (["replace", "--allocation", "acme", "-"], "192.0.2.0/24\n"),  # the same
        (["allocation", "add", "beta"], None),
        (["allocation", "del", "--force", "acme"], None),
        (ZONE, None),
        (["zone", "set", "spf.esp.example", "--ttl", "600"], None),
        (["zone", "del", "spf.esp.example"], None),
    ]

    def setUp(self):
        db = self.db = Db(self)
        db.ok("allocation", "add", "acme", leaks=False)
        db.ok("add", "192.0.2.0/24", leaks=False)
        db.ok("add", "--allocation", "acme", "192.0.2.0/24", leaks=False)
        db.ok("zone", "add", "spf.esp.example", *NS, leaks=False)
        db.ok("key", "add", "up", leaks=False)
        db.ok("primary", "set", "192.0.2.53", "--key", "up", "--zone", "xfr.up.example",
              "--force", leaks=False)

    def test_every_writer_is_refused_naming_the_primary(self):
        msg = REPLICA_MSG % ("192.0.2.53:53", "xfr.up.example")
        n = len(log_records(self.db))
        for args, stdin in self.WRITERS:
            r = self.db.fails(2, *args, input=stdin)
            self.assertEqual((r.stdout, r.stderr), ("", msg), args)
        self.assertEqual(len(log_records(self.db)), n)
        covered = {" ".join(a[:2]) if a[0] in ("zone", "allocation") else a[0]
                   for a, _ in self.WRITERS}
        self.assertEqual(covered, {"add", "del", "replace", "allocation add", "allocation del",
                                   "zone add", "zone set", "zone del"})

    def test_several_primaries_are_named(self):
        self.db.ok("primary", "set", "192.0.2.53", "[2001:db8::53]:5300", "--key", "up",
                   "--zone", "xfr.up.example")
        r = self.db.fails(2, "add", "203.0.113.0/24")
        self.assertEqual(r.stderr, REPLICA_MSG % ("192.0.2.53:53, [2001:db8::53]:5300",
                                                  "xfr.up.example"))

    def test_reads_and_settings_still_work(self):
        db = self.db
        self.assertEqual(db.ok("list", "--allocation", "acme").stdout, "192.0.2.0/24\n")
        db.ok("check", "192.0.2.1")
        db.ok("allocation", "list")
        db.ok("zone", "list")
        db.ok("log")
        db.ok("spf-record", "acme")
        db.ok("replace", "--allocation", "acme", "--dry-run", "-", input="203.0.113.0/24\n")
        backup = os.path.join(db.root, "backup")
        os.mkdir(backup)
        db.ok("backup", backup)
        db.ok("key", "add", "k2")
        db.ok("transfer", "set", "xfr.esp.example")
        db.ok("replica", "add", "192.0.2.99", "--key", "k2")
        db.ok("replica", "del", "192.0.2.99")
        db.ok("transfer", "del")
        db.ok("key", "del", "k2")
        # promoted: changes are accepted again
        db.ok("primary", "del")
        db.ok("add", "203.0.113.0/24")
        db.ok("zone", "del", "spf.esp.example")


class Secrets(unittest.TestCase):
    """No secret in any output, in the change log or its records' bytes."""

    def test_no_secret_anywhere(self):
        db = Db(self)
        given = bytes(range(7, 39))
        db.ok("allocation", "add", "acme")
        db.ok("add", "--allocation", "acme", "192.0.2.0/24")
        _, made = parse_key(db.ok("key", "add", "made.example").stdout)
        db.ok("key", "add", "given.example", "--secret", "-",
              input="hmac-sha256:given.example:%s\n" % b64(given))
        db.ok("transfer", "set", "xfr.esp.example", "--ns", "ns.esp.example")
        db.ok("replica", "add", "192.0.2.1", "--key", "made.example")
        db.ok("zone", "add", "spf.esp.example", *NS)
        db.ok("primary", "set", "192.0.2.53", "--key", "given.example", "--zone",
              "xfr.up.example", "--force")
        outputs = {}
        for args in (["log"], ["log", "--json"], ["key", "list"], ["key", "list", "--json"],
                     ["transfer", "show"], ["transfer", "show", "--json"], ["replica", "list"],
                     ["replica", "list", "--json"], ["primary", "show"],
                     ["primary", "show", "--json"], ["allocation", "list", "--json"],
                     ["zone", "list", "--json"], ["list", "--allocation", "acme", "--json"]):
            r = db.ok(*args)
            outputs[" ".join(args)] = r.stdout + r.stderr
        dump = subprocess.run(["mdb_dump", "-s", "log", db.dir], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(dump.returncode, 0, dump.stderr)
        outputs["mdb_dump -s log"] = dump.stdout
        self.assertIn(b"acme".hex(), dump.stdout, "no log records dumped?")
        for secret in (made, given):
            for what, text in outputs.items():
                for form in secret_forms(secret):
                    self.assertNotIn(form, text, what)
        # the settings' commands left no record: only the data changes are logged
        cmds = [r["command"].split(db.dir + " ", 1)[1] for r in log_records(db)]
        self.assertEqual(cmds, ["allocation add acme", "add --allocation acme 192.0.2.0/24",
                                "zone add spf.esp.example " + " ".join(NS)])
        self.assertNotIn("key", outputs["log"].replace("key=", ""))


class Committed(unittest.TestCase):
    """Exit 4 only after a commit (SPEC §3), for the new commands too."""

    def run_full(self, db, *args, input=b""):
        out = dev_full()
        try:
            return run_with(["--db", db.dir] + list(args), out, input=input)
        finally:
            out.close()

    def test_key_add_unreported(self):
        db = Db(self)
        code, err = self.run_full(db, "key", "add", "k1")
        self.assertEqual(code, 4, err)
        self.assertIn(b"key 'k1' was stored but could not be shown: delete it "
                      b"(spfdb-ctl key del k1) and add it again", err)
        self.assertIn(b"the change was committed, but its report could not be written: "
                      b"do not retry it\n", err)
        self.assertEqual(db.ok("key", "list").stdout.split()[0], "k1")
        # refused: nothing committed, nothing to report
        code, err = self.run_full(db, "key", "add", "k1")
        self.assertEqual(code, 2, err)

    def test_silent_writers_exit_0(self):
        db = Db(self)
        db.ok("key", "add", "k1", leaks=False)
        for args in (["transfer", "set", "xfr.esp.example"], ["replica", "add", "192.0.2.1",
                     "--key", "k1"], ["replica", "del", "192.0.2.1"], ["transfer", "del"],
                     ["primary", "set", "192.0.2.1", "--key", "k1", "--zone", "x.example"],
                     ["primary", "del"], ["key", "del", "k1"]):
            code, err = self.run_full(db, *args)
            self.assertEqual((code, err), (0, b""), args)

    def test_listings_exit_3(self):
        db = Db(self)
        db.ok("key", "add", "k1", leaks=False)
        db.ok("transfer", "set", "xfr.esp.example", leaks=False)
        db.ok("primary", "set", "192.0.2.1", "--key", "k1", "--zone", "x.example", leaks=False)
        for args in (["key", "list"], ["transfer", "show"], ["replica", "list", "--json"],
                     ["primary", "show"]):
            code, err = self.run_full(db, *args)
            self.assertEqual(code, 3, (args, err))


class Help(unittest.TestCase):
    NEW = ["key add", "key del", "key list", "transfer set", "transfer del", "transfer show",
           "replica add", "replica del", "replica list", "primary set", "primary del",
           "primary show"]

    def test_help_everywhere(self):
        db = Db(self)
        main = db.run("--help", db=False).stdout
        for cmd in self.NEW:
            self.assertRegex(main, r"\n  %s +\S" % cmd)
            for args in (cmd.split() + ["--help"], ["help"] + cmd.split()):
                r = db.run(*args, db=False)
                self.assertEqual(r.returncode, 0, args)
                self.assertTrue(r.stdout.startswith("usage: spfdb-ctl " + cmd), args)
        for group in ("key", "transfer", "replica", "primary"):
            r = db.run(group, "--help", db=False)
            self.assertEqual(r.returncode, 0)
            self.assertIn("usage: spfdb-ctl %s SUBCOMMAND" % group, r.stdout)
            r = db.run(group, "nope", db=False)
            self.assertEqual(r.returncode, 2)
            self.assertIn("unknown command '%s " % group, r.stderr)


class Completion(unittest.TestCase):
    def complete(self, *words, fake=None, db=None):
        """COMPREPLY for WORDS after spfdb-ctl [--db DIR]; FAKE: the lines a
        fake spfdb-ctl on PATH prints for `key list`."""
        root = tempfile.mkdtemp(prefix="spfdb-compl-")
        self.addCleanup(shutil.rmtree, root, True)
        env = dict(os.environ)
        env.pop("SPFDB_DB", None)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        prog = test_ctl.CTL
        if fake is not None:
            prog = os.path.join(root, "spfdb-ctl")
            with open(os.path.join(root, "listing"), "w") as f:
                f.write("".join(l + "\n" for l in fake))
            with open(prog, "w") as f:
                f.write("#!/bin/sh\ncat '%s'\n" % os.path.join(root, "listing"))
            os.chmod(prog, 0o700)
        words = [prog] + (["--db", db] if db else []) + list(words)
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); '
                  '_spfdb_ctl; printf "%s\\n" "${COMPREPLY[@]}"')
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", COMPLETION]
                           + words, capture_output=True, text=True, timeout=60, env=env,
                           cwd=root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([n for n in os.listdir(root) if n.startswith("PWNED")], [])
        return sorted(w for w in r.stdout.split("\n") if w)

    def test_words(self):
        self.assertEqual(self.complete("k"), ["key"])
        self.assertEqual(self.complete("p"), ["primary"])
        self.assertEqual(self.complete("key", ""), ["add", "del", "list"])
        self.assertEqual(self.complete("transfer", ""), ["del", "set", "show"])
        self.assertEqual(self.complete("replica", ""), ["add", "del", "list"])
        self.assertEqual(self.complete("primary", ""), ["del", "set", "show"])
        self.assertEqual(self.complete("help", "tr"), ["transfer"])
        self.assertEqual(self.complete("key", "add", "k1", "--"), ["--db", "--help", "--secret"])
        self.assertEqual(self.complete("key", "add", "k1", "--secret", ""), ["-"])
        self.assertEqual(self.complete("key", "list", "--"), ["--db", "--help", "--json"])
        self.assertEqual(self.complete("transfer", "set", "x", "--"), ["--db", "--help", "--ns"])
        self.assertEqual(self.complete("transfer", "show", "--"), ["--db", "--help", "--json"])
        self.assertEqual(self.complete("replica", "add", "192.0.2.1", "--"),
                         ["--db", "--help", "--key"])
        self.assertEqual(self.complete("primary", "set", "192.0.2.1", "--"),
                         ["--db", "--force", "--help", "--key", "--zone"])
        self.assertEqual(self.complete("primary", "show", "--"), ["--db", "--help", "--json"])

    def test_key_names_from_the_database(self):
        db = Db(self)
        for k in ("k1", "k2", "ops.example"):
            db.ok("key", "add", k, leaks=False)
        db.ok("zone", "add", "kz.example", *NS, leaks=False)
        self.assertEqual(self.complete("key", "del", "", db=db.dir), ["k1", "k2", "ops.example"])
        self.assertEqual(self.complete("replica", "add", "192.0.2.1", "--key", "k", db=db.dir),
                         ["k1", "k2"])
        self.assertEqual(self.complete("primary", "set", "192.0.2.1", "--key", "o", db=db.dir),
                         ["ops.example"])
        # the primary's zone is none of ours
        self.assertEqual(self.complete("primary", "set", "192.0.2.1", "--zone", "", db=db.dir),
                         [])

    def test_key_listing_is_never_evaluated(self):
        marker = lambda n: "PWNED%d" % n  # noqa: E731  (relative to the fake's cwd)
        hostile = ["$(>%s)" % marker(1), "`>%s`" % marker(2), "$(touch${IFS}%s)" % marker(3),
                   "k$(>%s)" % marker(4), "*", "$HOME", "~", "{a,b}", "a;b", "-x", "K1",
                   "a..b", "x" * 101, "\x1b[31m"]
        lines = ["k1 hmac-sha256 2026-11-23T10:00:00Z -", "k_2.example hmac-sha256 x -"]
        lines += ["%s hmac-sha256 x -" % h for h in hostile]
        self.assertEqual(self.complete("key", "del", "", fake=lines), ["k1", "k_2.example"])
        self.assertEqual(self.complete("replica", "add", "a", "--key", "", fake=lines),
                         ["k1", "k_2.example"])
        self.assertEqual(self.complete("key", "del", "$", fake=lines), [])


def main():
    global COMPLETION
    (COMPLETION,), args = test_ctl.take_args(1)
    test_ctl.run(args)


if __name__ == "__main__":
    main()
