"""spfdbd --user, start-up order, sd_notify and log lines (issue 4).

As root: spfdbd --user nobody binds, switches to nobody (uids, gids, groups,
no capabilities) before it opens the database (files LMDB creates belong to
nobody; a database nobody cannot open fails), and only then says READY=1
(with STATUS=) on $NOTIFY_SOCKET; STOPPING=1 on SIGTERM.  Not as root:
--user is refused.  Under journald every line carries its priority."""
import os
import pwd
import shutil
import signal
import stat
import socket
import subprocess
import tempfile
import time
import unittest

import answers as A
import spfdbtest as T

ROOT = os.geteuid() == 0
NOBODY = pwd.getpwnam("nobody")
LISTED = "198.51.100.7." + A.PROVIDER["base"]


def chown_tree(top, uid, gid):
    for d, dirs, files in os.walk(top):
        for n in [d] + [os.path.join(d, f) for f in dirs + files]:
            os.chown(n, uid, gid)


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


class Notify:
    """An abstract-namespace datagram socket standing in for systemd's
    (abstract: spfdbd writes to it after switching to nobody)."""

    def __init__(self):
        self.name = "spfdbtest-%d-%d" % (os.getpid(), time.monotonic_ns())
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)

    def env(self):
        return "@" + self.name

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def close(self):
        self.sock.close()


def run_spfdbd(args, env=None, user=None, timeout=10):
    """Run spfdbd to its exit (a start-up failure); returns (status, stderr)."""
    pre = None
    if user is not None:
        def pre():
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
    p = subprocess.run([T.SPFDBD] + args, capture_output=True, text=True, timeout=timeout,
                       env=env, preexec_fn=pre)
    return p.returncode, p.stderr


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM")}
    env.update(extra)
    return env


