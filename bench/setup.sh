#!/usr/bin/env bash
# Installs what `pyalloc bench` and bench/test_micro.py measure against and drive: the
# allocators compared with pyalloc, the real programs of the suite, and the Python packages
# for charts and micro-benchmarks. Safe to rerun (only what is missing is installed); runs
# as root or through password-less sudo, never reads stdin.
#
#   bash bench/setup.sh            # into .venv (created by .ci/setup)
#   PYTHON=python3 bash bench/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "bench setup: $*"; }

packages=(
    libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4    # the allocators compared
    libclang-rt-dev                                     # scudo (in compiler-rt)
    redis-server redis-tools sqlite3 g++                # the real programs
)
# perf profiles the workloads where pyalloc loses; the suite runs without it, and the
# package has another name outside Debian, so failing to install it is not fatal.
optional=(linux-perf)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=() missing_optional=()
for pkg in "${packages[@]}"; do installed "$pkg" || missing+=("$pkg"); done
for pkg in "${optional[@]}"; do installed "$pkg" || missing_optional+=("$pkg"); done

if ((${#missing[@]} + ${#missing_optional[@]})); then
    log "installing ${missing[*]} ${missing_optional[*]}"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    # Containers have no init system: keep the redis-server package from trying to start
    # its system service (we start our own servers on private ports).
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        trap '"${sudo[@]}" rm -f "$policy"' EXIT
    fi
    "${sudo[@]}" apt-get update -qq </dev/null
    if ((${#missing[@]})); then
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
    fi
    if ((${#missing_optional[@]})); then
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" </dev/null >/dev/null ||
            log "could not install ${missing_optional[*]} (optional: only for profiling)"
    fi
else
    log "system packages present"
fi

python=${PYTHON:-.venv/bin/python}
if ! "$python" -c '' 2>/dev/null; then
    log "$python not found: run .ci/setup first, or set PYTHON"
    exit 1
fi
if ! "$python" -c 'import matplotlib, pytest_benchmark' 2>/dev/null; then
    log "installing matplotlib pytest-benchmark into $python"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip install -q matplotlib pytest-benchmark </dev/null
else
    log "python packages present"
fi
log "ready"
