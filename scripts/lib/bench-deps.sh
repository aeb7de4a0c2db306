# Installs what the gateway benchmark needs, when missing and permitted.
# Sourced by scripts/bench after scripts/lib/deps.sh (it reuses apt_install).

ensure_wrk() {
    if ! command -v wrk >/dev/null 2>&1; then
        echo "installing wrk (the HTTP load generator of the gateway benchmark)"
        apt_install wrk
    fi
}
