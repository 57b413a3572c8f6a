"""docs/operations.md lists exactly the metrics server/metrics.c documents
(its header comment names every series spfdbd serves).

usage: test_docs.py SRCDIR
"""
import os
import re
import sys

NAME = re.compile(r"\b((?:spfdb|process)_[a-z0-9_]+)")


def main():
    src = sys.argv[1]
    with open(os.path.join(src, "server", "metrics.c")) as f:
        header = f.read().split("*/", 1)[0]
    with open(os.path.join(src, "docs", "operations.md")) as f:
        guide = f.read()
    served = set(NAME.findall(header))
    assert len(served) >= 10, f"metrics.c's header lists too few metrics: {sorted(served)}"
    documented = set(NAME.findall(guide))
    missing, stale = sorted(served - documented), sorted(documented - served)
    assert not missing and not stale, (
        f"operations.md misses metrics {missing}; names metrics spfdbd lacks {stale}")
    print(f"operations.md documents all {len(served)} metrics")


if __name__ == "__main__":
    main()
