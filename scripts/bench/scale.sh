# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # bench.sh sets and reads the variables
# The admin audit scenario and the seeded half of scripts/bench.sh (BENCH_SCALE=1).
# Sourced by bench.sh, whose helpers and state it uses (wrk_run, result[], login,
# json_field, start_signet, stop_signet, memory_mib, pg_bin, pg_dir, pg_port,
# work_dir, results_dir, lua_dir, base, basic, password, bench_users, ...).
#
# audit        GET /admin/audit on the admin listener with an admin's bearer token:
#              `audit` the newest 50 events of the `bench` user (every login and
#              refresh of the other scenarios is one of them), `audit-type` the
#              newest 50 `login_succeeded` events. The admin is `bench-admin` (role
#              admin), its token a password grant of the client `bench-admin-app`,
#              whose audience is the admin API's (SIGNET_MFA_REQUIRED_ROLES=none, so
#              that an admin needs no second factor). Tokens live 10 minutes: one is
#              fetched before each run. audit_events is analyzed first (see audit_runs).
#
# With BENCH_SCALE=1, once the ordinary runs are over and Signet is stopped,
# scale_bench seeds the database with scripts/bench/seed-scale.sql (through psql,
# never the API; VACUUM ANALYZE and a checkpoint follow), starts Signet again (it
# caches clients lazily, not at start, but a new process gives the idle and peak
# memory of the seeded run on their own), runs the scale scenarios of
# BENCH_SCENARIOS (login refresh introspect audit) once more as seeded-NAME, and
# then has every hot statement planned on the seeded data: with auto_explain
# loaded into a restarted Signet's connections, one login, refresh, introspection,
# both audit queries, the list of revoked sessions, a user's deletion and one
# retention pass (about a minute: the shortest interval) go through, and their plans
# (EXPLAIN ANALYZE, as the server sends them, parameters bound) are kept as plans.txt. scale_report prints
# the side-by-side table: the ordinary (nearly empty) database and the seeded one.

scale=${BENCH_SCALE:-0}
scale_percent=${BENCH_SCALE_PERCENT:-100}
[[ $scale == 0 || $scale == 1 ]] || die "BENCH_SCALE must be 0 or 1, got '$scale'"
if ! [[ $scale_percent =~ ^[1-9][0-9]{0,2}$ ]] || ((scale_percent > 100)); then
    die "BENCH_SCALE_PERCENT must be an integer from 1 to 100, got '$scale_percent'"
fi
# The full size of the seeded database (BENCH_SCALE_PERCENT scales every count).
declare -A scale_rows=([users]=1000000 [clients]=100000 [sessions]=2000000 [revoked]=100000 [events]=10000000)
for scale_table in "${!scale_rows[@]}"; do
    scale_rows[$scale_table]=$((scale_rows[$scale_table] * scale_percent / 100))
done
unset scale_table
scale_seed_seconds=""
scale_load_seconds=""
scale_workers=""
scale_rss_idle=""
scale_rss_peak=""

# The scenarios of BENCH_SCENARIOS that run again on the seeded database.
scale_scenarios() {
    local scenario
    for scenario in login refresh introspect audit; do
        if wants "$scenario"; then printf '%s\n' "$scenario"; fi
    done
}

# psql on the private cluster as the superuser (seeding, VACUUM, CHECKPOINT, auto_explain).
scale_psql() {
    "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 \
        -d "host=127.0.0.1 port=$pg_port user=postgres dbname=signet sslmode=disable connect_timeout=10" "$@"
}

# --- The audit scenario --------------------------------------------------------------------

