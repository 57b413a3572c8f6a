"""The systemd files in systemd/: the unit verifies, rates 2.0 or lower in
`systemd-analyze security`, has room for --tcp-max descriptors, and the
sysusers.d/tmpfiles.d snippets make the user, group and database directory.

usage: test_unit.py SPFDBD SRCDIR {verify|security|snippets|limits}
Exits 77 (a ctest skip, printed loudly) only when systemd's tools are
missing; scripts/deps.sh installs them.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

SKIP = 77
MAX_EXPOSURE = 2.0


def need(tool):
    path = shutil.which(tool)
    if path is None:
        print("*" * 72)
        print(f"SKIPPED: {tool} not found: install systemd (scripts/deps.sh does);")
        print("the systemd unit is NOT checked on this machine")
        print("*" * 72)
        sys.exit(SKIP)
    return path


def run(cmd, env=None, cwd=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    return p.returncode, p.stdout + p.stderr


def unit_copy(src, spfdbd, tmp, text=None):
    """The unit with ExecStart pointing at the built spfdbd, in TMP."""
    if text is None:
        with open(os.path.join(src, "systemd", "spfdbd.service")) as f:
            text = f.read()
    assert "ExecStart=/usr/sbin/spfdbd " in text, "ExecStart must start /usr/sbin/spfdbd"
    path = os.path.join(tmp, "spfdbd.service")
    with open(path, "w") as f:
        f.write(text.replace("/usr/sbin/spfdbd", spfdbd))
    return path


def man_path(src, tmp):
    """A MANPATH holding our pages, for the unit's Documentation= check."""
    man8 = os.path.join(tmp, "man", "man8")
    os.makedirs(man8)
    for page in ("spfdbd.8", "spfdb-ctl.8"):
        shutil.copy(os.path.join(src, "docs", page), man8)
    return os.path.join(tmp, "man")


def test_verify(spfdbd, src):
    analyze = need("systemd-analyze")
    need("man")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MANPATH=man_path(src, tmp))
        unit = unit_copy(src, spfdbd, tmp)
        rc, out = run([analyze, "verify", unit], env=env, cwd=tmp)
        assert rc == 0 and out.strip() == "", f"systemd-analyze verify failed ({rc}):\n{out}"
        # The check itself must be able to fail: a missing binary does.
        bad = unit_copy(src, os.path.join(tmp, "no-such-spfdbd"), tmp)
        rc, out = run([analyze, "verify", bad], env=env, cwd=tmp)
        assert rc != 0, "systemd-analyze verify accepted a missing ExecStart binary"
    print("systemd-analyze verify: clean")


def exposure(analyze, unit, cwd):
    rc, out = run([analyze, "security", "--offline=yes", "--no-pager", unit], cwd=cwd)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert m, f"no exposure level in systemd-analyze security output ({rc}):\n{out}"
    return float(m.group(1)), out


def test_security(spfdbd, src):
    analyze = need("systemd-analyze")
    with tempfile.TemporaryDirectory() as tmp:
        level, out = exposure(analyze, unit_copy(src, spfdbd, tmp), tmp)
        print(out)
        assert level <= MAX_EXPOSURE, f"exposure {level} is above {MAX_EXPOSURE}"
        # The parser must see a bad rating: the same unit, unhardened.
        with open(os.path.join(src, "systemd", "spfdbd.service")) as f:
            bare = "".join(l for l in f if not re.match(
                r"(Protect|Private|Restrict|SystemCall|Capability|NoNew|Memory|Lock|User=)", l))
        level_bare, _ = exposure(analyze, unit_copy(src, spfdbd, tmp, bare), tmp)
        assert level_bare > MAX_EXPOSURE, f"unhardened unit rated {level_bare}: parser broken?"
    print(f"systemd-analyze security: {level} (unhardened: {level_bare})")


