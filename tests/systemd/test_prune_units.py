"""The change log's retention units in systemd/: spfdb-log-prune.service
and .timer verify, the service rates 2.0 or lower in `systemd-analyze
security`, its settings match the database layout, and group spfdb alone
gives the job the write access it needs.

usage: test_prune_units.py SPFDB_CTL SRCDIR {verify|security|settings|access}
Exits 77 (a ctest skip, printed loudly) when systemd's tools are missing,
or for `access` when not run as root (it switches uids).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_unit import SKIP, MAX_EXPOSURE, exposure, man_path, need, run  # noqa: E402

SERVICE, TIMER = "spfdb-log-prune.service", "spfdb-log-prune.timer"
CTL_PATH = "/usr/sbin/spfdb-ctl"


def read(src, *path):
    with open(os.path.join(src, *path)) as f:
        return f.read()


def units_copy(src, ctl, tmp, service=None):
    """Both units in TMP, the service's ExecStart naming CTL."""
    if service is None:
        service = read(src, "systemd", SERVICE)
    assert f"ExecStart={CTL_PATH} " in service, f"ExecStart must start {CTL_PATH}"
    with open(os.path.join(tmp, SERVICE), "w") as f:
        f.write(service.replace(CTL_PATH, ctl))
    shutil.copy(os.path.join(src, "systemd", TIMER), tmp)
    return os.path.join(tmp, SERVICE), os.path.join(tmp, TIMER)


def settings(text):
    s = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            s.setdefault(k, []).append(v)
    return s


def test_verify(ctl, src):
    analyze = need("systemd-analyze")
    need("man")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MANPATH=man_path(src, tmp))
        rc, out = run([analyze, "verify", *units_copy(src, ctl, tmp)], env=env, cwd=tmp)
        assert rc == 0 and out.strip() == "", f"systemd-analyze verify failed ({rc}):\n{out}"
        # The check itself must be able to fail: a missing binary does.
        rc, out = run([analyze, "verify", *units_copy(src, os.path.join(tmp, "nope"), tmp)],
                      env=env, cwd=tmp)
        assert rc != 0, "systemd-analyze verify accepted a missing ExecStart binary"
    print(f"systemd-analyze verify {SERVICE} {TIMER}: clean")


def test_security(ctl, src):
    analyze = need("systemd-analyze")
    with tempfile.TemporaryDirectory() as tmp:
        service, _ = units_copy(src, ctl, tmp)
        level, out = exposure(analyze, service, tmp)
        print(out)
        assert level <= MAX_EXPOSURE, f"exposure {level} is above {MAX_EXPOSURE}"
        bare = "".join(l + "\n" for l in read(src, "systemd", SERVICE).splitlines() if not re.match(
            r"(Protect|Private|Restrict|SystemCall|Capability|NoNew|Memory|Lock|DynamicUser|IP)", l))
        level_bare, _ = exposure(analyze, units_copy(src, ctl, tmp, bare)[0], tmp)
        assert level_bare > MAX_EXPOSURE, f"unhardened unit rated {level_bare}: parser broken?"
    print(f"systemd-analyze security: {level} (unhardened: {level_bare})")