# Before `signet serve` starts: the admin, its client, and the settings its token needs.
audit_setup() {
    local out
    export SIGNET_MFA_REQUIRED_ROLES=none
    audit_audience=urn:signet:admin
    export SIGNET_ADMIN_AUDIENCE=$audit_audience
    printf '%s\n' "$password" | "$SIGNET_BIN" users create bench-admin --role admin --password-stdin >/dev/null
    out=$("$SIGNET_BIN" clients create bench-admin-app --grant password --audience "$audit_audience")
    audit_basic="Basic $(printf '%s' "bench-admin-app:$(field client_secret "$out")" | base64 | tr -d '\n')"
}

# A fresh access token of bench-admin for the admin API.
audit_token() {
    curl -sS -f -m 30 -H "Authorization: $audit_basic" \
        -d "grant_type=password&username=bench-admin&password=$password" "$base/oauth2/token" | json_field access_token
}

# audit_runs PREFIX: the two audit runs, as PREFIXaudit and PREFIXaudit-type.
audit_runs() {
    local prefix=$1 admin=http://$SIGNET_ADMIN_HOST:$SIGNET_ADMIN_PORT user_id token
    user_id=$(scale_psql -tA -c "SELECT id FROM users WHERE username = 'bench'")
    [[ -n $user_id ]] || die "no bench user"
    # The runs before grew audit_events faster than autovacuum re-analyzes it: on stale
    # statistics the planner takes the bench user for a few rows and reads all of them
    # (bitmap scan and sort) instead of the newest 50. Both databases are measured as
    # autovacuum would leave them a minute later.
    scale_psql -c "ANALYZE audit_events"
    token=$(audit_token)
    curl -sS -f -m 30 -o /dev/null -H "Authorization: Bearer $token" "$admin/admin/audit?limit=1" ||
        die "the admin API refused bench-admin's token"
    BENCH_METHOD=GET BENCH_BODY="" BENCH_AUTHORIZATION="Bearer $token" \
        wrk_run "${prefix}audit" "$admin/admin/audit?user_id=$user_id&limit=50" "$lua_dir/request.lua"
    token=$(audit_token)
    BENCH_METHOD=GET BENCH_BODY="" BENCH_AUTHORIZATION="Bearer $token" \
        wrk_run "${prefix}audit-type" "$admin/admin/audit?type=login_succeeded&limit=50" "$lua_dir/request.lua"
}

# --- The seeded half ---------------------------------------------------------------------------

# Rows and total size (table, indexes and TOAST) of the seeded tables, and of the database.
scale_sizes() {
    local table sql=""
    for table in users clients sessions revoked_tokens audit_events; do
        sql+="SELECT '$table', count(*)::text, pg_size_pretty(pg_total_relation_size('$table')) FROM $table UNION ALL "
    done
    scale_psql -tA -F ' ' -c "$sql SELECT 'database', '-', pg_size_pretty(pg_database_size('signet'))"
}

