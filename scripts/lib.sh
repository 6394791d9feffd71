# shellcheck shell=bash
# Helpers shared by the scripts in this directory. Sourced, not executed.

# Progress and error output goes to stderr so that stdout stays usable for
# values such as `postgres.sh url`.
step() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Directory holding the PostgreSQL server binaries (initdb, pg_ctl, postgres),
# or nothing if no server is installed. Prefers `pg_config --bindir`, then the
# newest /usr/lib/postgresql/<major>/bin.
pg_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    local best="" best_major=0 major
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x $dir/initdb && -x $dir/pg_ctl ]] || continue
        major=${dir#/usr/lib/postgresql/}
        major=${major%/bin}
        [[ $major =~ ^[0-9]+$ ]] || continue
        if ((major > best_major)); then
            best_major=$major
            best=$dir
        fi
    done
    if [[ -n $best ]]; then
        printf '%s\n' "$best"
    fi
}

# Install Debian packages non-interactively: directly when root, through sudo
# otherwise; fail with one line naming the packages when neither is possible.
apt_install() {
    local -a sudo=()
    if ! command -v apt-get >/dev/null 2>&1; then
        die "missing dependencies; install these packages (Debian names): $*"
    fi
    if ! is_root; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            die "missing dependencies and no sudo; as root run: apt-get install -y $*"
        fi
    fi
    if [[ -z ${SIGNET_APT_UPDATED:-} ]]; then
        step "apt-get update"
        ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -q
        SIGNET_APT_UPDATED=1
    fi
    step "apt-get install $*"
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@"
}
