# Installs what the tests and benchmarks need, when missing and permitted.
# Sourced by scripts/test and scripts/bench.

apt_updated=0
apt_install() { # package...
    if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
        echo "missing: $* — install it (Debian/Ubuntu: sudo apt-get install $*) and run again" >&2
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_redis() {
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1; then
        echo "installing redis-server (tests start their own on free ports)"
        apt_install redis-server redis-tools
    fi
}