# The seeding jobs of seed-scale.sql, the longest first, two at a time (as many as there are
# cores, at most four); then `finish` (VACUUM ANALYZE, CHECKPOINT) alone.
scale_seed() {
    local started finished id_base chunk chunks=8 jobs=$work_dir/seed-jobs from to
    local -a seed_psql
    scale_sizes >"$results_dir/scale-sizes-empty.txt"
    scale_workers=$(nproc)
    ((scale_workers <= 4)) || scale_workers=4
    id_base=$(scale_psql -tA -c "SELECT coalesce(max(id), 0) + 1000 FROM audit_events")
    {
        printf 'sessions\n'
        for ((chunk = 0; chunk < chunks; chunk++)); do
            from=$((scale_rows[events] * chunk / chunks + 1))
            to=$((scale_rows[events] * (chunk + 1) / chunks))
            printf 'events:%s:%s\n' "$from" "$to"
        done
        printf 'users\nclients\nrevoked\n'
    } >"$jobs"
    seed_psql=("$pg_bin/psql" -X -q -d "host=127.0.0.1 port=$pg_port user=postgres dbname=signet sslmode=disable connect_timeout=10"
        -v users="${scale_rows[users]}" -v clients="${scale_rows[clients]}" -v sessions="${scale_rows[sessions]}"
        -v revoked="${scale_rows[revoked]}" -v events="${scale_rows[events]}" -v hash_from=bench -v id_base="$id_base"
        -f scripts/bench/seed-scale.sql)
    step "scale: seeding ${scale_rows[users]} users, ${scale_rows[clients]} clients, ${scale_rows[sessions]} sessions," \
        "${scale_rows[revoked]} revoked jtis, ${scale_rows[events]} audit events, $scale_workers jobs at a time (log: $results_dir/seed.log)"
    started=$(date +%s.%N)
    # While loading, no checkpoint (each would make every page written next log a full image
    # again) and no autovacuum (finish vacuums); both back to the cluster's settings before
    # the VACUUM, so the runs that follow see the configuration the empty runs had.
    scale_psql -c "ALTER SYSTEM SET max_wal_size = '64GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '1h'" \
        -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
    run_child "$work_dir/seed-jobs.log" xargs -a "$jobs" -P "$scale_workers" -I '{}' "${seed_psql[@]}" -v 'job={}' || {
        cat "$work_dir/seed-jobs.log" >>"$results_dir/seed.log"
        tail -n 20 "$results_dir/seed.log" >&2
        die "seeding failed"
    }
    cat "$work_dir/seed-jobs.log" >>"$results_dir/seed.log"
    scale_load_seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
    step "scale: rows in after $scale_load_seconds s; VACUUM (ANALYZE) and CHECKPOINT"
    scale_psql -c "ALTER SYSTEM RESET max_wal_size" -c "ALTER SYSTEM RESET checkpoint_timeout" \
        -c "ALTER SYSTEM RESET autovacuum" -c "SELECT pg_reload_conf()" >/dev/null
    run_child "$work_dir/seed-finish.log" "${seed_psql[@]}" -v job=finish || {
        cat "$work_dir/seed-finish.log" >>"$results_dir/seed.log"
        tail -n 20 "$results_dir/seed.log" >&2
        die "seeding failed"
    }
    cat "$work_dir/seed-finish.log" >>"$results_dir/seed.log"
    finished=$(date +%s.%N)
    scale_seed_seconds=$(awk -v a="$started" -v b="$finished" 'BEGIN { printf "%.0f", b - a }')
    scale_sizes >"$results_dir/scale-sizes-seeded.txt"
    step "scale: seeded in $scale_seed_seconds s (VACUUM ANALYZE and checkpoint included):"
    sed 's/^/  /' "$results_dir/scale-sizes-seeded.txt" >&2
}

# The scale scenarios on the seeded database, the way bench.sh runs them on the empty one.
scale_runs() {
    if wants login; then
        BENCH_METHOD=POST BENCH_AUTHORIZATION=$basic BENCH_USERS=$bench_users \
            BENCH_BODY="grant_type=password&username={user}&password=$password" \
            wrk_run seeded-login "$base/oauth2/token" "$lua_dir/request.lua"
    fi
    if wants refresh; then
        refresh_run seeded-refresh "$base/oauth2/token" "$basic" login
    fi
    if wants introspect; then
        local access_token
        access_token=$(login | json_field access_token)
        BENCH_METHOD=POST BENCH_AUTHORIZATION=$basic BENCH_BODY="token=$access_token" \
            wrk_run seeded-introspect "$base/oauth2/introspect" "$lua_dir/request.lua"
    fi
    if wants audit; then audit_runs seeded-; fi
}

