# ---- lib.sh: shared by every drover lab stand-in -------------------------------------------
# A stand-in is a TEST TOOL: a small POSIX sh script that behaves like a real product where an
# upgrade can go wrong (schema migrations recorded in a real database, refusal to run on a
# schema from a skipped or a newer version, a health check that tells the truth). It is not the
# product. drover renders each script as: a header setting PRODUCT and VERSION (baked in, one
# script per version), this library, then the product's own part, which ends with
# `main "$@"; exit $?` on one line so that replacing the file under a running daemon is safe.
#
# The node's filesystem is rooted at NODE_ROOT: a product path such as /etc/headscale/config.yaml
# means NODE_ROOT/etc/headscale/config.yaml (see node_path).

set -u

say() { printf '%s\n' "$*"; }
warn() { printf '%s %s: %s\n' "$PRODUCT" "$VERSION" "$*" >&2; }
die() {
    warn "$*"
    exit 1
}

case $0 in
    /*) SELF=$0 ;;
    */*) SELF=$(cd "${0%/*}" && pwd)/${0##*/} ;;
    *) SELF=$(pwd)/$0 ;;
esac

# The node root: $NODE_ROOT, else what precedes one of the script's install paths in $SELF.
find_root() {
    if [ -n "${NODE_ROOT:-}" ]; then
        printf '%s\n' "${NODE_ROOT%/}"
        return 0
    fi
    for rel in $INSTALL_PATHS; do
        # shellcheck disable=SC2295 # $rel is a glob pattern on purpose
        case $SELF in */$rel)
            printf '%s\n' "${SELF%/$rel}"
            return 0
            ;;
        esac
    done
    die "cannot tell the lab node root from $SELF (installed as one of: $INSTALL_PATHS); set NODE_ROOT"
}

# Where a product path lives on this node: the host side of a container mount (LAB_MOUNTS,
# "container=host" pairs set by the docker stand-in), a path already under the node root as it
# is, any other absolute path under the node root, a relative path as it is.
node_path() {
    for m in ${LAB_MOUNTS:-}; do
        c=${m%%=*}
        h=${m#*=}
        case $1 in
            "$c")
                printf '%s\n' "$h"
                return 0
                ;;
            "$c"/*)
                printf '%s\n' "$h${1#"$c"}"
                return 0
                ;;
        esac
    done
    case $1 in
        "$ROOT" | "$ROOT"/*) printf '%s\n' "$1" ;;
        /*) printf '%s\n' "$ROOT$1" ;;
        *) printf '%s\n' "$1" ;;
    esac
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (apt-get install -y $2)"
}

# ---- versions ----
# ver_cmp A B prints -1, 0 or 1. Dotted numbers; a leading "v" and a "-…"/"+…" suffix are ignored.
ver_cmp() {
    awk -v a="$1" -v b="$2" '
        function norm(v) { sub(/^v/, "", v); sub(/[-+].*/, "", v); return v }
        BEGIN {
            na = split(norm(a), x, "."); nb = split(norm(b), y, "."); n = na > nb ? na : nb
            for (i = 1; i <= n; i++) {
                if (x[i] + 0 < y[i] + 0) { print -1; exit }
                if (x[i] + 0 > y[i] + 0) { print 1; exit }
            }
            print 0
        }'
}
ver_lt() { [ "$(ver_cmp "$1" "$2")" = -1 ]; }

