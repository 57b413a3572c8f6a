#!/bin/sh
# Build spfdb twice (plain, and with ASan+UBSan) and run every test in each.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
jobs=$(nproc)
for variant in plain asan; do
    dir="build/test-$variant"
    san=OFF; [ "$variant" = asan ] && san=ON
    echo "== $variant build ($dir)"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPFDB_SANITIZE=$san >/dev/null
    cmake --build "$dir" -j "$jobs" 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
    cmake --build "$dir" -j "$jobs" >/dev/null   # fails loudly if the build failed
    (cd "$dir" && ctest --output-on-failure -j "$jobs")
done
