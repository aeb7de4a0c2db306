#!/usr/bin/env bash
# Makes (once) what the web page test needs: Debian's Chromium at
# /usr/bin/chromium and playwright-core from npm, which drives it without
# downloading a browser of its own. Prints the node_modules directory to put
# on NODE_PATH. Override the cache location with SHEETMESH_NODE_DIR.
set -euo pipefail
# Pinned: the driver speaks CDP to whatever Chromium Debian ships; a new
# version is a deliberate change, not a surprise in CI.
playwright_version=1.64.1
dir="${SHEETMESH_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sheetmesh-node}"
root=0
[ "$(id -u)" = 0 ] && root=1

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$root" = 1 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing ${need[*]} (Debian packages) for the web page test" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "missing: ${need[*]} — install it (Debian/Ubuntu: sudo apt-get install ${need[*]}) and run again" >&2
        exit 1
    fi
fi

installed="$(node -p "require('$dir/node_modules/playwright-core/package.json').version" 2>/dev/null || true)"
if [ "$installed" != "$playwright_version" ]; then
    echo "installing playwright-core@$playwright_version into $dir" >&2
    mkdir -p "$dir"
    # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces, playwright-core never downloads one.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
        "playwright-core@$playwright_version" >&2
fi
echo "$dir/node_modules"
