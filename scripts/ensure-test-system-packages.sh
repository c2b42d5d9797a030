#!/usr/bin/env bash
# Make sure the Debian packages the test suite needs are installed:
#   chromium    -> /usr/bin/chromium, driven by Playwright (tests/support/browser.py)
#   postgresql  -> initdb/pg_ctl/postgres for the throwaway server (tests/support/postgres.py)
#   redis-server -> the throwaway Redis of the multi-host tests (tests/support/redis.py)
#   libatomic1  -> needed by the Node.js binary inside the playwright wheel; present on
#                  most systems, but not guaranteed on a minimal image
#
# Idempotent and fast when everything is there: no apt-get update, no network.
# As root it installs what is missing; otherwise it prints the command and fails.
set -euo pipefail

missing=()

if [[ ! -x /usr/bin/chromium ]]; then
    missing+=(chromium)
fi

# Same places tests/support/postgres.py searches: PATH and Debian's versioned dirs.
have_postgres=false
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    have_postgres=true
else
    for bin_dir in /usr/lib/postgresql/*/bin; do
        if [[ -x "$bin_dir/initdb" && -x "$bin_dir/pg_ctl" && -x "$bin_dir/postgres" ]]; then
            have_postgres=true
            break
        fi
    done
fi
if [[ "$have_postgres" != true ]]; then
    missing+=(postgresql)
fi

if ! command -v redis-server >/dev/null 2>&1; then
    missing+=(redis-server)
fi

if ! /sbin/ldconfig -p 2>/dev/null | grep -q 'libatomic\.so\.1 '; then
    missing+=(libatomic1)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing system packages for the tests: ${missing[*]}" >&2
    echo "This script only knows Debian/Ubuntu (apt-get); install the equivalents by hand." >&2
    exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "error: missing system packages for the tests: ${missing[*]}" >&2
    echo "Install them as root with:" >&2
    echo "    apt-get update && $install_cmd" >&2
    exit 1
fi

echo "Installing missing system packages for the tests: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg (unattended-upgrades, another job) instead of failing.
apt_opts=(-o DPkg::Lock::Timeout=300 -q)
apt-get "${apt_opts[@]}" update
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"

# Fail here, with a clear message, rather than later inside pytest.
if [[ " ${missing[*]} " == *" chromium "* && ! -x /usr/bin/chromium ]]; then
    echo "error: chromium was installed but /usr/bin/chromium is still missing" >&2
    exit 1
fi
