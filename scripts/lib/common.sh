# shellcheck shell=bash
# Helpers shared by the scripts in scripts/. Source it; it defines functions only.

# The repository's root directory.
repo_root() {
    cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd
}

# Cargo's target directory (honours CARGO_TARGET_DIR, like cargo does).
target_dir() {
    if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
        echo "$CARGO_TARGET_DIR"
    else
        echo "$(repo_root)/target"
    fi
}

log() {
    printf '%s: %s\n' "$(basename "$0")" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# socket_path unix:///path -> /path; the default socket when empty.
socket_path() {
    local host="${1:-unix:///run/berth/berth.sock}"
    case "$host" in
        unix://*) echo "${host#unix://}" ;;
        *) die "only unix:// hosts are supported, got $host" ;;
    esac
}

# True when a daemon answers GET /_ping with OK on the unix socket $1.
daemon_answers() {
    local sock="$1"
    [[ -S "$sock" ]] || return 1
    [[ "$(curl -fsS --max-time 2 --unix-socket "$sock" http://localhost/_ping 2>/dev/null)" == "OK" ]]
}

# Waits up to $2 seconds for a daemon on socket $1.
wait_for_daemon() {
    local sock="$1" seconds="$2" i
    for ((i = 0; i < seconds * 10; i++)); do
        daemon_answers "$sock" && return 0
        sleep 0.1
    done
    return 1
}

# rustup installs cargo in ~/.cargo/bin, which a non-login shell (CI) may not have on PATH.
use_rustup_cargo() {
    if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
}

# Go (crictl and critest are built with it) is installed in /usr/local/go on this machine kind,
# whose bin directory a non-login shell (CI) may not have on PATH.
use_go() {
    if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
        export PATH="/usr/local/go/bin:$PATH"
    fi
}