def test_settings(ctl, src):
    s = settings(read(src, "systemd", SERVICE))
    t = settings(read(src, "systemd", TIMER))
    d = settings(read(src, "systemd", "spfdbd.service"))
    assert s["Type"] == ["oneshot"], s["Type"]
    # the database spfdbd serves, and only that one writable
    db = re.search(r"--db (\S+)", d["ExecStart"][0]).group(1)
    assert s["ExecStart"] == [f"{CTL_PATH} --db {db} log prune --before ${{SPFDB_LOG_KEEP}}"], \
        s["ExecStart"]
    assert s["ReadWritePaths"] == [db], s["ReadWritePaths"]
    assert s["ConditionPathExists"] == [db + "/data.mdb"], "must never create a database"
    # the readers' group (the directory, lock.mdb) and the writers' group
    # (data.mdb), which sysusers/tmpfiles make
    group = d["Group"][0]
    assert s["DynamicUser"] == ["yes"] and s["SupplementaryGroups"] == [group + " spfdb-admin"], s
    tmpfiles = [l.split() for l in read(src, "systemd", "spfdb.tmpfiles").splitlines()
                if l and not l.startswith("#")]
    assert any(f[1] == db and f[2] == "0750" and f[4] == group for f in tmpfiles), tmpfiles
    assert any(f[1] == db + "/data.mdb" and f[4] == "spfdb-admin" for f in tmpfiles), tmpfiles
    assert s["UMask"] == ["0007"], "a lock.mdb it creates must stay the group's"
    assert s["Environment"] == ["SPFDB_LOG_KEEP=400d"], s["Environment"]
    assert s["EnvironmentFile"] == ["-/etc/default/spfdb-log-prune"], s["EnvironmentFile"]
    assert t["OnCalendar"] == ["daily"] and t["Persistent"] == ["true"], t
    assert t["WantedBy"] == ["timers.target"], t
    # the example defaults file's value is one spfdb-ctl takes, and the same
    keep = settings(read(src, "systemd", "spfdb-log-prune.default"))["SPFDB_LOG_KEEP"]
    assert keep == ['"400d"'], keep
    with tempfile.TemporaryDirectory() as tmp:
        for value, code in (("400d", 0), ("400x", 2)):
            p = subprocess.run([ctl, "--db", tmp, "log", "prune", "--before", value],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == code, f"log prune --before {value}: {p.returncode} {p.stderr}"
    print(f"{SERVICE}: prunes {db} as a dynamic user in group {group}, daily")


def setpriv(uid, gid, groups, argv):
    groups_opt = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(gid), *groups_opt,
                           "--inh-caps=-all", "--bounding-set=-all", *argv],
                          capture_output=True, text=True, timeout=120)


def test_access(ctl, src):
    """The unit's identity, rebuilt with setpriv: a uid of its own whose
    only links to the database are its groups.  The database is in the
    documented layout (the directory root:spfdb 0750, data.mdb
    root:spfdb-admin 0664, lock.mdb root:spfdb 0660); the job's uid prunes
    it with both groups, and cannot with the readers' group alone."""
    if os.geteuid() != 0:
        print("*" * 72)
        print("SKIPPED: not root; the access check switches uids")
        print("*" * 72)
        sys.exit(SKIP)
    need("setpriv")
    group, admin, job = 64102, 64104, 64103  # group spfdb, spfdb-admin, the dynamic user
    root = tempfile.mkdtemp(prefix="spfdb-prune-")
    try:
        os.chmod(root, 0o755)
        db = os.path.join(root, "spfdb")
        os.mkdir(db)
        os.chown(db, 0, group)
        os.chmod(db, 0o750)
        for f, g, m in (("data.mdb", admin, 0o664), ("lock.mdb", group, 0o660)):
            open(os.path.join(db, f), "wb").close()
            os.chown(os.path.join(db, f), 0, g)
            os.chmod(os.path.join(db, f), m)
        for i in range(3):
            p = setpriv(job, job, [group, admin], [ctl, "--db", db, "add", f"192.0.2.{i}"])
            assert p.returncode == 0, f"setup add: {p.stderr}"
        p = setpriv(job, job, [group], [ctl, "--db", db, "log", "prune", "--before",
                                         "2100-01-01"])
        assert p.returncode == 3, f"pruned without the writers' group: {p.returncode} {p.stderr}"
        p = setpriv(job, job, [group, admin], [ctl, "--db", db, "log", "prune", "--before",
                                                "2100-01-01"])
        assert p.returncode == 0, f"prune as the unit's user failed: {p.stderr}"
        assert p.stdout.startswith("dropped 3 records stamped before "), p.stdout
        for f, g in (("data.mdb", admin), ("lock.mdb", group)):
            st = os.stat(os.path.join(db, f))
            assert (st.st_uid, st.st_gid) == (0, g), f"{f}: {st}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("log prune as a fresh uid: exit 3 with group spfdb alone, 0 with spfdb-admin too")


def main():
    ctl, src, group = sys.argv[1:4]
    {"verify": test_verify, "security": test_security, "settings": test_settings,
     "access": test_access}[group](os.path.abspath(ctl), src)


if __name__ == "__main__":
    main()
