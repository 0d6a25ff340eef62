# ---- thethingsstack: the lorawan-stack image's `ttn-lw-stack` (stand-in) -----------------------
# Like the real one: the Identity Server's database is PostgreSQL (is.database-uri, or
# TTN_LW_IS_DATABASE_URI; bun's `bun_migrations` table), the Network, Application and Device
# Claiming Servers keep their data in Redis (redis.address, or TTN_LW_REDIS_ADDRESS), and each
# store has its own migrate command: `is-db migrate`, `ns-db migrate`, and in the Enterprise
# edition `as-db migrate` and `dcs-db migrate`. `start` refuses to run unless every store has
# every migration of its version, and refuses a store a newer version migrated or one from a
# skipped minor (3.32 needs 3.31's schema: the stand-in's path rule).
# Commands: version, start, is-db init|migrate, ns-db migrate, as-db migrate, dcs-db migrate,
# health. Options: -c/--config FILE (YAML), or the TTN_LW_* environment.
INSTALL_PATHS='var/lib/docker/images/*'
init

NAME=${LAB_CONTAINER:-stack}
if [ "$EDITION" = enterprise ]; then
    STORES='is ns as dcs'
    EDITION_NAME=Enterprise
else
    STORES='is ns'
    EDITION_NAME='Open Source'
fi

store_label() { say "$1-db"; }

migrations_is() {
    cat <<'EOF'
20230901000001 3.30.2
20230901000002 3.30.2
20240201000001 3.31.1
20240701000001 3.32.0
EOF
}
migrations_ns() { printf 'ns-3.30.2-devices 3.30.2\nns-3.31.1-mac-state 3.31.1\nns-3.32.0-adr 3.32.0\n'; }
migrations_as() { printf 'as-3.30.2-links 3.30.2\nas-3.31.1-formatters 3.31.1\nas-3.32.0-pubsub 3.32.0\n'; }
migrations_dcs() { printf 'dcs-3.30.2-claims 3.30.2\ndcs-3.31.1-auth 3.31.1\ndcs-3.32.0-gateways 3.32.0\n'; }

is_sql() {
    case $1 in
        20230901000001) say "CREATE TABLE users (id serial PRIMARY KEY, user_id varchar(36) NOT NULL UNIQUE, primary_email_address varchar(255) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE applications (id serial PRIMARY KEY, application_id varchar(36) NOT NULL UNIQUE, name varchar(255) NOT NULL);" ;;
        20230901000002) say "CREATE TABLE end_devices (id serial PRIMARY KEY, application_id varchar(36) NOT NULL, device_id varchar(36) NOT NULL, dev_eui varchar(16) NOT NULL, UNIQUE (application_id, device_id));" ;;
        20240201000001) say "ALTER TABLE end_devices ADD COLUMN activated_at timestamptz;" ;;
        20240701000001) say "CREATE TABLE notifications (id serial PRIMARY KEY, receiver varchar(36) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());" ;;
        *) die "no is-db migration $1" ;;
    esac
}

# The Redis keys each Redis store's migrations touch.
store_keys() {
    case $1 in
        ns | as) say "ttn:v3:$1:devices:*" ;;
        dcs) say "ttn:v3:dcs:claims:*" ;;
    esac
}

min_from() {
    case $VERSION in
        3.30.*) ;;
        3.31.*) say 3.30.0 ;;
        3.32.*) say 3.31.0 ;;
        *) die "no upgrade path known for $VERSION" ;;
    esac
}

CONFIG=${TTN_LW_CONFIG:-}

# A setting: the TTN_LW_* environment variable, else the config file's key.
setting() {
    eval "_val=\${$1:-}"
    if [ -z "$_val" ] && [ -n "$CONFIG" ]; then
        _f=$(node_path "$CONFIG")
        [ -f "$_f" ] || die "config file $CONFIG not found"
        _val=$(yaml_get "$_f" "$2") || _val=''
    fi
    printf '%s\n' "$_val"
}