class User(unittest.TestCase):
    def setUp(self):
        self.db = T.Db()
        self.procs = []

    def tearDown(self):
        for s in self.procs:
            s.kill()
        self.db.cleanup()

    def start(self, dbdir, args, env_extra=None):
        """A T.Server with ARGS, started with $NOTIFY_SOCKET etc. from ENV_EXTRA."""
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(clean_env(**(env_extra or {})))
        try:
            srv = T.Server(dbdir, args=args)
            self.procs.append(srv)
            return srv.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def test_refused_when_not_root(self):
        port = T.free_port()
        args = ["--db", self.db.dir, "--listen", "127.0.0.1:%d" % port, "--user", "nobody"]
        rc, err = run_spfdbd(args, env=clean_env(), user=NOBODY if ROOT else None)
        self.assertEqual(rc, 2, err)
        self.assertIn("--user nobody needs root", err)

    @unittest.skipUnless(ROOT, "needs root")
    def test_bad_users(self):
        port = T.free_port()
        for user, msg in (("no-such-user-spfdbtest", "no such user"), ("root", "is root")):
            rc, err = run_spfdbd(["--db", self.db.dir, "--listen", "127.0.0.1:%d" % port,
                                  "--user", user], env=clean_env())
            self.assertEqual(rc, 2, err)
            self.assertIn(msg, err)

    @unittest.skipUnless(ROOT, "needs root")
    def test_root_warning(self):
        A.build(self.db)
        srv = self.start(self.db.dir, [])
        self.assertEqual(srv.stop(), 0)
        self.assertIn("warning: running as root: start spfdbd with --user NAME", srv.stderr())
        srv = self.start(self.db.dir, [], {"NOTIFY_SOCKET": "@spfdbtest-nobody-listens"})
        self.assertEqual(srv.stop(), 0)
        self.assertNotIn("running as root", srv.stderr())

    @unittest.skipUnless(ROOT, "needs root")
    def test_serves_as_nobody(self):
        A.build(self.db)
        chown_tree(self.db.top, NOBODY.pw_uid, NOBODY.pw_gid)
        n = Notify()
        try:
            srv = T.Server(self.db.dir, args=["--user", "nobody"], probe=False)
            self.procs.append(srv)
            saved = dict(os.environ)
            os.environ.update(clean_env(NOTIFY_SOCKET=n.env()))
            try:
                srv.start()
            finally:
                os.environ.clear()
                os.environ.update(saved)
            ready = n.recv(T.START_TIMEOUT)
            self.assertTrue(ready.startswith("READY=1\nSTATUS=serving 2 zones with 2 workers"),
                            ready + srv.stderr())
            st = proc_status(srv.proc.pid)
            uid, gid = str(NOBODY.pw_uid), str(NOBODY.pw_gid)
            self.assertEqual(st["Uid"], [uid] * 4)
            self.assertEqual(st["Gid"], [gid] * 4)
            groups = sorted(str(g) for g in os.getgrouplist("nobody", NOBODY.pw_gid))
            self.assertEqual(sorted(st["Groups"]), groups)
            self.assertEqual(int(st["CapEff"][0], 16), 0)
            self.assertEqual(int(st["CapPrm"][0], 16), 0)
            r = T.udp_raw(srv.addr(), T.make_query(LISTED, "A").to_wire())
            self.assertEqual(T.Header(r).an, 1)
            r = T.tcp_raw(srv.addr(), T.make_query(LISTED, "A").to_wire())
            self.assertEqual(T.Header(r).an, 1)
            err = srv.stderr()
            self.assertIn("user nobody", err)
            self.assertNotIn("running as root", err)
            srv.proc.send_signal(signal.SIGTERM)
            self.assertEqual(n.recv(T.STOP_TIMEOUT), "STOPPING=1")
            self.assertEqual(srv.proc.wait(T.STOP_TIMEOUT), 0, srv.stderr())
        finally:
            n.close()

    def layout(self):
        """The recommended layout, nogroup playing the readers' group spfdb
        and root's group the writers' spfdb-admin."""
        nogroup = NOBODY.pw_gid
        os.chmod(self.db.top, 0o755)
        os.chown(self.db.dir, 0, nogroup)
        os.chmod(self.db.dir, 0o750)
        for f, g, m in (("data.mdb", 0, 0o664), ("lock.mdb", nogroup, 0o660)):
            p = os.path.join(self.db.dir, f)
            os.chown(p, 0, g)
            os.chmod(p, m)

    @unittest.skipUnless(ROOT, "needs root")
    def test_reads_a_database_it_cannot_write(self):
        """SPEC §4: spfdbd never writes; its user reads data.mdb and writes
        lock.mdb only, while spfdb-ctl commits beside it."""
        A.build(self.db)
        self.layout()
        data = os.path.join(self.db.dir, "data.mdb")
        before = os.stat(data)
        srv = self.start(self.db.dir, ["--user", "nobody"])
        pid = srv.proc.pid
        # the process holds data.mdb read-only, and its user cannot open it
        # for writing
        modes = []
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except FileNotFoundError:
                continue
            if target == data:
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    flags = int(f.readline().split()[1], 8)
                modes.append(flags & 3)
        self.assertTrue(modes, "data.mdb not open")
        self.assertEqual(set(modes), {os.O_RDONLY})
        r = subprocess.run(["setpriv", "--reuid", str(NOBODY.pw_uid), "--regid",
                            str(NOBODY.pw_gid), "--init-groups", "sh", "-c", "echo x >> " + data],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Permission denied", r.stderr)
        st = proc_status(pid)
        for k in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            self.assertEqual(int(st[k][0], 16), 0, k)
        # commits beside it are served, and grow the map it follows
        for i in range(20):
            self.db.ctl("add", "--allocation", "acme", "203.0.%d.0/24" % i)
        name = "203.0.19.9." + A.PROVIDER["base"]
        deadline = time.time() + 5
        while T.Header(T.udp_raw(srv.addr(), T.make_query(name, "A").to_wire())).an != 1:
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        self.assertEqual(srv.stop(), 0)
        self.assertNotIn("writable by spfdbd's user", srv.stderr())
        after = os.stat(data)
        self.assertEqual((stat.S_IMODE(after.st_mode), after.st_uid, after.st_gid),
                         (stat.S_IMODE(before.st_mode), before.st_uid, before.st_gid))

    @unittest.skipUnless(ROOT, "needs root")
    def test_map_growth_followed(self):
        """A writer grows the map (SPFDB_MAPSIZE small): the read-only server
        adopts the new size and keeps answering."""
        self.db.ctl("zone", "add", A.PROVIDER["zone"], "--ns", A.PROVIDER["ns"][0], "--ns",
                    A.PROVIDER["ns"][1])
        self.db.ctl("allocation", "add", "acme")
        self.layout()
        srv = self.start(self.db.dir, ["--user", "nobody"])
        env = dict(os.environ, SPFDB_MAPSIZE=str(1 << 16))
        lines = "".join("10.%d.%d.0/24\n" % (i >> 8, i & 255) for i in range(4000))
        r = subprocess.run([T.CTL, "--db", self.db.dir, "add", "--allocation", "acme", "-"],
                           input=lines, capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        name = "10.15.159.1." + A.PROVIDER["base"]
        deadline = time.time() + 5
        while T.Header(T.udp_raw(srv.addr(), T.make_query(name, "A").to_wire())).an != 1:
            self.assertLess(time.time(), deadline, srv.stderr())
            time.sleep(0.05)
        self.assertEqual(srv.stop(), 0)

    @unittest.skipUnless(ROOT, "needs root")
    def test_ambient_capability_dropped(self):
        """Under systemd the port comes from an ambient CAP_NET_BIND_SERVICE:
        once bound, spfdbd holds no capability (setpriv plays systemd)."""
        A.build(self.db)
        self.layout()
        port = T.free_port()
        p = subprocess.Popen(
            ["setpriv", "--reuid", str(NOBODY.pw_uid), "--regid", str(NOBODY.pw_gid),
             "--init-groups", "--inh-caps", "+net_bind_service", "--ambient-caps",
             "+net_bind_service", T.SPFDBD, "--db", self.db.dir, "--listen", "127.0.0.1:%d" % port,
             "--workers", "1"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, env=clean_env(), preexec_fn=T.die_with_parent)
        try:
            deadline = time.time() + T.START_TIMEOUT
            err = ""
            while "ready:" not in err:
                self.assertLess(time.time(), deadline, err)
                self.assertIsNone(p.poll(), err)
                err += p.stderr.readline()
            st = proc_status(p.pid)
            self.assertEqual(st["Uid"][1], str(NOBODY.pw_uid))
            for k in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
                self.assertEqual(int(st[k][0], 16), 0, (k, st[k]))
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(T.STOP_TIMEOUT)
            p.stderr.close()

    @unittest.skipUnless(ROOT, "needs root")
    def test_no_database_yet(self):
        """spfdbd creates nothing: an empty directory is refused, told how."""
        rc, err = run_spfdbd(["--db", self.db.dir, "--listen", "127.0.0.1:%d" % T.free_port()],
                             env=clean_env())
        self.assertEqual(rc, 3, err)
        self.assertIn("no database in the directory yet: run spfdb-ctl once", err)
        self.assertEqual(os.listdir(self.db.dir), [])

    def test_older_format_refused(self):
        """spfdbd converts nothing: a first-format database is refused, told
        to run spfdb-ctl once; after that it serves."""
        dump = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli",
                            "format1.dump")
        subprocess.run(["mdb_load", "-f", dump, self.db.dir], check=True, capture_output=True,
                       timeout=60)
        before = open(os.path.join(self.db.dir, "data.mdb"), "rb").read()
        port = T.free_port()
        rc, err = run_spfdbd(["--db", self.db.dir, "--listen", "127.0.0.1:%d" % port],
                             env=clean_env())
        self.assertEqual(rc, 3, err)
        self.assertIn("older format: run spfdb-ctl once", err)
        self.assertEqual(open(os.path.join(self.db.dir, "data.mdb"), "rb").read(), before)
        self.db.ctl("zone", "list")  # converts
        srv = self.start(self.db.dir, [])
        self.assertEqual(srv.stop(), 0)

    @unittest.skipUnless(ROOT, "needs root")
    def test_database_nobody_cannot_open(self):
        A.build(self.db)  # root's files in root's 0700 directory
        rc, err = run_spfdbd(["--db", self.db.dir, "--listen", "127.0.0.1:%d" % T.free_port(),
                              "--user", "nobody"], env=clean_env())
        self.assertEqual(rc, 3, err)
        self.assertIn("permission denied", err)
        self.assertIn("read access to data.mdb and write access to lock.mdb", err)

    def test_journal_prefixes(self):
        """Under journald (stderr is $JOURNAL_STREAM) every line starts with <prio>."""
        A.build(self.db)
        tmp = tempfile.mkdtemp(prefix="spfdbtest-")
        path = os.path.join(tmp, "stderr")
        port = T.free_port()
        try:
            with open(path, "wb") as f:
                st = os.fstat(f.fileno())
                env = clean_env(JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
                p = subprocess.Popen([T.SPFDBD, "--db", self.db.dir, "--listen",
                                      "127.0.0.1:%d" % port, "--workers", "1"],
                                     stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=env,
                                     preexec_fn=T.die_with_parent)
            try:
                deadline = time.time() + T.START_TIMEOUT
                while "ready:" not in read(path) and time.time() < deadline:
                    self.assertIsNone(p.poll(), read(path))
                    time.sleep(0.05)
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(T.STOP_TIMEOUT), 0)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
            lines = read(path).splitlines()
            self.assertTrue(lines)
            for line in lines:
                self.assertRegex(line, r"^<[346]>", lines)
            self.assertTrue(any(l.startswith("<6>ready: spfdbd") for l in lines), lines)
            self.assertTrue(any(l.startswith("<6>stopped on SIGTERM") for l in lines), lines)
            if ROOT:
                self.assertTrue(any(l.startswith("<4>running as root") for l in lines), lines)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    T.main()
