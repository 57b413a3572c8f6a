"""The man pages render cleanly and document exactly what the binaries'
--help shows: every option of spfdbd, every command of spfdb-ctl with each
of its options, and nothing that no longer exists.

usage: test_man.py SPFDBD SPFDB_CTL DOCSDIR
"""
import os
import re
import shutil
import subprocess
import sys

OPT = re.compile(r"--[a-z][a-z0-9-]*")
COMMON = {"--db", "--help"}  # every spfdb-ctl command takes them


def out(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw)
    return p.returncode, p.stdout, p.stderr


def render(page):
    """The page as plain text, one line per paragraph, not justified."""
    rc, text, err = out(["groff", "-man", "-Tascii", "-rLL=2000n", "-dAD=l", "-P-cbu", page])
    assert rc == 0, f"groff failed on {page}: {err}"
    return text.splitlines()


def lint(page):
    rc, _, err = out(["groff", "-man", "-Tutf8", "-ww", "-z", page])
    assert rc == 0 and err == "", f"groff -ww warns about {page}:\n{err}"
    if shutil.which("man"):
        rc, _, err = out(["man", "--warnings", "-l", page],
                         env=dict(os.environ, MANWIDTH="80", MAN_DISABLE_SECCOMP="1"))
        assert rc == 0 and err == "", f"man -l warns about {page}:\n{err}"
    else:
        print("NOTE: man not found (install man-db); checked with groff only")


def section(lines, name):
    """Lines of section NAME, up to the next section heading."""
    i = lines.index(name)
    end = next((j for j in range(i + 1, len(lines)) if re.match(r"[A-Z]", lines[j])), len(lines))
    return lines[i + 1:end]


def entries(lines):
    """(tag, body) of each .TP entry: a 7-space line followed by a 14-space one."""
    res = []
    for i, line in enumerate(lines):
        if not re.match(r" {7}\S", line):
            continue
        if i + 1 < len(lines) and re.match(r" {14}\S", lines[i + 1]):
            tag, body = line.strip(), []
        elif (len(line) > 14 and line[13] == " " and line[14] != " "
              and " " not in line[7:14].rstrip()):
            tag, body = line[7:14].strip(), [line[14:]]  # a short tag shares its line
        else:
            continue
        for nxt in lines[i + 1:]:
            if not re.match(r" {14}|$", nxt):
                break
            body.append(nxt)
        res.append((tag, " ".join(body)))
    return res


def check_version(lines, binary, errors):
    rc, text, _ = out([binary, "--version"])
    m = re.search(r"(\d+\.\d+\.\d+)", text)
    if rc != 0 or not m:
        errors.append(f"{binary} --version: {text!r}")
    elif not any(l.startswith(f"spfdb {m.group(1)} ") for l in lines):
        errors.append(f"man page footer does not name version spfdb {m.group(1)} (.TH)")


def check_spfdbd(spfdbd, page, errors):
    lines = render(page)
    check_version(lines, spfdbd, errors)
    _, helptext, _ = out([spfdbd, "--help"])
    want = set(OPT.findall(helptext))
    documented = {OPT.match(tag).group(0) for tag, _ in entries(section(lines, "OPTIONS"))
                  if OPT.match(tag)}
    synopsis = " ".join(section(lines, "SYNOPSIS"))
    for o in sorted(want - documented):
        errors.append(f"spfdbd.8: option {o} (in --help) has no entry under OPTIONS")
    for o in sorted(documented - want):
        errors.append(f"spfdbd.8: option {o} is documented but not in spfdbd --help")
    for o in sorted(want - set(OPT.findall(synopsis))):
        errors.append(f"spfdbd.8: option {o} is missing from the SYNOPSIS")
    return len(want)


def ctl_commands(ctl):
    _, helptext, _ = out([ctl, "--help"])
    head, _, tail = helptext.partition("Commands:")
    cmds = [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*(?: [a-z][a-z-]*)?)(?:  |$)",
                                             tail, re.M)]
    assert cmds, f"no commands found in spfdb-ctl --help:\n{helptext}"
    return set(OPT.findall(head)), cmds


def check_ctl(ctl, page, errors):
    lines = render(page)
    check_version(lines, ctl, errors)
    global_opts, cmds = ctl_commands(ctl)
    documented = {OPT.match(tag).group(0) for tag, _ in entries(section(lines, "OPTIONS"))
                  if OPT.match(tag)}
    for o in sorted(global_opts - documented):
        errors.append(f"spfdb-ctl.8: global option {o} has no entry under OPTIONS")
    blocks = {}
    for tag, body in entries(section(lines, "COMMANDS")):
        words = tag.split()
        name = " ".join(words[:2]) if " ".join(words[:2]) in cmds else words[0]
        blocks[name] = tag + " " + body
    for name in sorted(set(blocks) - set(cmds) - {"help"}):
        errors.append(f"spfdb-ctl.8: command {name!r} is documented but not in --help")
    nopts = 0
    for name in cmds:
        if name not in blocks:
            errors.append(f"spfdb-ctl.8: command {name!r} has no entry under COMMANDS")
            continue
        rc, helptext, err = out([ctl, *name.split(), "--help"])
        if rc != 0:
            errors.append(f"spfdb-ctl {name} --help exits {rc}: {err}")
            continue
        opts = set(OPT.findall(helptext)) - COMMON
        nopts += len(opts)
        for o in sorted(opts - set(OPT.findall(blocks[name]))):
            errors.append(f"spfdb-ctl.8: {name}: option {o} (in its --help) is not documented")
    return len(cmds), nopts


def main():
    spfdbd, ctl, docs = sys.argv[1:4]
    d_page, c_page = os.path.join(docs, "spfdbd.8"), os.path.join(docs, "spfdb-ctl.8")
    for page in (d_page, c_page):
        lint(page)
    errors = []
    n_d = check_spfdbd(spfdbd, d_page, errors)
    n_cmds, n_opts = check_ctl(ctl, c_page, errors)
    assert not errors, "\n".join(errors)
    print(f"spfdbd.8: {n_d} options; spfdb-ctl.8: {n_cmds} commands, {n_opts} command options")


if __name__ == "__main__":
    main()
