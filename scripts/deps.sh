#!/bin/sh
# Install what building and testing spfdb needs, from Debian's packages.
# Idempotent; does nothing when everything is already installed.
set -eu
# systemd (systemd-analyze, -sysusers, -tmpfiles), man-db and groff-base are
# for tests/systemd: the unit, the snippets and the man pages; nettle-dev for
# TSIG's HMAC-SHA256 (xfr/) and spfdb-ctl's base64; bind9-utils for
# named-checkconf (tests/cli: the key statement spfdb-ctl prints); bind9 and
# faketime for tests/integration/test_xfr.py (named as a secondary, clock skew);
# knot for knotc conf-check of the key spfdb-ctl prints, and knotd serving the
# SPF chains of tests/cli/test_import_spf.py (libresolv, unshare and mount come
# with libc6-dev and util-linux/mount).  spfquery (libspf2)
# and libmail-spf-perl are real SPF verifiers for tests/integration/test_forms.py.
pkgs="build-essential cmake pkg-config liblmdb-dev lmdb-utils libevent-dev libcmocka-dev
      nettle-dev clang knot-dnsutils knot dnsutils bind9-utils bind9 faketime unbound python3
      python3-dnspython
      python3-spf spfquery libmail-spf-perl python3-prometheus-client iproute2 procps systemd man-db groff-base"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian starts unbound, named and knot when they are installed; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then
    for s in unbound named knot; do systemctl disable --now "$s" >/dev/null 2>&1 || true; done
fi