def test_snippets(spfdbd, src):
    sysusers = need("systemd-sysusers")
    tmpfiles = need("systemd-tmpfiles")
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "etc"))
        rc, out = run([sysusers, "--root", root, os.path.join(src, "systemd", "spfdb.sysusers")])
        assert rc == 0, f"systemd-sysusers failed ({rc}):\n{out}"
        with open(os.path.join(root, "etc", "passwd")) as f:
            users = {l.split(":")[0]: l.rstrip("\n").split(":") for l in f}
        with open(os.path.join(root, "etc", "group")) as f:
            groups = {l.split(":")[0]: l.split(":") for l in f}
        assert "spfdb" in users and "spfdb" in groups, f"no user/group spfdb: {users} {groups}"
        u = users["spfdb"]
        assert int(u[2]) < 1000, f"spfdb is not a system user: {u}"
        assert u[3] == groups["spfdb"][2], f"spfdb's primary group is not spfdb: {u}"
        assert u[5] == "/var/lib/spfdb" and u[6].endswith("nologin"), f"home/shell: {u}"
        rc, out = run([tmpfiles, "--root", root, "--create",
                       os.path.join(src, "systemd", "spfdb.tmpfiles")])
        assert rc == 0, f"systemd-tmpfiles failed ({rc}):\n{out}"
        admin = int(groups["spfdb-admin"][2])
        spfdb = int(groups["spfdb"][2])
        # spfdbd's user reads, never writes: in spfdb only; the follower
        # writes: in both
        assert u[0] not in groups["spfdb-admin"][3].strip().split(","), groups["spfdb-admin"]
        for g in ("spfdb", "spfdb-admin"):
            assert "spfdb-follow" in groups[g][3].strip().split(","), groups[g]
        base = os.path.join(root, "var", "lib", "spfdb")
        want = {"": (0o750, 0, spfdb), "data.mdb": (0o664, 0, admin),
                "lock.mdb": (0o660, 0, spfdb)}
        for f, w in want.items():
            st = os.lstat(os.path.join(base, f) if f else base)
            got = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            assert got == w, f"/var/lib/spfdb/{f}: {got}, want {w}"
        # a root-owned directory that no group can write: nothing can be
        # planted by anyone but root (docs/operations.md)
        # an older layout's files are given the new owners and modes
        os.chown(os.path.join(base, "data.mdb"), int(u[2]), spfdb)
        os.chmod(os.path.join(base, "data.mdb"), 0o660)
        os.chmod(base, 0o2770)
        rc, out = run([tmpfiles, "--root", root, "--create",
                       os.path.join(src, "systemd", "spfdb.tmpfiles")])
        assert rc == 0, f"systemd-tmpfiles failed ({rc}):\n{out}"
        for f, w in want.items():
            st = os.lstat(os.path.join(base, f) if f else base)
            got = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            assert got == w, f"after an older layout: /var/lib/spfdb/{f}: {got}, want {w}"
    print("sysusers.d and tmpfiles.d: users, groups, the 0750 directory and its files made")


def unit_settings(src):
    settings = {}
    with open(os.path.join(src, "systemd", "spfdbd.service")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                settings.setdefault(k, []).append(v)
    return settings


def test_limits(spfdbd, src):
    s = unit_settings(src)
    helptext = subprocess.run([spfdbd, "--help"], capture_output=True, text=True,
                              check=True, timeout=10).stdout
    tcp_max = int(re.search(r"--tcp-max N .*?default\s+(\d+)", helptext, re.S).group(1))
    # spfdbd wants --tcp-max + listen addresses x (workers + 2) + 64: the
    # default two addresses with the most workers (256) must fit.
    need_fds = tcp_max + 2 * (256 + 2) + 64
    nofile = int(s["LimitNOFILE"][0].split(":")[0])
    assert nofile >= need_fds, f"LimitNOFILE={nofile} < {need_fds}"
    assert s["Type"] == ["notify"], s["Type"]
    assert s["User"] == ["spfdb"] and s["Group"] == ["spfdb"]
    # no StateDirectory=: it would hand the directory to the user
    assert "StateDirectory" not in s and s["ReadWritePaths"] == ["/var/lib/spfdb"]
    assert s["UMask"] == ["0007"], "a lock.mdb it creates must stay the group's"
    assert "capset" in s["SystemCallFilter"], "capset drops CAP_NET_BIND_SERVICE"
    assert s["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert s["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert "PrivateUsers" not in s, "PrivateUsers= takes CAP_NET_BIND_SERVICE's effect away"
    assert "IPAddressDeny" not in s, "spfdbd serves every client alike"
    assert s["EnvironmentFile"] == ["-/etc/default/spfdbd"]
    # Every option the unit and the example defaults file use exists.
    used = set(re.findall(r"--[a-z][a-z0-9-]*", s["ExecStart"][0]))
    with open(os.path.join(src, "systemd", "spfdbd.default")) as f:
        used |= set(re.findall(r"--[a-z][a-z0-9-]*", f.read()))
    known = set(re.findall(r"--[a-z][a-z0-9-]*", helptext))
    assert used <= known, f"options not in spfdbd --help: {sorted(used - known)}"
    print(f"LimitNOFILE={nofile} >= {need_fds}; options used: {sorted(used)}")


def main():
    spfdbd, src, group = sys.argv[1:4]
    {"verify": test_verify, "security": test_security, "snippets": test_snippets,
     "limits": test_limits}[group](os.path.abspath(spfdbd), src)


if __name__ == "__main__":
    main()
