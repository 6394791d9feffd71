#!/usr/bin/env bash
# Build and run Signet locally against the private PostgreSQL cluster.
#
#   scripts/run.sh [serve options...]
#
# Environment:
#   SIGNET_DATABASE_URL         use this database instead of starting the
#                               private cluster (scripts/postgres.sh)
#   SIGNET_PG_DIR, SIGNET_PG_PORT
#                               passed on to scripts/postgres.sh
#   SIGNET_MASTER_KEY_FILE      master key file (default: .data/master.key);
#                               a random dev key is created if it is missing
#   SIGNET_BUILD_CONFIGURATION  debug|release (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

./scripts/setup.sh

if [[ -z ${SIGNET_DATABASE_URL:-} ]]; then
    ./scripts/postgres.sh start
    SIGNET_DATABASE_URL=$(./scripts/postgres.sh url)
    export SIGNET_DATABASE_URL
    step "SIGNET_DATABASE_URL=$SIGNET_DATABASE_URL"
else
    step "using SIGNET_DATABASE_URL from the environment; not starting the private cluster"
fi

key_file=${SIGNET_MASTER_KEY_FILE:-.data/master.key}
[[ $key_file == /* ]] || key_file=$PWD/$key_file
if [[ ! -s $key_file ]]; then
    step "creating dev master key $key_file"
    mkdir -p "$(dirname "$key_file")"
    (
        umask 077
        tmp=$(mktemp "$key_file.XXXXXX")
        {
            head -c 32 /dev/urandom | base64 | tr -d '\n'
            echo
        } >"$tmp"
        mv -f "$tmp" "$key_file"
    )
else
    step "using master key $key_file"
fi
export SIGNET_MASTER_KEY_FILE=$key_file

config=${SIGNET_BUILD_CONFIGURATION:-release}
case $config in
debug | release) ;;
*) die "SIGNET_BUILD_CONFIGURATION must be debug or release, got '$config'" ;;
esac

step "swift build -c $config --product signet"
swift build -c "$config" --product signet
BIN=$(swift build -c "$config" --show-bin-path | tail -n 1)

step "signet migrate"
"$BIN/signet" migrate

step "signet serve $*"
exec "$BIN/signet" serve "$@"
