"""spfdb-follow's operator files: its unit verifies and rates 2.0 or lower
in `systemd-analyze security`, and its man page documents exactly the
options `spfdb-follow --help` shows, in SYNOPSIS and OPTIONS.

usage: test_follow_unit.py SPFDB_FOLLOW SRCDIR {verify|security|man}
Exits 77 (a ctest skip, printed loudly) only when systemd's tools are
missing; scripts/deps.sh installs them.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import test_man as M
import test_unit as U


def unit_copy(src, follow, tmp, text=None):
    if text is None:
        with open(os.path.join(src, "systemd", "spfdb-follow.service")) as f:
            text = f.read()
    assert "ExecStart=/usr/sbin/spfdb-follow " in text
    path = os.path.join(tmp, "spfdb-follow.service")
    with open(path, "w") as f:
        f.write(text.replace("/usr/sbin/spfdb-follow", follow))
    return path


def test_verify(follow, src):
    analyze = U.need("systemd-analyze")
    U.need("man")
    with tempfile.TemporaryDirectory() as tmp:
        man8 = os.path.join(tmp, "man", "man8")
        os.makedirs(man8)
        for page in ("spfdb-follow.8", "spfdb-ctl.8"):
            shutil.copy(os.path.join(src, "docs", page), man8)
        env = dict(os.environ, MANPATH=os.path.join(tmp, "man"))
        rc, out = U.run([analyze, "verify", unit_copy(src, follow, tmp)], env=env, cwd=tmp)
        assert rc == 0 and out.strip() == "", f"systemd-analyze verify failed ({rc}):\n{out}"
        bad = unit_copy(src, os.path.join(tmp, "no-such-binary"), tmp)
        rc, out = U.run([analyze, "verify", bad], env=env, cwd=tmp)
        assert rc != 0, "systemd-analyze verify accepted a missing ExecStart binary"
    print("systemd-analyze verify: clean")


def test_security(follow, src):
    analyze = U.need("systemd-analyze")
    with tempfile.TemporaryDirectory() as tmp:
        level, out = U.exposure(analyze, unit_copy(src, follow, tmp), tmp)
        assert level <= U.MAX_EXPOSURE, f"exposure {level} is above {U.MAX_EXPOSURE}:\n{out}"
    print(f"systemd-analyze security: {level}")


def test_man(follow, src):
    page = os.path.join(src, "docs", "spfdb-follow.8")
    M.lint(page)
    lines = M.render(page)
    _, helptext, _ = M.out([follow, "--help"])
    want = set(M.OPT.findall(helptext))
    documented = {m for tag, _ in M.entries(M.section(lines, "OPTIONS"))
                  for m in M.OPT.findall(tag)}
    synopsis = set(M.OPT.findall(" ".join(M.section(lines, "SYNOPSIS"))))
    assert want, "spfdb-follow --help names no option"
    assert want == documented, f"--help {sorted(want)} vs OPTIONS {sorted(documented)}"
    assert want <= synopsis, f"missing from SYNOPSIS: {sorted(want - synopsis)}"
    print(f"spfdb-follow.8: {len(want)} options")


if __name__ == "__main__":
    follow, src, what = sys.argv[1:4]
    {"verify": test_verify, "security": test_security, "man": test_man}[what](follow, src)
