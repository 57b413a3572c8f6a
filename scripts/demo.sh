#!/bin/sh
# Build spfdb, fill a demo database and run spfdbd on it in the foreground
# on 127.0.0.1:5353 (override with PORT=...).  Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
port=${PORT:-5353}
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" >/dev/null
ctl="build/release/tools/spfdb-ctl --db build/demo-db"
rm -rf build/demo-db && mkdir -p -m 0700 build/demo-db
$ctl zone add iphmx.example --ns ns1.dns.example.net --ns ns2.dns.example.net
$ctl allocation add acme
$ctl add --allocation acme 198.51.100.0/24 203.0.113.64/26 2001:db8:100::/48
echo "== netblocks of allocation acme:"
$ctl list --allocation acme
echo "== check 198.51.100.7 (listed) and 192.0.2.1 (not listed):"
$ctl check --allocation acme 198.51.100.7 || true
$ctl check --allocation acme 192.0.2.1 || true
cat <<MSG
== starting spfdbd on 127.0.0.1:$port.  A customer publishes
     v=spf1 exists:%{i}.spf.acme.iphmx.example ~all
   Query it from another terminal:
     dig @127.0.0.1 -p $port +short 198.51.100.7.spf.acme.iphmx.example A   # 127.0.0.2
     dig @127.0.0.1 -p $port 192.0.2.1.spf.acme.iphmx.example A             # NXDOMAIN
MSG
exec build/release/server/spfdbd --db build/demo-db --listen "127.0.0.1:$port"