# One request of each hot kind through a Signet whose database connections have
# auto_explain loaded; their plans go to plans.txt, each statement's scans to
# plans-summary.txt, the sequential scans of seeded tables and the sorts to plans-flagged.txt.
scale_plans() {
    local log=$pg_dir/postgres.log first body refresh_token access_token token user_id admin victim
    admin=http://$SIGNET_ADMIN_HOST:$SIGNET_ADMIN_PORT
    # A seeded user with revoked sessions, for the deletion (looked up before plans are logged).
    victim=$(scale_psql -tA -c "SELECT user_id FROM sessions WHERE revoked_at IS NOT NULL LIMIT 1")
    scale_psql -c "ALTER DATABASE signet SET session_preload_libraries = 'auto_explain'" \
        -c "ALTER DATABASE signet SET auto_explain.log_min_duration = 0" \
        -c "ALTER DATABASE signet SET auto_explain.log_analyze = on" \
        -c "ALTER DATABASE signet SET auto_explain.log_buffers = on" \
        -c "ALTER DATABASE signet SET auto_explain.log_nested_statements = on"
    first=$(($(wc -l <"$log") + 1))
    # One retention pass is planned too, at the shortest interval the setting allows.
    export SIGNET_RETENTION_INTERVAL_SECONDS=60
    start_signet "$work_dir/server-plans.log"
    unset SIGNET_RETENTION_INTERVAL_SECONDS
    step "scale: planning the hot statements on the seeded data (auto_explain)"
    body=$(login)
    refresh_token=$(json_field refresh_token <<<"$body")
    access_token=$(json_field access_token <<<"$body")
    curl -sS -f -m 30 -o /dev/null -H "Authorization: $basic" \
        -d "grant_type=refresh_token&refresh_token=$refresh_token" "$base/oauth2/token"
    curl -sS -f -m 30 -o /dev/null -H "Authorization: $basic" -d "token=$access_token" "$base/oauth2/introspect"
    if wants audit; then
        user_id=$(scale_psql -tA -c "SELECT id FROM users WHERE username = 'bench'")
        token=$(audit_token)
        curl -sS -f -m 30 -o /dev/null -H "Authorization: Bearer $token" "$admin/admin/audit?user_id=$user_id&limit=50"
        curl -sS -f -m 30 -o /dev/null -H "Authorization: Bearer $token" "$admin/admin/audit?type=login_succeeded&limit=50"
        # The list of revoked sessions, and deleting a user with revoked sessions (the cascade).
        curl -sS -f -m 30 -o /dev/null -H "Authorization: Bearer $token" "$admin/admin/revocations?limit=50"
        curl -sS -f -m 30 -o /dev/null -X DELETE -H "Authorization: Bearer $token" "$admin/admin/users/$victim"
    fi
    local deadline=$((SECONDS + 150))
    until tail -n "+$first" "$log" | grep -q "FROM audit_events WHERE at <"; do
        ((SECONDS < deadline)) || { warn "scale: no retention pass was planned within 150 s"; break; }
        sleep 2
    done
    stop_signet
    scale_psql -c "ALTER DATABASE signet RESET ALL"
    tail -n "+$first" "$log" >"$results_dir/plans.txt"
    python3 - "$results_dir/plans.txt" "$results_dir/plans-summary.txt" >"$results_dir/plans-flagged.txt" <<'PY'
# Every distinct statement that reads a seeded table, with its scan and sort nodes (the
# summary file); on stdout those that scan a seeded table sequentially or sort, and a count.
import re, sys
seeded = r"\b(users|clients|sessions|revoked_tokens|audit_events)\b"
plans, current = [], None
for line in open(sys.argv[1], errors="replace"):
    if "duration:" in line and "plan:" in line:
        current = []
        plans.append(current)
    elif current is not None and line.startswith("\t"):
        current.append(line[1:].rstrip("\n"))
    else:
        current = None
statements = {}
for plan in plans:
    first = next((i for i, l in enumerate(plan) if "(cost=" in l), len(plan))
    query = " ".join(" ".join(plan[:first]).replace("Query Text:", "").split())
    nodes = [re.sub(r"\s*\(cost=[^)]*\)", "", l.strip()) for l in plan[first:]
             if re.search(r"Scan.* on " + seeded, l) or re.match(r"\s*(->\s*)?(Incremental )?Sort\s+\(cost", l)
             or "Rows Removed by Filter" in l]
    if any(re.search(r"Scan.* on " + seeded, l) for l in nodes):
        shape = tuple(re.sub(r"\s*\((actual|never)[^)]*\)", "", l) for l in nodes if "Rows Removed" not in l)
        statements.setdefault((query, shape), []).append(nodes)
flagged = 0
with open(sys.argv[2], "w") as summary:
    for (query, _), runs in statements.items():
        bad = any(re.search(r"Seq Scan on " + seeded, l) or "Sort" in l.split("(")[0] for l in runs[-1])
        summary.write(f"{'SEQUENTIAL SCAN OR SORT: ' if bad else ''}statement ({len(runs)} times): {query[:500]}\n")
        for node in runs[-1]:
            summary.write(f"    {node}\n")
        if bad:
            flagged += len(runs)
            print(f"statement ({len(runs)} times): {query[:400]}")
            for node in runs[-1]:
                if re.search(r"Seq Scan on " + seeded, node) or "Sort" in node.split("(")[0]:
                    print("   ", node)
print(f"{len(plans)} plans logged, {len(statements)} distinct plans of statements on seeded tables, "
      f"{flagged} plans with a sequential scan of a seeded table or a sort")
PY
    step "scale: $(tail -n 1 "$results_dir/plans-flagged.txt") (plans.txt, plans-summary.txt)"
}

