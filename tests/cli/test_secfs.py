"""Nothing planted in a database directory makes spfdb-ctl write a file
outside it, whoever runs it (SPEC §3; docs/operations.md "The database
directory"), and the recommended layout works for operators, root and a
read-only reader.

Usage: test_secfs.py CTL [--sanitize] [unittest args, e.g. a TestCase name]
Runs as root (it switches to the users nobody and daemon with setpriv).
"""
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

CTL = None
SANITIZE = False

RACE_RUNS = 300       # spfdb-ctl runs against a swapping attacker, at most
RACE_SECONDS = 20     # ... and for this long at most


def user(name):
    return pwd.getpwnam(name)


def as_user(pw, groups=None):
    """setpriv's prefix running a command as PW (supplementary GROUPS)."""
    g = ["--groups", ",".join(str(x) for x in groups)] if groups else ["--clear-groups"]
    return ["setpriv", "--reuid", str(pw.pw_uid), "--regid", str(pw.pw_gid)] + g


# The attacker: swaps NAME in DIR between a regular file and a symlink to
# VICTIM, by rename (atomic), until killed or for SECONDS.
SWAPPER = r'''
import os, sys, time
d, name, victim, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
end = time.monotonic() + seconds
link, reg = os.path.join(d, ".l"), os.path.join(d, ".r")
path = os.path.join(d, name)
sys.stdout.write("ready\n"); sys.stdout.flush()
while time.monotonic() < end:
    for p in (link, reg):
        try: os.unlink(p)
        except FileNotFoundError: pass
    os.symlink(victim, link)
    open(reg, "wb").close()
    os.rename(reg, path)
    os.rename(link, path)
'''


