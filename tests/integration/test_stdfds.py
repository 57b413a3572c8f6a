"""SPEC §3 (issue 15, item 3): spfdbd started with any of fds 0-2 closed.

Before it opens anything else, spfdbd puts /dev/null on each closed
standard descriptor, so no socket, libevent pipe or database file takes
fd 0, 1 or 2 and nothing spfdbd prints (its log on fd 2) lands in one of
them.  Each case starts spfdbd with some of the three closed, checks what
0, 1 and 2 are in the running process (/proc/PID/fd), that it answers over
UDP and TCP, that a SIGHUP (which logs a line) changes nothing, that it
stops on SIGTERM with status 0, and that data.mdb is unchanged."""
import hashlib
import os
import signal
import subprocess
import tempfile
import time
import unittest

import answers as A
import spfdbtest as T

LISTED = "198.51.100.7.spf.acme.iphmx.example"


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class ClosedFdsServer(T.Server):
    """spfdbd with the descriptors in CLOSED closed when it starts; the ones
    left open are /dev/null (0) and the log file (1, 2)."""

    def __init__(self, dbdir, closed):
        super().__init__(dbdir)
        self.closed = tuple(closed)

    def start(self):
        last = ""
        for _ in range(5):
            self.port = T.free_port(self.hosts)
            fd, self.errpath = tempfile.mkstemp(prefix="spfdbd-", suffix=".log",
                                                dir=os.path.dirname(self.dbdir.rstrip("/")))
            closed = self.closed

            def pre():
                T.die_with_parent()
                for n in closed:
                    os.close(n)
            try:
                self.proc = subprocess.Popen(self.cmd(self.port), stdin=subprocess.DEVNULL,
                                             stdout=fd, stderr=fd, preexec_fn=pre)
            finally:
                os.close(fd)
            deadline = time.time() + T.START_TIMEOUT
            while time.time() < deadline and self.proc.poll() is None:
                if self._answers():
                    return self
                time.sleep(0.05)
            last = self.stderr()
            if self.proc.poll() is None:
                self.kill()
                raise AssertionError("spfdbd with fds %s closed did not answer within %.0f s\n"
                                     "stderr:\n%s" % (closed, T.START_TIMEOUT, last))
            self.proc = None
        raise AssertionError("spfdbd failed to start 5 times; last stderr:\n%s" % last)


class StdFds(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = T.Db()
        A.build(cls.db)
        cls.db.t_last = time.time()
        cls.data = os.path.join(cls.db.dir, "data.mdb")

    @classmethod
    def tearDownClass(cls):
        cls.db.cleanup()

    def fds_of(self, pid):
        return {n: os.readlink("/proc/%d/fd/%d" % (pid, n)) for n in (0, 1, 2)}

    def serves(self, srv, qid):
        chk = A.Checker(self.db)
        w = T.make_query(LISTED, "A", qid=qid).to_wire()
        chk.check(w, T.udp_raw(srv.addr(), w), "A", A.PROVIDER, "UDP")
        chk.check(w, T.tcp_raw(srv.addr(), w), "A", A.PROVIDER, "TCP")
        self.assertFalse(chk.failures, "\n".join(chk.failures))

    def run_closed(self, closed):
        before = sha(self.data)
        srv = ClosedFdsServer(self.db.dir, closed).start()
        try:
            fds = self.fds_of(srv.proc.pid)
            for n in (0, 1, 2):
                if n in closed:
                    self.assertEqual(fds[n], "/dev/null",
                                     "fd %d was closed at start: spfdbd must put /dev/null "
                                     "there before it opens anything (%s)" % (n, fds))
            if 2 not in closed:
                self.assertEqual(fds[2], srv.errpath, "the log must stay on the given stderr")
            self.serves(srv, 1)
            # A line logged now goes to fd 2, whatever that is: it must not
            # reach libevent's signal pipe or a database file.
            srv.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
            self.assertTrue(srv.alive(), "spfdbd died after SIGHUP:\n" + srv.stderr())
            self.serves(srv, 2)
            self.assertEqual(self.fds_of(srv.proc.pid), fds)
        finally:
            rc = srv.stop()
        self.assertEqual(rc, 0, "exit status after SIGTERM:\n" + srv.stderr())
        self.assertEqual(sha(self.data), before, "data.mdb changed")
        return srv.stderr()

    def test_stdin_stdout_closed_log_to_file(self):
        err = self.run_closed((0, 1))
        self.assertIn("ready: spfdbd", err)
        self.assertIn("SIGHUP ignored", err)
        self.assertIn("stopped on SIGTERM", err)

    def test_all_three_closed(self):
        err = self.run_closed((0, 1, 2))
        self.assertEqual(err, "", "nothing can reach the log file: it was closed")

    def test_stderr_closed(self):
        self.run_closed((2,))

    def test_stdin_closed(self):
        err = self.run_closed((0,))
        self.assertIn("stopped on SIGTERM", err)


if __name__ == "__main__":
    T.main()