# ---- simple config files ----
# yaml_flat FILE prints "dotted.key<TAB>value" for every scalar of a block-style YAML file, and
# "dotted.key.-<TAB>value" for each item of a scalar list. Enough for the configs the lab writes
# and the products ship (no flow maps, anchors or multi-line strings); quotes are removed.
yaml_flat() {
    awk '
        function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
        function unquote(v) {
            if (v ~ /^".*"$/ || v ~ /^\047.*\047$/) return substr(v, 2, length(v) - 2)
            sub(/[ \t]+#.*$/, "", v)
            return v
        }
        function path(   p, i) { p = ""; for (i = 1; i <= depth; i++) p = p name[i] "."; return p }
        /^[ \t]*(#.*)?$/ { next }
        {
            match($0, /^ */); ind = RLENGTH; body = trim(substr($0, ind + 1))
            item = body ~ /^-( |$)/
            while (depth > 0 && (ind < indent[depth] || (ind == indent[depth] && !item))) depth--
            if (item) { print path() "-\t" unquote(trim(substr(body, 2))); next }
            c = index(body, ":"); if (c == 0) next
            key = unquote(trim(substr(body, 1, c - 1))); val = trim(substr(body, c + 1))
            if (val == "" || val ~ /^#/) { depth++; indent[depth] = ind; name[depth] = key; next }
            print path() key "\t" unquote(val)
        }' "$1"
}

# yaml_get FILE KEY prints the value of KEY (dotted); fails when it is absent.
yaml_get() {
    yaml_flat "$1" | awk -F '\t' -v k="$2" '$1 == k { print $2; found = 1; exit } END { exit !found }'
}

# env_get FILE KEY prints the value of KEY=VALUE in a dotenv file (quotes removed).
env_get() {
    awk -v k="$2" '
        /^[ \t]*#/ { next }
        { line = $0; sub(/^[ \t]*(export[ \t]+)?/, "", line) }
        index(line, k "=") == 1 {
            v = substr(line, length(k) + 2); sub(/[ \t\r]+$/, "", v)
            if (v ~ /^".*"$/ || v ~ /^\047.*\047$/) v = substr(v, 2, length(v) - 2)
            print v; found = 1
        }
        END { exit !found }' "$1"
}

# ---- a test tool's encryption of secrets ----
# AES-256-CBC through `openssl enc` with KEY as passphrase (PBKDF2, salted), base64 on one line,
# of "lab:" + PLAINTEXT: the prefix makes every wrong key fail, not just most.
encrypt() {
    need openssl openssl
    printf 'lab:%s' "$2" | openssl enc -aes-256-cbc -pbkdf2 -salt -a -A -pass "pass:$1" 2>/dev/null
}
decrypt() {
    need openssl openssl
    _plain=$(printf '%s\n' "$2" | openssl enc -d -aes-256-cbc -pbkdf2 -a -A -pass "pass:$1" 2>/dev/null) || return 1
    case $_plain in
        lab:*) printf '%s\n' "${_plain#lab:}" ;;
        *) return 1 ;;
    esac
}

# ---- PostgreSQL ----
# pg URL SQL runs SQL in one transaction and prints unaligned rows ("|" between columns);
# psql's errors go to stderr.
pg() {
    need psql postgresql-client
    printf 'SET client_min_messages TO warning;\n%s\n' "$2" |
        psql -X -q -A -t -v ON_ERROR_STOP=1 -1 -d "$1" -f -
}

# pg_if_table URL TABLE SQL runs SQL when TABLE exists; prints nothing when it does not.
pg_if_table() {
    _t=$(pg "$1" "SELECT to_regclass('$2') IS NOT NULL;") || return 1
    [ "$_t" = t ] || return 0
    pg "$1" "$3"
}

# ---- schema migrations ----
# A product part defines, for each of its stores (databases):
#   migrations_STORE     lines "ID RELEASE": every migration, oldest first; every release has at
#                        least one, so a schema's version is the release of its newest migration
#   applied_STORE        prints the ids recorded as applied in the real database
#   min_from             prints the oldest schema release $VERSION upgrades from ("" = any)
# schema_state STORE then sets SCHEMA (release of the newest applied migration, "" for an
# empty database), NEWER (an applied migration this version does not know, with its release),
# PENDING (ids this version needs that are not applied, oldest first) and APPLIED (a count).
schema_state() {
    _applied=$(applied_"$1") || die "cannot read the $(store_label "$1") schema"
    _state=$({
        migrations_"$1" | sed 's/^/M /'
        printf '%s\n' "$_applied" | sed '/^$/d; s/^/A /'
    } | awk -v me="$VERSION" '
        function norm(v) { sub(/^v/, "", v); sub(/[-+].*/, "", v); return v }
        function cmp(a, b,   x, y, n, i) {
            n = split(norm(a), x, "."); if (split(norm(b), y, ".") > n) n = split(norm(b), y, ".")
            for (i = 1; i <= n; i++) { if (x[i] + 0 < y[i] + 0) return -1; if (x[i] + 0 > y[i] + 0) return 1 }
            return 0
        }
        $1 == "M" { order[++n] = $2; rel[$2] = $3; next }
        $1 == "A" { applied[$2] = 1; count++; if (!($2 in rel)) unknown = $2 }
        END {
            for (i = 1; i <= n; i++) {
                id = order[i]; v = rel[id]
                if (id in applied) {
                    if (cmp(v, me) > 0 && newer == "") newer = id " (" v ")"
                    if (schema == "" || cmp(v, schema) > 0) schema = v
                } else if (cmp(v, me) <= 0) pending = pending (pending == "" ? "" : " ") id
            }
            if (unknown != "") newer = unknown " (unknown)"
            printf "%s\n%s\n%s\n%d\n", schema, newer, pending, count
        }')
    SCHEMA=$(printf '%s\n' "$_state" | sed -n 1p)
    NEWER=$(printf '%s\n' "$_state" | sed -n 2p)
    PENDING=$(printf '%s\n' "$_state" | sed -n 3p)
    APPLIED=$(printf '%s\n' "$_state" | sed -n 4p)
}

# check_path STORE: refuses a schema a newer version migrated, and one older than min_from (a
# version on the required upgrade path was skipped). Call schema_state first.
check_path() {
    if [ -n "$NEWER" ]; then
        die "the $(store_label "$1") was migrated by a newer version (migration $NEWER); $PRODUCT $VERSION refuses to run on it. Downgrades need the database backup taken before the upgrade"
    fi
    _from=$(min_from)
    if [ -n "$SCHEMA" ] && [ -n "$_from" ] && ver_lt "$SCHEMA" "$_from"; then
        die "the $(store_label "$1") schema is from $SCHEMA, but $PRODUCT $VERSION upgrades only from $_from or later: upgrade to $_from first (never skip a version on the upgrade path)"
    fi
}

# What messages call a store; a product with several stores redefines it.
store_label() { say database; }

# release_of STORE ID prints the release that introduced a migration.
release_of() { migrations_"$1" | awk -v id="$2" '$1 == id { print $2 }'; }

# ---- daemons ----
# A daemon records itself in $RUN_DIR: NAME.pid, NAME.exe (the script it runs, which its
# /proc/PID/cmdline must name: a recycled pid never counts) and NAME.version (what it runs).
# `drover lab down` stops every daemon recorded there.
daemon_pid() {
    [ -f "$RUN_DIR/$1.pid" ] || return 1
    _pid=$(cat "$RUN_DIR/$1.pid" 2>/dev/null) || return 1
    case $_pid in '' | *[!0-9]*) return 1 ;; esac
    _exe=$(cat "$RUN_DIR/$1.exe" 2>/dev/null) || return 1
    kill -0 "$_pid" 2>/dev/null || return 1
    tr '\000' ' ' <"/proc/$_pid/cmdline" 2>/dev/null | grep -qF "$_exe " || return 1
    printf '%s\n' "$_pid"
}

# The running daemon's version (empty when it is not running).
daemon_version() {
    daemon_pid "$1" >/dev/null || return 1
    cat "$RUN_DIR/$1.version" 2>/dev/null
}

# daemon_loop NAME [TICK]: become daemon NAME, running TICK (a function) about once a second.
daemon_loop() {
    _name=$1
    _tick=${2:-}
    mkdir -p "$RUN_DIR" || die "cannot create $RUN_DIR"
    printf '%s\n' "$SELF" >"$RUN_DIR/$_name.exe"
    printf '%s\n' "$VERSION" >"$RUN_DIR/$_name.version"
    printf '%s\n' "$$" >"$RUN_DIR/$_name.pid.new" && mv -f "$RUN_DIR/$_name.pid.new" "$RUN_DIR/$_name.pid" ||
        die "cannot write $RUN_DIR/$_name.pid"
    say "$(date -u +%Y-%m-%dT%H:%M:%SZ) $PRODUCT $VERSION started (pid $$)"
    trap 'daemon_exit' TERM INT HUP
    while :; do
        if [ -n "$_tick" ]; then $_tick; fi
        # `wait` returns as soon as a signal arrives; a plain `sleep` would delay the trap.
        sleep 1 &
        wait $!
    done
}

daemon_exit() {
    if [ "$(cat "$RUN_DIR/$_name.pid" 2>/dev/null)" = "$$" ]; then
        rm -f "$RUN_DIR/$_name.pid"
    fi
    say "$(date -u +%Y-%m-%dT%H:%M:%SZ) $PRODUCT $VERSION stopped (pid $$)"
    exit 0
}

# alive PID: the process exists and is not a zombie (an exited child nobody has waited for yet).
alive() {
    _st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$_st" ] && [ "$_st" != Z ]
}

# daemon_start NAME LOG COMMAND…: runs COMMAND detached (it must end in daemon_loop NAME) and
# waits, at most 10 s, until daemon NAME runs or COMMAND exits. A COMMAND that refuses to start
# makes this fail with what it printed, as `systemctl start` does for a unit that fails at once.
daemon_start() {
    _name=$1
    _log=$2
    shift 2
    if _pid=$(daemon_pid "$_name"); then
        return 0
    fi
    mkdir -p "$RUN_DIR" "${_log%/*}" || die "cannot create $RUN_DIR"
    rm -f "$RUN_DIR/$_name.pid"
    _before=0
    [ -f "$_log" ] && _before=$(wc -c <"$_log")
    setsid "$@" </dev/null >>"$_log" 2>&1 &
    _child=$!
    _i=0
    while [ "$_i" -lt 100 ]; do
        if daemon_pid "$_name" >/dev/null; then
            return 0
        fi
        if ! alive "$_child"; then
            wait "$_child"
            _drc=$?
            if [ "$_drc" -ne 0 ]; then
                tail -c +"$((_before + 1))" "$_log" >&2
                return "$_drc"
            fi
        fi
        sleep 0.1
        _i=$((_i + 1))
    done
    tail -c +"$((_before + 1))" "$_log" >&2
    warn "$_name did not start within 10 s; see $_log"
    return 1
}

# daemon_stop NAME: SIGTERM, at most 5 s, then SIGKILL.
daemon_stop() {
    _pid=$(daemon_pid "$1") || return 0
    kill -TERM "$_pid" 2>/dev/null
    _i=0
    while [ "$_i" -lt 50 ]; do
        daemon_pid "$1" >/dev/null || return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    kill -KILL "$_pid" 2>/dev/null
    rm -f "$RUN_DIR/$1.pid"
}

# lab_unit ACTION NAME LOG COMMAND…: what the lab's units (NODE_ROOT/lab/units/NAME/…) call:
# start (the daemon runs COMMAND), stop, status (0 active, 3 inactive, as systemd's LSB codes).
lab_unit() {
    _action=$1
    _uname=$2
    _ulog=$3
    shift 3
    case $_action in
        start) daemon_start "$_uname" "$_ulog" "$@" ;;
        stop) daemon_stop "$_uname" ;;
        status)
            if _pid=$(daemon_pid "$_uname"); then
                say "$_uname: active (running) since pid $_pid, version $(cat "$RUN_DIR/$_uname.version" 2>/dev/null)"
                return 0
            fi
            say "$_uname: inactive (dead)"
            return 3
            ;;
        *) die "lab-unit: unknown action $_action (start, stop, status)" ;;
    esac
}

# A JSON string (for health output): quotes and backslashes escaped.
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# init: the product part calls it once it has set INSTALL_PATHS.
init() {
    ROOT=$(find_root) || exit 1
    RUN_DIR="$ROOT/run/standins"
}