load_config() {
    DB=$(setting TTN_LW_IS_DATABASE_URI is.database-uri)
    [ -n "$DB" ] || die "is.database-uri is not set (--config FILE or TTN_LW_IS_DATABASE_URI)"
    _redis=$(setting TTN_LW_REDIS_ADDRESS redis.address)
    [ -n "$_redis" ] || die "redis.address is not set (--config FILE or TTN_LW_REDIS_ADDRESS)"
    REDIS_HOST=${_redis%:*}
    REDIS_PORT=${_redis##*:}
}

redis() {
    need redis-cli redis-tools
    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --no-auth-warning "$@"
}

applied_is() { pg_if_table "$DB" bun_migrations "SELECT name FROM bun_migrations;"; }
applied_redis() {
    _m=$(redis SMEMBERS "ttn:v3:$1:migrations" 2>&1) || {
        printf '%s\n' "$_m" >&2
        return 1
    }
    case $_m in *ERR* | *"Could not connect"*)
        printf '%s\n' "$_m" >&2
        return 1
        ;;
    esac
    printf '%s\n' "$_m"
}
applied_ns() { applied_redis ns; }
applied_as() { applied_redis as; }
applied_dcs() { applied_redis dcs; }

apply() {
    _store=$1
    _id=$2
    if [ "$_store" = is ]; then
        pg "$DB" "CREATE TABLE IF NOT EXISTS bun_migrations (id bigserial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE, group_id bigint NOT NULL DEFAULT 1, migrated_at timestamptz NOT NULL DEFAULT now());
            $(is_sql "$_id")
            INSERT INTO bun_migrations (name) VALUES ('$_id');" >/dev/null
        return
    fi
    # One MULTI/EXEC: a field on each of the store's records, then the migration recorded.
    _keys=$(redis --scan --pattern "$(store_keys "$_store")") || return 1
    {
        say MULTI
        for k in $_keys; do say "HSETNX $k schema:$_id 1"; done
        say "SADD ttn:v3:$_store:migrations $_id"
        say EXEC
    } | redis >/dev/null
}

cmd_migrate() {
    _store=$1
    case " $STORES " in *" $_store "*) ;; *)
        say "Error: unknown command \"$_store-db\" for \"ttn-lw-stack\"" >&2
        say "Run 'ttn-lw-stack --help' for usage." >&2
        return 1
        ;;
    esac
    load_config
    schema_state "$_store"
    check_path "$_store"
    for id in $PENDING; do
        apply "$_store" "$id" || die "$_store-db migration $id failed"
        say "INFO Applied $_store-db migration $id ($(release_of "$_store" "$id"))"
    done
    say "INFO Successfully migrated $_store-db"
}

cmd_start() {
    load_config
    for s in $STORES; do
        schema_state "$s"
        check_path "$s"
        [ -z "$PENDING" ] ||
            die "the $s-db schema lacks migrations of $VERSION ($PENDING): run \`ttn-lw-stack $s-db migrate\` first"
    done
    say "INFO The Things Stack $EDITION_NAME $VERSION starting"
    mkdir -p "$RUN_DIR" && printf '%s\n' "$CONFIG" >"$RUN_DIR/$NAME.config" || die "cannot write $RUN_DIR"
    daemon_loop "$NAME"
}

cmd_health() {
    if ! _running=$(daemon_version "$NAME"); then
        printf '{"status":"fail","error":"the stack is not running"}\n'
        return 1
    fi
    # The running server's configuration, unless one is given.
    [ -n "$CONFIG" ] || CONFIG=$(cat "$RUN_DIR/$NAME.config" 2>/dev/null) || CONFIG=''
    load_config
    VERSION=$_running
    for s in $STORES; do
        ( schema_state "$s" >/dev/null 2>&1 && [ -z "$PENDING" ] && [ -z "$NEWER" ] ) 2>/dev/null || {
            printf '{"status":"fail","version":%s,"error":%s}\n' "$(json_str "$_running")" "$(json_str "$s-db is unreachable or not at $_running")"
            return 1
        }
    done
    printf '{"status":"ok","version":%s,"edition":%s}\n' "$(json_str "$_running")" "$(json_str "$EDITION_NAME")"
}

main() {
    while [ $# -gt 0 ]; do
        case $1 in
            -c | --config)
                CONFIG=$2
                shift 2
                ;;
            --config=*)
                CONFIG=${1#*=}
                shift
                ;;
            *) break ;;
        esac
    done
    case ${1:-} in
        version) say "The Things Stack $EDITION_NAME: ttn-lw-stack $VERSION" ;;
        start) cmd_start ;;
        health) cmd_health ;;
        *-db)
            case ${2:-} in
                migrate | init) cmd_migrate "${1%-db}" ;;
                *) die "usage: ttn-lw-stack $1 migrate" ;;
            esac
            ;;
        *) die "usage: ttn-lw-stack [-c FILE] version|start|health|is-db migrate|ns-db migrate|as-db migrate|dcs-db migrate" ;;
    esac
}

main "$@"; exit $?