# The seeded half: seed, restart Signet, run the scale scenarios again, plan.
scale_bench() {
    scale_seed
    start_signet "$work_dir/server-seeded.log"
    sleep 2
    scale_rss_idle=$(memory_mib VmRSS)
    step "scale: signet serve is up again (pid $server_pid), idle RSS $scale_rss_idle MiB with ${scale_rows[clients]} more clients"
    scale_runs
    scale_rss_peak=$(memory_mib VmHWM)
    kill -0 "$server_pid" 2>/dev/null || die "signet serve is no longer running"
    stop_signet
    cp "$work_dir/server-seeded.log" "$results_dir/server-seeded.log"
    scale_plans
}

# --- Report ------------------------------------------------------------------------------------

# scale_ratio SEEDED EMPTY: seeded ÷ empty as a factor, or n/a.
scale_ratio() {
    awk -v s="$1" -v e="$2" 'BEGIN { if (s != "" && s != "-" && e != "" && e != "-" && e + 0 > 0) printf "%.2f×", s / e; else printf "n/a" }'
}

# scale_row NAME LABEL: one scenario, empty beside seeded. Within 15 %, judged twice: req/s
# at least 85 % and p99 at most 115 % of empty; CPU per request (Signet and PostgreSQL
# together) at most 115 % of empty, which other load on the machine sways less.
scale_row() {
    local name=$1 seeded=seeded-$1 speed cpu
    if [[ -z $(get "$name.rps") || -z $(get "$seeded.rps") ]]; then
        printf '| %s | skipped | | | | | | | | | | | | | |\n' "$2"
        return
    fi
    scale_non2xx=$((scale_non2xx + $(get "$seeded.non2xx")))
    if holds "$(get "$seeded.rps") >= 0.85 * $(get "$name.rps") && $(get "$seeded.p99_ms") <= 1.15 * $(get "$name.p99_ms")"; then
        speed=yes
    else
        speed='**no**'
    fi
    if holds "$(get "$seeded.server_cpu_us") + $(get "$seeded.database_cpu_us") <= 1.15 * ($(get "$name.server_cpu_us") + $(get "$name.database_cpu_us"))"; then
        cpu=yes
    else
        cpu='**no**'
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n' "$2" \
        "$(intf "$(get "$name.rps")")" "$(intf "$(get "$seeded.rps")")" "$(scale_ratio "$(get "$seeded.rps")" "$(get "$name.rps")")" \
        "$(ms "$(get "$name.p99_ms")")" "$(ms "$(get "$seeded.p99_ms")")" "$(scale_ratio "$(get "$seeded.p99_ms")" "$(get "$name.p99_ms")")" \
        "$(get "$name.server_cpu_us")" "$(get "$seeded.server_cpu_us")" \
        "$(scale_ratio "$(get "$seeded.server_cpu_us")" "$(get "$name.server_cpu_us")")" \
        "$(get "$name.database_cpu_us")" "$(get "$seeded.database_cpu_us")" \
        "$(scale_ratio "$(get "$seeded.database_cpu_us")" "$(get "$name.database_cpu_us")")" \
        "$(get "$name.non2xx")" "$(get "$seeded.non2xx")" "req/s, p99: $speed; CPU: $cpu"
}

