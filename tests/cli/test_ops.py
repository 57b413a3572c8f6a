"""spfdb-ctl operations tests (issue 4 "Operate"): the change log, --json,
spf-record, backup, the shared-directory permissions, bash completion.

Usage: test_ops.py CTL COMPLETION [--sanitize] [unittest args]
"""
import datetime
import json
import os
import pwd
import grp
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_ctl  # noqa: E402  (Db, v4_lines)
from test_ctl import Db, v4_lines  # noqa: E402

COMPLETION = None
SANITIZE = False


def provider_setup(db):
    db.ok("allocation", "add", "acme")
    db.ok("zone", "add", "iphmx.example", "--ns", "ns1.prov.example", "--ns", "ns2.prov.example")
    db.ok("zone", "add", "spf.cust.example", "--allocation", "acme",
          "--ns", "ns1.prov.example", "--ns", "ns2.prov.example")


class Log(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def log(self, *args):
        return self.db.ok("log", *args).stdout.splitlines()

    def test_who_removed_and_when(self):
        db = self.db
        db.ok("allocation", "add", "acme")
        db.ok("add", "--allocation", "acme", "198.51.100.0/24", "2001:db8::/32")
        before = int(time.time())
        db.ok("del", "--allocation", "acme", "198.51.100.0/24", env={"SUDO_USER": "alice"})
        after = int(time.time())
        hits = [l for l in self.log() if l.endswith(" del acme 198.51.100.0/24")]
        self.assertEqual(len(hits), 1, self.log())
        when, seq, user, sudo = hits[0].split()[:4]
        self.assertEqual(user, "user=" + pwd.getpwuid(os.getuid()).pw_name)
        self.assertEqual(sudo, "sudo=alice")
        t = datetime.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        self.assertTrue(before <= t <= after, (before, t, after))
        # the command of that record
        cmds = [l for l in self.log() if l.startswith(when + " " + seq + " ") and " command: " in l]
        self.assertEqual(len(cmds), 1)
        self.assertTrue(cmds[0].endswith(
            "command: spfdb-ctl --db %s del --allocation acme 198.51.100.0/24" % db.dir), cmds[0])

    def test_every_change_kind_in_order(self):
        db = self.db
        provider_setup(db)
        db.ok("add", "--allocation", "acme", "192.0.2.0/24", "::ffff:203.0.113.0/120")
        db.ok("zone", "set", "iphmx.example", "--ttl", "600")
        db.ok("zone", "del", "spf.cust.example")
        db.ok("replace", "--allocation", "acme", "-", input="192.0.2.0/25\n")
        db.ok("allocation", "del", "--force", "acme")
        ops = [" ".join(l.split()[3:]) for l in self.log() if " command: " not in l]
        ns = "ns=ns1.prov.example,ns2.prov.example"
        self.assertEqual(ops, [
            "allocation-add acme",
            "zone-add iphmx.example provider ttl=300 negative-ttl=60 hostmaster=default " + ns,
            "zone-add spf.cust.example delegated:acme ttl=300 negative-ttl=60 "
            "hostmaster=default " + ns,
            "add acme 192.0.2.0/24", "add acme 203.0.113.0/24",
            "zone-set iphmx.example provider ttl=600 negative-ttl=60 hostmaster=default " + ns,
            "zone-del spf.cust.example delegated:acme",
            "del acme 192.0.2.0/24", "del acme 203.0.113.0/24", "add acme 192.0.2.0/25",
            "del acme 192.0.2.0/25", "allocation-del acme"])
        seqs = [int(l.split()[1][4:]) for l in self.log()]
        self.assertEqual(sorted(set(seqs)), list(range(1, 9)))
        self.assertEqual(seqs, sorted(seqs))

    def test_no_record_without_a_change(self):
        db = self.db
        db.ok("add", "192.0.2.1")
        n = len(self.log())
        db.ok("add", "192.0.2.1")          # skipped: nothing changes
        db.fails(2, "add", "192.0.2.2", "bad")
        db.fails(2, "del", "198.51.100.1")
        db.ok("replace", "--allocation", "default", "--dry-run", "-", input="10.0.0.0/8\n")
        db.ok("list")
        self.assertEqual(len(self.log()), n)

    def test_filters(self):
        db = self.db
        db.ok("allocation", "add", "acme")
        db.ok("add", "192.0.2.1")
        db.ok("add", "--allocation", "acme", "198.51.100.1")
        lines = self.log("--allocation", "acme")
        self.assertEqual([l.split(None, 3)[3] for l in lines if "command:" not in l],
                         ["allocation-add acme", "add acme 198.51.100.1/32"])
        self.assertFalse(any("192.0.2.1" in l for l in lines))
        self.assertEqual(len(self.log("--since", "1h")), 6)
        self.assertEqual(len(self.log("--since", "2000-01-01")), 6)
        self.assertEqual(len(self.log("--since", "2000-01-01T10:00:00Z")), 6)
        self.assertEqual(self.log("--since", "2999-01-01T00:00Z"), [])
        for bad in ("yesterday", "1y", "2026-13-01", "2026-11-23T25:00", "-1h", ""):
            self.db.fails(2, "log", "--since", bad, want=["--since"])
        self.db.fails(2, "log", "--allocation", "Bad_Name")

    def test_json(self):
        db = self.db
        provider_setup(db)
        db.ok("add", "--allocation", "acme", "192.0.2.0/24", env={"SUDO_USER": "al\"ice\n"})
        doc = json.loads(db.ok("log", "--json").stdout)
        self.assertEqual([r["seq"] for r in doc], [1, 2, 3, 4])
        last = doc[-1]
        self.assertEqual(last["sudo_user"], "al\"ice\n")
        self.assertIsNone(doc[0]["sudo_user"])
        self.assertEqual(last["changes"], [{"op": "add", "allocation": "acme",
                                            "prefix": "192.0.2.0/24"}])
        self.assertEqual(doc[2]["changes"][0]["op"], "zone-add")
        self.assertEqual(doc[2]["changes"][0]["allocation"], "acme")
        self.assertIsNone(doc[1]["changes"][0]["allocation"])
        self.assertEqual(
            datetime.datetime.strptime(last["time"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp(), last["unix"])
        # the text form escapes the same bytes onto one line
        self.assertIn("sudo=al\"ice\\x0a ", db.ok("log").stdout)
        self.assertEqual(json.loads(db.ok("log", "--json", "--since", "2999-01-01").stdout), [])
        acme = json.loads(db.ok("log", "--json", "--allocation", "default").stdout)
        self.assertEqual(acme, [])

    def test_command_bytes(self):
        """The command line is kept exactly: shell-quoted where needed,
        JSON-escaped, and one line in text with odd bytes as \\xHH."""
        d = os.path.join(self.db.root, "d b'\xe9").encode("utf-8") + b"\xff"
        os.mkdir(d)
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
        r = subprocess.run([test_ctl.CTL.encode(), b"--db", d, b"add", b"192.0.2.1"],
                           capture_output=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([test_ctl.CTL.encode(), b"--db", d, b"log", b"--json"],
                           capture_output=True, env=env)
        doc = json.loads(r.stdout.decode("utf-8"))
        quoted = "'" + self.db.root.replace("'", "'\\''") + "/d b'\\''\xe9\ufffd'"
        self.assertEqual(doc[0]["command"], "spfdb-ctl --db %s add 192.0.2.1" % quoted)
        r = subprocess.run([test_ctl.CTL.encode(), b"--db", d, b"log"], capture_output=True,
                           env=env)
        lines = r.stdout.decode("ascii").splitlines()
        self.assertEqual(len(lines), 2)
        self.assertIn("/d b'\\x5c''\\xc3\\xa9\\xff' add 192.0.2.1", lines[0])

    def test_bulk_log(self):
        n = 100000 if SANITIZE else 1000000
        text = v4_lines(n, step=4)
        t = time.monotonic()
        self.db.ok("add", "-", input=text)
        took = time.monotonic() - t
        sys.stderr.write("add - of %d lines with the change log: %.2f s\n" % (n, took))
        r = subprocess.run([test_ctl.CTL, "--db", self.db.dir, "log"], capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(r.returncode, 0)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), n + 1)
        self.assertTrue(lines[1].endswith(" add default 11.0.0.0/32"), lines[1])
        self.assertTrue(lines[-1].endswith(" add default " + text.splitlines()[-1] + "/32"))
        r = subprocess.run([test_ctl.CTL, "--db", self.db.dir, "log", "--json"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(len(json.loads(r.stdout)[0]["changes"]), n)


class Json(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def j(self, *args, code=0):
        r = self.db.run(*args, "--json")
        self.assertEqual(r.returncode, code, r.stderr)
        return json.loads(r.stdout)

    def test_listings(self):
        db = self.db
        self.assertEqual(self.j("zone", "list"), [])
        self.assertEqual(self.j("list"), {"allocation": "default", "entries": []})
        provider_setup(db)
        db.ok("add", "--allocation", "acme", "198.51.100.0/24", "2001:db8::/32", "192.0.2.1")
        self.assertEqual(self.j("allocation", "list"), [
            {"name": "acme", "ipv4_entries": 2, "ipv6_entries": 1, "members": []},
            {"name": "default", "ipv4_entries": 0, "ipv6_entries": 0, "members": []}])
        self.assertEqual(self.j("list", "--allocation", "acme"), {
            "allocation": "acme",
            "entries": ["192.0.2.1/32", "198.51.100.0/24", "2001:db8::/32"]})
        self.assertEqual(self.j("zone", "list"), [
            {"zone": "iphmx.example", "type": "provider", "allocation": None, "ttl": 300,
             "negative_ttl": 60, "hostmaster": "hostmaster@prov.example",
             "ns": ["ns1.prov.example", "ns2.prov.example"]},
            {"zone": "spf.cust.example", "type": "delegated", "allocation": "acme", "ttl": 300,
             "negative_ttl": 60, "hostmaster": "hostmaster@prov.example",
             "ns": ["ns1.prov.example", "ns2.prov.example"]}])
        self.assertEqual(self.j("check", "--allocation", "acme", "198.51.100.7"), {
            "allocation": "acme", "address": "198.51.100.7", "listed": True,
            "entry": "198.51.100.0/24", "member": None})
        self.assertEqual(self.j("check", "--allocation", "acme", "::ffff:198.51.101.7", code=1), {
            "allocation": "acme", "address": "198.51.101.7", "listed": False, "entry": None,
            "member": None})
        self.assertEqual(self.j("check", "--allocation", "acme", "2001:db8::1")["entry"],
                         "2001:db8::/32")

    def test_hostmaster_escaped(self):
        self.db.ok("zone", "add", "z.example", "--ns", "ns1.p.example", "--ns", "ns2.p.example",
                   "--hostmaster", "o'b{e}n@p.example")
        self.assertEqual(self.j("zone", "list")[0]["hostmaster"], "o'b{e}n@p.example")

    def test_errors_stay_errors(self):
        self.db.ok("list")
        self.db.fails(2, "list", "--json", "--allocation", "nope")
        self.db.fails(2, "zone", "list", "--json", "extra")
        r = self.db.run("--db", "/nonexistent/x", "allocation", "list", "--json", db=False)
        self.assertEqual(r.returncode, 3)
        self.assertEqual(r.stdout, "")


class SpfRecord(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def test_provider_and_delegated(self):
        db = self.db
        db.ok("list")
        db.fails(2, "spf-record", "default", want=["no served zone"])
        provider_setup(db)
        out = db.ok("spf-record", "acme", "--zone", "IPHMX.example.").stdout
        self.assertEqual(out.splitlines()[0], "exists:%{i}.spf.acme.iphmx.example")
        self.assertIn('example.com. IN TXT "v=spf1 exists:%{i}.spf.acme.iphmx.example ~all"\n',
                      out)
        self.assertNotIn(" NS ", out)
        # a second SPF record would be a permerror (RFC 7208 3.2)
        self.assertIn("; a domain has one SPF record: add the mechanism to an existing one", out)
        out = db.ok("spf-record", "acme", "--zone", "spf.cust.example").stdout
        self.assertEqual(out.splitlines()[0], "exists:%{i}.spf.cust.example")
        self.assertIn('"v=spf1 exists:%{i}.spf.cust.example ~all"', out)
        self.assertIn("spf.cust.example. IN NS ns1.prov.example.\n"
                      "spf.cust.example. IN NS ns2.prov.example.\n", out)
        self.assertIn("no DS record", out)
        # without --zone: one block per zone serving the allocation
        out = db.ok("spf-record", "acme").stdout
        self.assertEqual(out.split("\n\n")[0].splitlines()[0],
                         "exists:%{i}.spf.acme.iphmx.example")
        self.assertEqual(out.split("\n\n")[1].splitlines()[0], "exists:%{i}.spf.cust.example")
        out = db.ok("spf-record", "default").stdout
        self.assertEqual(out.splitlines()[0], "exists:%{i}.spf.default.iphmx.example")
        self.assertNotIn("spf.cust.example", out)

    def test_every_form_with_its_cost(self):
        db = self.db
        provider_setup(db)
        out = db.ok("spf-record", "acme", "--zone", "iphmx.example").stdout
        lines = out.splitlines()
        txt = [l for l in lines if " IN TXT " in l]
        self.assertEqual(txt, [
            'example.com. IN TXT "v=spf1 exists:%{i}.spf.acme.iphmx.example ~all"',
            'example.com. IN TXT "v=spf1 include:%{i}._ip.acme.iphmx.example ~all"',
            'example.com. IN TXT "v=spf1 include:_spf.acme.iphmx.example ~all"'])
        self.assertIn(";   exists: 1 DNS lookup; a sender not listed makes it a void lookup", out)
        self.assertIn(";   _ip: 1 DNS lookup, never void", out)
        self.assertIn(";   _spf: 1 DNS lookup today (0 CIDRs, in the top record), no", out)
        # the chain's cost follows the set: merged CIDRs, then leaves
        db.ok("add", "--allocation", "acme", "192.0.2.0/25", "192.0.2.128/25", "2001:db8::/48")
        out = db.ok("spf-record", "acme", "--zone", "iphmx.example").stdout
        self.assertIn(";   _spf: 1 DNS lookup today (2 CIDRs, in the top record), no", out)
        many = "".join("10.%d.0.%d\n" % (i // 100, 2 * (i % 100)) for i in range(60))
        db.ok("add", "--allocation", "acme", "-", input=many)
        out = db.ok("spf-record", "acme", "--zone", "iphmx.example").stdout
        self.assertIn(";   _spf: 3 DNS lookups today (62 CIDRs, in the top record and 2 leaves)",
                      out)
        many = "".join("10.%d.1.%d\n" % (i // 100, 2 * (i % 100)) for i in range(200))
        db.ok("add", "--allocation", "acme", "-", input=many)
        out = db.ok("spf-record", "acme", "--zone", "iphmx.example").stdout
        self.assertIn(";   _spf: 2 DNS lookups today, macros needed", out)
        self.assertIn("_spf answers exists:%{i}.spf.acme.iphmx.example instead", out)
        self.assertNotIn("warning", out)

    def test_long_delegated_zone_warns_for_ipv6_ip_names(self):
        db = self.db
        db.ok("allocation", "add", "acme")
        # 185 characters: the longest whose IPv6 _ip names fit 253; 186 warns
        for n, warns in ((55, False), (56, True)):
            zone = ".".join(["a" * 60, "b" * 60, "c" * n, "example"])
            r = db.ok("zone", "add", zone, "--allocation", "acme", "--ns", "ns1.prov.example",
                      "--ns", "ns2.prov.example")
            self.assertEqual("IPv6 senders cannot match include:%{i}._ip." in r.stderr, warns)
            out = db.ok("spf-record", "acme", "--zone", zone).stdout
            self.assertEqual(";   warning: _ip.%s is too long for IPv6 senders" % zone in out,
                             warns, zone)

    def test_errors(self):
        provider_setup(self.db)
        self.db.fails(2, "spf-record", "nope", want=["unknown allocation 'nope'"])
        self.db.fails(2, "spf-record", "acme", "--zone", "other.example", want=["not served"])
        self.db.fails(2, "spf-record", "default", "--zone", "spf.cust.example",
                      want=["bound to allocation 'acme'"])
        self.db.fails(2, "spf-record")
        self.db.fails(2, "spf-record", "acme", "--zone", "bad..name")


class Backup(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def test_errors(self):
        self.db.ok("list")
        out = os.path.join(self.db.root, "out")
        self.db.fails(2, "backup", out, want=["create an empty directory"])
        os.mkdir(out)
        with open(os.path.join(out, "x"), "w"):
            pass
        self.db.fails(2, "backup", out, want=["not empty"])
        self.db.fails(2, "backup", os.path.join(out, "x"), want=["not a directory"])
        self.db.fails(2, "backup")

    def test_hot_copy_while_writing(self):
        db = self.db
        db.ok("add", "-", input=v4_lines(20000))
        # a writer: one add per line, each its own commit
        script = "".join("add 12.0.%d.%d\n" % (i // 256, i % 256) for i in range(400))
        env = dict(os.environ)
        if SANITIZE:
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        writer = subprocess.Popen(
            ["sh", "-c", 'while read cmd p; do "$0" --db "$1" add "$p" >/dev/null || exit 1; done',
             test_ctl.CTL, db.dir], stdin=subprocess.PIPE, text=True, env=env)
        try:
            writer.stdin.write(script)
            writer.stdin.close()
            time.sleep(0.2)
            outs = []
            for k in range(3):
                out = os.path.join(db.root, "bk%d" % k)
                os.mkdir(out)
                r = db.ok("backup", out)
                self.assertIn("backup written", r.stdout)
                self.assertEqual(os.listdir(out), ["data.mdb"])
                st = os.stat(os.path.join(out, "data.mdb"))
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)  # not world-readable
                outs.append(out)
            self.assertEqual(writer.wait(timeout=240), 0)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
        final = db.ok("list").stdout.splitlines()
        prev = 0
        for out in outs:
            listed = db.run("list", env={"SPFDB_DB": out}, db=False)
            self.assertEqual(listed.returncode, 0, listed.stderr)
            got = listed.stdout.splitlines()
            # a state at some commit: the initial entries plus a prefix of
            # the writer's adds, in the order it made them
            extra = [p for p in got if p.startswith("12.")]
            self.assertEqual(len(got), 20000 + len(extra))
            want = sorted(["12.0.%d.%d/32" % (i // 256, i % 256) for i in range(len(extra))],
                          key=lambda s: tuple(int(x) for x in s[:-3].split(".")))
            self.assertEqual(extra, want)
            self.assertGreaterEqual(len(extra), prev)
            prev = len(extra)
            counts = db.run("allocation", "list", env={"SPFDB_DB": out}, db=False).stdout
            self.assertEqual(counts, "default %d 0\n" % len(got))
            log = db.run("log", env={"SPFDB_DB": out}, db=False).stdout
            self.assertEqual(log.count(" command: "), 1 + len(extra))
        self.assertEqual(len(final), 20400)


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@unittest.skipUnless(os.geteuid() == 0 and user_exists("nobody") and shutil.which("setpriv"),
                     "needs root, user nobody and setpriv")
class Perms(unittest.TestCase):
    """The LMDB permission trap (issue 4): files 0660 whatever the umask;
    root makes files the directory's owner can open; others are warned."""

    def setUp(self):
        self.db = Db(self)
        os.chmod(self.db.root, 0o755)
        self.nobody = pwd.getpwnam("nobody")
        self.nogroup = grp.getgrgid(self.nobody.pw_gid)

    def as_nobody(self, *args):
        return subprocess.run(
            ["setpriv", "--reuid", str(self.nobody.pw_uid), "--regid", str(self.nobody.pw_gid),
             "--clear-groups", test_ctl.CTL, "--db", self.db.dir] + list(args),
            capture_output=True, text=True, timeout=60)

    def modes(self):
        out = {}
        for f in ("data.mdb", "lock.mdb"):
            st = os.stat(os.path.join(self.db.dir, f))
            out[f] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        return out

    def test_umask_077(self):
        r = subprocess.run([test_ctl.CTL, "--db", self.db.dir, "allocation", "list"],
                           capture_output=True, text=True, preexec_fn=lambda: os.umask(0o077))
        self.assertEqual(r.returncode, 0, r.stderr)
        for m in self.modes().values():
            self.assertEqual(m, (0o660, 0, 0))

    def test_root_in_a_directory_owned_by_another_user(self):
        os.chown(self.db.dir, self.nobody.pw_uid, self.nobody.pw_gid)
        os.chmod(self.db.dir, 0o2750)
        r = subprocess.run([test_ctl.CTL, "--db", self.db.dir, "add", "192.0.2.1"],
                           capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022))
        self.assertEqual(r.returncode, 0, r.stderr)
        for m in self.modes().values():
            self.assertEqual(m, (0o660, self.nobody.pw_uid, self.nobody.pw_gid))
        # the owner opens and writes it
        r = self.as_nobody("add", "192.0.2.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertEqual(self.as_nobody("list").stdout, "192.0.2.1/32\n192.0.2.2/32\n")

    def test_group_member_is_warned(self):
        # the layout: root's directory of the readers' group (nogroup
        # here); root creates the files in that group.  A lock.mdb out of
        # the group stops spfdbd: a group member is told
        os.chown(self.db.dir, 0, self.nogroup.gr_gid)
        os.chmod(self.db.dir, 0o750)
        self.db.ok("list")
        for m in self.modes().values():
            self.assertEqual(m, (0o660, 0, self.nogroup.gr_gid))
        lock = os.path.join(self.db.dir, "lock.mdb")
        os.chown(lock, 0, 0)
        os.chmod(lock, 0o666)
        cmd = ["setpriv", "--reuid", str(self.nobody.pw_uid), "--regid", str(self.nobody.pw_gid),
               "--groups", str(self.nogroup.gr_gid), test_ctl.CTL, "--db", self.db.dir, "list"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: %s not usable by group %s" % (lock, self.nogroup.gr_name),
                      r.stderr)
        os.chown(lock, 0, self.nogroup.gr_gid)
        os.chmod(lock, 0o660)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_root_creates_as_the_owner(self):
        # root, umask 077, in nobody's directory of another group: the
        # files are created by nobody (setfsuid), never chowned
        os.chown(self.db.dir, self.nobody.pw_uid, 0)
        os.chmod(self.db.dir, 0o2750)
        r = subprocess.run([test_ctl.CTL, "--db", self.db.dir, "allocation", "list"],
                           capture_output=True, text=True, preexec_fn=lambda: os.umask(0o077))
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        for m in self.modes().values():
            self.assertEqual(m, (0o660, self.nobody.pw_uid, 0))

    def test_planted_file_refused(self):
        # a symlink (or fifo, directory) for data.mdb or lock.mdb would make
        # root's spfdb-ctl create or overwrite its target (test_secfs.py
        # has the layouts where others could plant it)
        victim = os.path.join(self.db.root, "victim")
        os.chown(self.db.dir, self.nobody.pw_uid, self.nobody.pw_gid)
        os.chmod(self.db.dir, 0o2750)
        for f, plant in (("lock.mdb", lambda p: os.symlink(victim, p)),
                         ("data.mdb", lambda p: os.symlink(victim, p)),
                         ("lock.mdb", os.mkfifo), ("data.mdb", os.mkdir)):
            with open(victim, "wb") as v:
                v.write(b"secret\n")
            os.chmod(victim, 0o600)
            path = os.path.join(self.db.dir, f)
            plant(path)
            try:
                r = subprocess.run([test_ctl.CTL, "--db", self.db.dir, "allocation", "list"],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 3, (f, r.stderr))
                self.assertIn("%s: data.mdb or lock.mdb is not a regular file" % self.db.dir,
                              r.stderr)
                st = os.stat(victim)
                self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o600, 0, 0))
                with open(victim, "rb") as v:
                    self.assertEqual(v.read(), b"secret\n")
                self.assertEqual(sorted(os.listdir(self.db.dir)), [f])
            finally:
                (os.rmdir if os.path.isdir(path) and not os.path.islink(path) else os.unlink)(path)

    def test_writable_directory_refused(self):
        # a directory others can change: refused, whoever runs it
        for mode in (0o777, 0o2770, 0o1777, 0o775):
            os.chmod(self.db.dir, mode)
            for run in (self.db.run, self.as_nobody) if mode & 0o001 else (self.db.run,):
                r = run("list")
                self.assertEqual(r.returncode, 3, (oct(mode), r.stderr))
                self.assertIn("can be changed by another account", r.stderr)
            self.assertEqual(os.listdir(self.db.dir), [])

    def test_sudo_user_only_from_root(self):
        os.chown(self.db.dir, self.nobody.pw_uid, self.nobody.pw_gid)
        self.db.ok("add", "192.0.2.1", env={"SUDO_USER": "alice"})
        r = subprocess.run(
            ["env", "SUDO_USER=mallory", "setpriv", "--reuid", str(self.nobody.pw_uid),
             "--regid", str(self.nobody.pw_gid), "--clear-groups", test_ctl.CTL,
             "--db", self.db.dir, "add", "192.0.2.2"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        log = self.db.ok("log").stdout
        self.assertIn("sudo=alice", log)
        self.assertNotIn("mallory", log)
        self.assertIn("seq=2 user=%s command: " % self.nobody.pw_name, log)

    def test_root_in_a_root_directory_of_group_spfdb(self):
        os.chown(self.db.dir, 0, self.nobody.pw_gid)
        self.db.ok("list")
        for m in self.modes().values():
            self.assertEqual(m, (0o660, 0, self.nobody.pw_gid))

    def test_denied_gives_the_fix(self):
        self.db.ok("add", "192.0.2.1")
        os.chmod(self.db.dir, 0o755)
        for f in ("data.mdb", "lock.mdb"):
            os.chmod(os.path.join(self.db.dir, f), 0o640)
        r = self.as_nobody("list")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("permission denied", r.stderr)
        self.assertIn("chown root:spfdb-admin %s/data.mdb" % self.db.dir, r.stderr)


class Completion(unittest.TestCase):
    def setUp(self):
        self.db = Db(self)

    def complete(self, *words, db=True):
        words = [test_ctl.CTL] + (["--db", self.db.dir] if db else []) + list(words)
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); '
                  '_spfdb_ctl; printf "%s\\n" "${COMPREPLY[@]}"')
        env = dict(os.environ)
        env.pop("SPFDB_DB", None)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        r = subprocess.run(["bash", "--norc", "-c", script, "bash", COMPLETION] + words,
                           capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(w for w in r.stdout.split("\n") if w)

    def test_words(self):
        self.assertEqual(self.complete("", db=False),
                         sorted("add del replace import import-spf list check allocation zone log "
                                "spf-record backup key transfer replica primary help".split()))
        self.assertEqual(self.complete("zone", ""), ["add", "del", "list", "set"])
        self.assertEqual(self.complete("allocation", "d"), ["del"])
        self.assertEqual(self.complete("log", "--"),
                         ["--allocation", "--db", "--help", "--json", "--since"])
        self.assertEqual(self.complete("zone", "set", "--p"), ["--provider"])
        self.assertEqual(self.complete("import", "--"),
                         ["--allow-empty", "--db", "--dry-run", "--force", "--help", "--json",
                          "--replace"])
        self.assertEqual(self.complete("--v", db=False), ["--version"])

    def test_names_from_the_database(self):
        provider_setup(self.db)
        self.db.ok("allocation", "add", "acme2")
        self.assertEqual(self.complete("list", "--allocation", "a"), ["acme", "acme2"])
        self.assertEqual(self.complete("spf-record", ""), ["acme", "acme2", "default"])
        self.assertEqual(self.complete("zone", "del", ""), ["iphmx.example", "spf.cust.example"])
        self.assertEqual(self.complete("spf-record", "acme", "--zone", "i"), ["iphmx.example"])
        # another --db: its names, not ours
        other = Db(self)
        self.assertEqual(self.complete("--db", other.dir, "spf-record", "", db=False),
                         ["default"])


class Upgrade(unittest.TestCase):
    """A database of the first format (format1.dump: mdb_dump -a of one
    made by the first release) is converted on its first open, losing
    nothing: entries, maximal-entry answers, zones, serial, change log."""

    def setUp(self):
        self.db = Db(self)
        dump = os.path.join(os.path.dirname(os.path.abspath(__file__)), "format1.dump")
        r = subprocess.run(["mdb_load", "-f", dump, self.db.dir], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_converted_on_first_open(self):
        db = self.db
        self.assertEqual(db.ok("list", "--allocation", "acme").stdout.split(),
                         ["198.51.100.0/24", "198.51.100.7/32", "198.51.100.128/25",
                          "203.0.113.0/28", "2001:db8::/32", "2001:db8:1::/48",
                          "2001:db8:ffff::1/128"])
        self.assertEqual(db.ok("list", "--allocation", "beta").stdout.split(),
                         ["192.0.2.0/24", "2001:db8:2::/48"])
        self.assertEqual(db.ok("allocation", "list").stdout.split(),
                         "acme 4 3 beta 1 1 default 0 0".split())
        self.assertIn("spf.cust.example", db.ok("zone", "list").stdout)
        log = db.ok("log").stdout
        self.assertIn("del acme 10.0.0.0/8", log)
        self.assertIn("add beta 2001:db8:2::/48", log)
        dbs = subprocess.run(["mdb_stat", "-a", db.dir], capture_output=True, text=True,
                             timeout=60).stdout
        self.assertNotIn("Status of entries", dbs)
        self.assertNotIn("Status of tops", dbs)
        # answers come from the maximal entries, converted too
        for ip, code in (("198.51.100.200", 0), ("203.0.113.16", 1), ("10.1.2.3", 1),
                         ("2001:db8:ffff::1", 0), ("2001:db9::", 1), ("192.0.2.9", 1)):
            self.assertEqual(db.run("check", "--allocation", "acme", ip).returncode, code, ip)
        # and it is a database like any other: removing the /24 uncovers
        # the /25 and the /32 inside it, which stay listed
        db.ok("del", "--allocation", "acme", "198.51.100.0/24")
        self.assertEqual(db.run("check", "--allocation", "acme", "198.51.100.7").returncode, 0)
        self.assertEqual(db.run("check", "--allocation", "acme", "198.51.100.8").returncode, 1)
        self.assertEqual(db.run("check", "--allocation", "acme", "198.51.100.129").returncode,
                         0)

    def test_not_while_another_process_reads_it(self):
        # an older spfdbd would read the dropped databases as empty and
        # answer "not listed" for every address: no conversion meanwhile
        db = self.db
        holder = subprocess.Popen([os.environ["SPFDB_HOLD_READER"], db.dir],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(holder.stdout.readline().strip(), "ready")
            with open(os.path.join(db.dir, "data.mdb"), "rb") as f:
                before = f.read()
            r = db.run("list", "--allocation", "acme")
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("older format and open in another process", r.stderr)
            with open(os.path.join(db.dir, "data.mdb"), "rb") as f:
                self.assertEqual(f.read(), before)
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
        self.assertIn("198.51.100.7/32", db.ok("list", "--allocation", "acme").stdout)

    def test_second_open_changes_nothing(self):
        db = self.db
        db.ok("list", "--allocation", "acme")
        with open(os.path.join(db.dir, "data.mdb"), "rb") as f:
            before = f.read()
        db.ok("list", "--allocation", "acme")
        with open(os.path.join(db.dir, "data.mdb"), "rb") as f:
            self.assertEqual(f.read(), before)


def main():
    global COMPLETION, SANITIZE
    (COMPLETION,), args = test_ctl.take_args(1)
    SANITIZE = test_ctl.SANITIZE
    test_ctl.run(args)


if __name__ == "__main__":
    main()
