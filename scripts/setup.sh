#!/usr/bin/env bash
# Install the system packages the build and the tests need, if missing:
# libargon2-dev, pkg-config and the PostgreSQL server.
# Can be executed or sourced; does nothing when everything is present.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

signet_missing_packages() {
    if ! command -v pkg-config >/dev/null 2>&1; then
        echo pkg-config
    fi
    if ! pkg-config --exists libargon2 2>/dev/null && ! dpkg -s libargon2-dev >/dev/null 2>&1; then
        echo libargon2-dev
    fi
    if [[ -z $(pg_bindir) ]] || ! command -v psql >/dev/null 2>&1; then
        echo postgresql
    fi
}

signet_setup() {
    local -a missing
    step "checking system dependencies"
    mapfile -t missing < <(signet_missing_packages)
    if ((${#missing[@]} == 0)); then
        step "all present (libargon2-dev, pkg-config, postgresql)"
        return 0
    fi
    apt_install "${missing[@]}"
    mapfile -t missing < <(signet_missing_packages)
    if ((${#missing[@]} > 0)); then
        die "still missing after install: ${missing[*]}"
    fi
}

signet_setup
