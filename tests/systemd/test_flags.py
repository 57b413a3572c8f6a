"""Distribution hardening flags from CFLAGS and LDFLAGS reach the compile and
link lines of both programs, the programs build with them and -Werror, and
SPFDB_WERROR (default ON) controls -Werror.

usage: test_flags.py CMAKE SRCDIR
Configures throw-away build trees, reads the generated Makefiles' flags.make
and link.txt, builds the two programs in one and reads their ELF headers.
"""
import os
import subprocess
import sys
import tempfile

CFLAGS = "-O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2"
LDFLAGS = "-Wl,-z,relro,-z,now"
TARGETS = {"spfdbd": "server/CMakeFiles/spfdbd.dir", "spfdb-ctl": "tools/CMakeFiles/spfdb-ctl.dir"}


def configure(cmake, src, build, *args):
    env = dict(os.environ, CFLAGS=CFLAGS, LDFLAGS=LDFLAGS)
    p = subprocess.run([cmake, "-G", "Unix Makefiles", "-S", src, "-B", build,
                        "-DBUILD_TESTING=OFF", *args],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"configure failed:\n{p.stdout}{p.stderr}"


def read(build, target, name):
    with open(os.path.join(build, TARGETS[target], name)) as f:
        return f.read()


def main():
    cmake, src = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as tmp:
        on = os.path.join(tmp, "on")
        configure(cmake, src, on)
        for t in TARGETS:
            flags, link = read(on, t, "flags.make"), read(on, t, "link.txt")
            assert CFLAGS in flags, f"{t}: CFLAGS missing from compile flags:\n{flags}"
            assert "-Werror" in flags, f"{t}: -Werror is not on by default"
            assert LDFLAGS in link, f"{t}: LDFLAGS missing from the link line:\n{link}"
            assert CFLAGS in link, f"{t}: CFLAGS missing from the link line:\n{link}"
        p = subprocess.run([cmake, "--build", on, "-j2", "--target", *TARGETS],
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"build with {CFLAGS} -Werror failed:\n{p.stdout}{p.stderr}"
        for t, d in (("spfdbd", "server"), ("spfdb-ctl", "tools")):
            dyn = subprocess.run(["readelf", "-d", os.path.join(on, d, t)], capture_output=True,
                                 text=True, check=True, timeout=30).stdout
            assert "BIND_NOW" in dyn, f"{t}: not linked with -z now:\n{dyn}"
        off = os.path.join(tmp, "off")
        configure(cmake, src, off, "-DSPFDB_WERROR=OFF")
        for t in TARGETS:
            assert "-Werror" not in read(off, t, "flags.make"), f"{t}: -Werror despite OFF"
    print(f"CFLAGS '{CFLAGS}' and LDFLAGS '{LDFLAGS}' reach {', '.join(TARGETS)}")


if __name__ == "__main__":
    main()
