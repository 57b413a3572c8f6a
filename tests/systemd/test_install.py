"""`cmake --install` into a DESTDIR installs exactly the expected files.

usage: test_install.py CMAKE BUILDDIR PREFIX SBINDIR MANDIR DATADIR DOCDIR UNITDIR
(the GNUInstallDirs values as configured; relative ones are under PREFIX).
"""
import os
import stat
import subprocess
import sys
import tempfile


def main():
    cmake, build, prefix, sbindir, mandir, datadir, docdir, unitdir = sys.argv[1:9]

    def at(d, name):
        return os.path.normpath(os.path.join(prefix, d, name)).lstrip("/")

    sbin = os.path.normpath(os.path.join(prefix, sbindir))
    want = {
        at(sbindir, "spfdbd"): 0o755,
        at(sbindir, "spfdb-ctl"): 0o755,
        at(mandir, "man8/spfdbd.8"): 0o644,
        at(mandir, "man8/spfdb-ctl.8"): 0o644,
        at(unitdir, "spfdbd.service"): 0o644,
        at(unitdir, "spfdb-log-prune.service"): 0o644,
        at(unitdir, "spfdb-log-prune.timer"): 0o644,
        at("lib/sysusers.d", "spfdb.conf"): 0o644,
        at("lib/tmpfiles.d", "spfdb.conf"): 0o644,
        at(datadir, "bash-completion/completions/spfdb-ctl"): 0o644,
        at(docdir, "README.md"): 0o644,
        at(docdir, "operations.md"): 0o644,
        at(docdir, "examples/spfdbd.default"): 0o644,
        at(docdir, "examples/spfdb-log-prune.default"): 0o644,
        # the replica's follower (SPEC §5)
        at(sbindir, "spfdb-follow"): 0o755,
        at(mandir, "man8/spfdb-follow.8"): 0o644,
        at(unitdir, "spfdb-follow.service"): 0o644,
        at(docdir, "examples/spfdb-follow.default"): 0o644,
    }
    with tempfile.TemporaryDirectory() as dest:
        env = dict(os.environ, DESTDIR=dest)
        p = subprocess.run([cmake, "--install", build], env=env, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, f"cmake --install failed:\n{p.stdout}{p.stderr}"
        got = {}
        for d, _, files in os.walk(dest):
            for f in files:
                path = os.path.join(d, f)
                got[os.path.relpath(path, dest)] = stat.S_IMODE(os.lstat(path).st_mode)
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        assert not missing and not extra, f"missing {missing}, unexpected {extra}"
        for path, mode in want.items():
            assert got[path] == mode, f"{path}: mode {got[path]:o}, want {mode:o}"
        # Nothing lands outside DESTDIR: every path above is under it by
        # construction; the unit must start the installed binary.
        with open(os.path.join(dest, at(unitdir, "spfdbd.service"))) as f:
            unit = f.read()
        want_exec = f"ExecStart={sbin}/spfdbd --db /var/lib/spfdb $SPFDBD_OPTS"
        assert want_exec in unit.splitlines(), f"unit lacks {want_exec!r}"
        with open(os.path.join(dest, at(unitdir, "spfdb-follow.service"))) as f:
            unit = f.read()
        want_exec = f"ExecStart={sbin}/spfdb-follow --db /var/lib/spfdb $SPFDB_FOLLOW_OPTS"
        assert want_exec in unit.splitlines(), f"follower unit lacks {want_exec!r}"
        with open(os.path.join(dest, at(unitdir, "spfdb-log-prune.service"))) as f:
            unit = f.read()
        want_exec = (f"ExecStart={sbin}/spfdb-ctl --db /var/lib/spfdb log prune "
                     "--before ${SPFDB_LOG_KEEP}")
        assert want_exec in unit.splitlines(), f"prune unit lacks {want_exec!r}"
        for path in (at(sbindir, "spfdbd"), at(sbindir, "spfdb-ctl")):
            p = subprocess.run([os.path.join(dest, path), "--version"], capture_output=True,
                               text=True, timeout=10)
            assert p.returncode == 0, f"installed {path} --version failed: {p.stderr}"
        for path, mode in sorted(want.items()):
            print(f"{mode:o} {path}")


if __name__ == "__main__":
    main()