# The second table of table.md (uses the report helpers of bench.sh: get, intf, ms, holds).
scale_report() {
    local table rows size
    scale_non2xx=0
    printf '\n### Empty and seeded database\n\n'
    printf 'The same scenarios on the database of the runs above (nearly empty), then on one seeded with '
    printf 'scripts/bench/seed-scale.sql. Target: seeded within 15 %% of empty, judged on req/s (at least 85 %%) '
    printf 'and p99 (at most 115 %%), and on CPU per request, Signet and PostgreSQL together (at most 115 %%; '
    printf 'less swayed by other load on the machine); reported, never enforced. Introspection answers a token '
    printf 'it has checked once from memory (until the next revocation), so the size of the database cannot show there.\n\n'
    printf '| scenario | req/s empty | req/s seeded | seeded/empty | p99 ms empty | p99 ms seeded | seeded/empty '
    printf '| Signet CPU µs/req empty | seeded | seeded/empty | PostgreSQL CPU µs/req empty | seeded | seeded/empty '
    printf '| non-2xx empty / seeded | within 15 %% |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n'
    scale_row login 'login (password grant)'
    scale_row refresh 'refresh (rotating chains)'
    scale_row introspect 'introspection'
    scale_row audit 'admin audit, one user (limit 50)'
    scale_row audit-type 'admin audit, login_succeeded (limit 50)'
    printf '\n'
    printf -- '- seeded rows (rows now / total size):'
    while read -r table rows size; do
        if [[ $table == database ]]; then
            printf ' database %s (empty: %s)' "$size" "$(awk '$1 == "database" { print $3, $4 }' "$results_dir/scale-sizes-empty.txt")"
        else
            printf ' %s %s / %s;' "$table" "$rows" "$size"
        fi
    done <"$results_dir/scale-sizes-seeded.txt"
    printf '\n'
    printf -- '- seeding (%s %% of the full size; INSERT … SELECT generate_series, %s jobs at a time) took %s s, of which %s s loading rows and the rest VACUUM (ANALYZE) and CHECKPOINT\n' \
        "$scale_percent" "$scale_workers" "$scale_seed_seconds" "$scale_load_seconds"
    printf -- '- Signet RSS with %s clients registered: idle %s MiB, peak (VmHWM) %s MiB over the seeded runs (empty database: idle %s MiB)\n' \
        "$(awk '$1 == "clients" { print $2 }' "$results_dir/scale-sizes-seeded.txt")" "$scale_rss_idle" "$scale_rss_peak" "$rss_idle"
    printf -- '- query plans on the seeded data (plans.txt; the scans of each in plans-summary.txt): %s\n' \
        "$(tail -n 1 "$results_dir/plans-flagged.txt")"
    if [[ $(wc -l <"$results_dir/plans-flagged.txt") -gt 1 ]]; then
        head -n -1 "$results_dir/plans-flagged.txt" | sed 's/^/    /'
    fi
    printf -- '- non-2xx over the seeded runs: %s (target: zero) — %s\n' "$scale_non2xx" "$(verdict "$scale_non2xx == 0")"
}