class Base(unittest.TestCase):
    def setUp(self):
        self.top = tempfile.mkdtemp(prefix="spfdb-secfs-")
        self.addCleanup(shutil.rmtree, self.top, True)
        os.chmod(self.top, 0o755)
        self.dir = os.path.join(self.top, "db")
        os.mkdir(self.dir, 0o755)
        self.nobody = user("nobody")
        self.daemon = user("daemon")
        self.procs = []
        self.addCleanup(self.stop_all)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            if p.stdout:
                p.stdout.close()

    def ctl(self, *args, prefix=(), env=None):
        e = dict(os.environ)
        e.pop("SPFDB_DB", None)
        if env:
            e.update(env)
        return subprocess.run(list(prefix) + [CTL, "--db", self.dir] + list(args),
                              capture_output=True, text=True, timeout=60, env=e)

    def victim(self, owner, path=None):
        path = path or os.path.join(self.top, "victim")
        with open(path, "wb") as f:
            f.write(b"secret\n")
        os.chown(path, owner.pw_uid, owner.pw_gid)
        os.chmod(path, 0o600)
        return path

    def assert_intact(self, path, owner):
        st = os.lstat(path)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_size),
                         (0o600, owner.pw_uid, 7))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"secret\n")

    def swapper(self, attacker, name, victim, seconds):
        p = subprocess.Popen(as_user(attacker) + [sys.executable, "-c", SWAPPER, self.dir, name,
                                                  victim, str(seconds)],
                             stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        self.assertEqual(p.stdout.readline(), "ready\n")
        return p

    def race(self, runner, victim, owner, name="lock.mdb"):
        """Run spfdb-ctl (as RUNNER's prefix) against a swapping attacker
        (nobody) until the victim changes or the bounds pass; return the
        exit codes seen."""
        p = self.swapper(self.nobody, name, victim, RACE_SECONDS)
        codes = {}
        end = time.monotonic() + RACE_SECONDS
        for _ in range(RACE_RUNS):
            if time.monotonic() > end or p.poll() is not None:
                break
            r = self.ctl("allocation", "list", prefix=runner)
            codes[r.returncode] = r.stderr
            with open(victim, "rb") as f:
                if f.read() != b"secret\n":
                    break
        p.kill()
        p.wait(timeout=10)
        return codes


class Planted(Base):
    """A link planted before the run, in each layout an attacker can write."""

    def plant_and_run(self, runner, victim, owner, fix_dir):
        for f in ("lock.mdb", "data.mdb"):
            fix_dir()
            path = os.path.join(self.dir, f)
            os.symlink(victim, path)
            try:
                r = self.ctl("allocation", "list", prefix=runner)
                self.assertEqual(r.returncode, 3, (f, r.stderr))
                self.assert_intact(victim, owner)
            finally:
                os.unlink(path)

    def test_root_in_old_shared_layout(self):
        # the layout older hints made: root's directory, group-writable
        root = user("root")
        victim = self.victim(root)

        def fix():
            os.chown(self.dir, 0, self.nobody.pw_gid)
            os.chmod(self.dir, 0o2770)
        self.plant_and_run((), victim, root, fix)
        r = self.ctl("allocation", "list")
        self.assertEqual(r.returncode, 3)
        self.assertIn("can be changed by another account", r.stderr)
        self.assertIn("chmod 0750", r.stderr)

    def test_operator_in_a_directory_of_another_user(self):
        # a non-root operator (daemon) on nobody's directory: nobody could
        # clobber the operator's files
        victim = self.victim(self.daemon)

        def fix():
            os.chown(self.dir, self.nobody.pw_uid, self.nobody.pw_gid)
            os.chmod(self.dir, 0o755)
        self.plant_and_run(as_user(self.daemon), victim, self.daemon, fix)

    def test_operator_in_group_writable_directory(self):
        victim = self.victim(self.daemon)

        def fix():
            os.chown(self.dir, 0, self.daemon.pw_gid)
            os.chmod(self.dir, 0o2770)
        self.plant_and_run(as_user(self.daemon), victim, self.daemon, fix)

    def test_own_directory_link_refused(self):
        # a safe directory with a link in it (planted by its owner or root):
        # refused all the same, nothing written
        victim = self.victim(user("root"))
        for f in ("lock.mdb", "data.mdb"):
            path = os.path.join(self.dir, f)
            os.symlink(victim, path)
            r = self.ctl("allocation", "list")
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("not a regular file", r.stderr)
            self.assert_intact(victim, user("root"))
            os.unlink(path)

    def test_hard_link_refused(self):
        # a second name of a file elsewhere is refused as a symlink is
        victim = self.victim(user("root"), os.path.join(self.top, "victim"))
        os.link(victim, os.path.join(self.dir, "lock.mdb"))
        r = self.ctl("allocation", "list")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("not a regular file", r.stderr)
        self.assert_intact(victim, user("root"))


class Race(Base):
    """A link swapped in between any check and LMDB's open: a second
    process swaps lock.mdb between a regular file and a link, bounded in
    runs and time."""

    def test_root_old_layout(self):
        root = user("root")
        victim = self.victim(root)
        os.chown(self.dir, 0, self.nobody.pw_gid)
        os.chmod(self.dir, 0o2770)
        codes = self.race((), victim, root)
        self.assert_intact(victim, root)
        self.assertEqual(list(codes), [3], codes)

    def test_operator_in_directory_of_the_attacker(self):
        victim = self.victim(self.daemon)
        os.chown(self.dir, self.nobody.pw_uid, self.nobody.pw_gid)
        os.chmod(self.dir, 0o755)
        codes = self.race(as_user(self.daemon), victim, self.daemon)
        self.assert_intact(victim, self.daemon)
        self.assertEqual(list(codes), [3], codes)

    def test_data_mdb_swapped(self):
        root = user("root")
        victim = self.victim(root)
        os.chown(self.dir, 0, self.nobody.pw_gid)
        os.chmod(self.dir, 0o2770)
        codes = self.race((), victim, root, name="data.mdb")
        self.assert_intact(victim, root)
        self.assertEqual(list(codes), [3], codes)


class Layout(Base):
    """The recommended layout: the directory root:spfdb 0750, data.mdb
    root:spfdb-admin 0664, lock.mdb root:spfdb 0660.  Here group "nogroup"
    plays spfdb (readers: nobody) and a group of daemon's plays
    spfdb-admin (writers)."""

    def setUp(self):
        super().setUp()
        self.readers = self.nobody.pw_gid
        self.writers = self.daemon.pw_gid
        os.chown(self.dir, 0, self.readers)
        os.chmod(self.dir, 0o750)
        for f, g, m in (("data.mdb", self.writers, 0o664), ("lock.mdb", self.readers, 0o660)):
            p = os.path.join(self.dir, f)
            open(p, "wb").close()
            os.chown(p, 0, g)
            os.chmod(p, m)
        self.operator = as_user(self.daemon, [self.readers, self.writers])

    def modes(self):
        out = {}
        for f in ("data.mdb", "lock.mdb"):
            st = os.stat(os.path.join(self.dir, f))
            out[f] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        return out

    def test_operator_and_root_write_reader_reads(self):
        r = self.ctl("add", "192.0.2.1", prefix=self.operator)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        r = self.ctl("add", "192.0.2.2")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        # the files keep their owners and modes
        self.assertEqual(self.modes(), {"data.mdb": (0o664, 0, self.writers),
                                        "lock.mdb": (0o660, 0, self.readers)})
        # a member of the readers' group only cannot change it
        reader = as_user(self.nobody, [self.readers])
        r = self.ctl("add", "192.0.2.3", prefix=reader)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("permission denied", r.stderr)
        r = self.ctl("list", prefix=self.operator)
        self.assertEqual(r.stdout, "192.0.2.1/32\n192.0.2.2/32\n")

    def test_attacker_cannot_plant(self):
        # the readers' group cannot create anything in the directory
        r = subprocess.run(as_user(self.nobody, [self.readers]) +
                           ["ln", "-s", "/etc/passwd", os.path.join(self.dir, "x")],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.lexists(os.path.join(self.dir, "x")))

    def test_missing_directory_hint(self):
        shutil.rmtree(self.dir)
        r = self.ctl("list")
        self.assertEqual(r.returncode, 3)
        self.assertIn("install -d -m 0750 -g spfdb", r.stderr)


def main():
    global CTL, SANITIZE
    args = sys.argv[1:]
    CTL = os.path.abspath(args.pop(0))
    if args and args[0] == "--sanitize":
        SANITIZE = True
        args.pop(0)
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        sys.exit("test_secfs.py needs root and setpriv (util-linux)")
    unittest.main(argv=[sys.argv[0]] + args, verbosity=2)


if __name__ == "__main__":
    main()
