# ---- nakama: /usr/local/bin/nakama (stand-in) ------------------------------------------------
# Like the real one: `nakama migrate up|down|status` (sql-migrate's `migration_info` table) on the
# PostgreSQL database given by --database.address (default root@localhost:26257, as Nakama's),
# and `nakama [--config FILE]` runs the server, which refuses a schema with migrations pending
# ("run nakama migrate up"), one from a newer version, and one from a skipped minor (3.22 needs
# 3.21's schema: the stand-in's path rule). `nakama healthcheck` reports the RUNNING server.
# Commands: --version, migrate up|down|status [--limit N], healthcheck, lab-unit start|stop|status.
INSTALL_PATHS='usr/local/bin/nakama'
init

migrations_database() {
    cat <<'EOF'
20180103142001_initial_schema.sql 3.20.0
20240110120000_user_devices.sql 3.20.1
20240301120000_purchase_refund.sql 3.21.0
20240320120000_storage_user_index.sql 3.21.1
20240601120000_users_metadata.sql 3.22.0
EOF
}

# migration_sql ID up|down
migration_sql() {
    case $1:$2 in
        20180103142001_initial_schema.sql:up) say "CREATE TABLE users (id UUID PRIMARY KEY, username VARCHAR(128) NOT NULL UNIQUE, display_name VARCHAR(255), create_time TIMESTAMPTZ NOT NULL DEFAULT now());
            CREATE TABLE storage (collection VARCHAR(128) NOT NULL, key VARCHAR(128) NOT NULL, user_id UUID NOT NULL, value JSONB NOT NULL DEFAULT '{}', version VARCHAR(32) NOT NULL, PRIMARY KEY (collection, key, user_id));" ;;
        20180103142001_initial_schema.sql:down) say "DROP TABLE storage; DROP TABLE users;" ;;
        20240110120000_user_devices.sql:up) say "CREATE TABLE user_device (id VARCHAR(128) PRIMARY KEY, user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE);" ;;
        20240110120000_user_devices.sql:down) say "DROP TABLE user_device;" ;;
        20240301120000_purchase_refund.sql:up) say "CREATE TABLE purchase (transaction_id VARCHAR(512) PRIMARY KEY, user_id UUID NOT NULL, refund_time TIMESTAMPTZ);" ;;
        20240301120000_purchase_refund.sql:down) say "DROP TABLE purchase;" ;;
        20240320120000_storage_user_index.sql:up) say "CREATE INDEX storage_user_idx ON storage (user_id);" ;;
        20240320120000_storage_user_index.sql:down) say "DROP INDEX storage_user_idx;" ;;
        20240601120000_users_metadata.sql:up) say "ALTER TABLE users ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}';" ;;
        20240601120000_users_metadata.sql:down) say "ALTER TABLE users DROP COLUMN metadata;" ;;
        *) die "no migration $1 ($2)" ;;
    esac
}

min_from() {
    case $VERSION in
        3.20.*) ;;
        3.21.*) say 3.20.0 ;;
        3.22.*) say 3.21.0 ;;
        *) die "no upgrade path known for $VERSION" ;;
    esac
}

log_json() { printf '{"level":"%s","ts":"%s","msg":%s%s}\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(json_str "$2")" "${3:-}"; }

ADDRESS=''
CONFIG=''
LIMIT=''

# The database URL from --database.address, else the config file's database.address, else
# Nakama's default. An address is user[:password]@host:port[/dbname][?options]; dbname
# defaults to nakama.
db_url() {
    _a=$ADDRESS
    if [ -z "$_a" ] && [ -n "$CONFIG" ]; then
        _f=$(node_path "$CONFIG")
        [ -f "$_f" ] || die "config file not found: $CONFIG"
        _a=$(yaml_get "$_f" database.address.-) || _a=$(yaml_get "$_f" database.address) || _a=''
    fi
    _a=${_a:-root@localhost:26257}
    case $_a in
        postgres://* | postgresql://*) DB=$_a ;;
        */*) DB="postgresql://$_a" ;;
        *\?*) DB="postgresql://${_a%%\?*}/nakama?${_a#*\?}" ;;
        *) DB="postgresql://$_a/nakama" ;;
    esac
}

applied_database() { pg_if_table "$DB" migration_info "SELECT id FROM migration_info;"; }

cmd_migrate() {
    db_url
    case ${1:-} in
        up)
            schema_state database
            check_path database
            _n=0
            for id in $PENDING; do
                [ -n "$LIMIT" ] && [ "$_n" -ge "$LIMIT" ] && break
                pg "$DB" "CREATE TABLE IF NOT EXISTS migration_info (id VARCHAR(255) PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
                    $(migration_sql "$id" up)
                    INSERT INTO migration_info (id) VALUES ('$id');" >/dev/null ||
                    die "migration $id failed; the database is unchanged"
                _n=$((_n + 1))
            done
            log_json info "Successfully applied migration" ",\"count\":$_n"
            ;;
        down)
            schema_state database
            # Newest first. The stand-in knows every release's migrations, so the old binary
            # the guide installs before `migrate down` can undo the newer one's.
            _applied=$(applied_database) || die "cannot read the schema"
            [ -z "$NEWER" ] || case $NEWER in *unknown*) die "cannot roll back unknown migration $NEWER" ;; esac
            _down=$(migrations_database | while read -r id rel; do
                printf '%s\n' "$_applied" | grep -qxF "$id" && say "$id"
            done | sed '1!G;h;$!d')
            _n=0
            for id in $_down; do
                [ "$_n" -ge "${LIMIT:-1}" ] && break
                pg "$DB" "$(migration_sql "$id" down) DELETE FROM migration_info WHERE id = '$id';" >/dev/null ||
                    die "rolling back $id failed; the database is unchanged"
                _n=$((_n + 1))
            done
            log_json info "Successfully rolled back migration" ",\"count\":$_n"
            ;;
        status)
            schema_state database
            _applied=$(applied_database) || die "cannot read the schema"
            migrations_database | while read -r id rel; do
                if printf '%s\n' "$_applied" | grep -qxF "$id"; then
                    printf '%-45s %-8s applied\n' "$id" "$rel"
                else
                    printf '%-45s %-8s pending\n' "$id" "$rel"
                fi
            done
            [ -z "$NEWER" ] || say "database has migrations from a newer version: $NEWER"
            ;;
        *) die "usage: nakama migrate up|down|status [--database.address ADDR] [--limit N]" ;;
    esac
}

cmd_serve() {
    db_url
    schema_state database
    check_path database
    if [ -n "$PENDING" ]; then
        die "DB schema outdated: migrations $PENDING pending for $VERSION; run \`nakama migrate up\`"
    fi
    log_json info "Nakama starting" ",\"version\":$(json_str "$VERSION")"
    mkdir -p "$RUN_DIR" && printf '%s\n' "$DB" >"$RUN_DIR/nakama.database" || die "cannot write $RUN_DIR"
    daemon_loop nakama
}

# The RUNNING server: its process and version, and the shared database at a schema it can run
# on: a schema behind it (another node ran `migrate down`) fails; one ahead of it (another node
# migrated up, this one is next) is reported and passes, as the old server keeps serving.
cmd_healthcheck() {
    if ! _running=$(daemon_version nakama); then
        printf '{"status":"fail","error":"nakama is not running"}\n'
        return 1
    fi
    # The database the running server uses (an address given here wins).
    db_url
    [ -n "$ADDRESS$CONFIG" ] || DB=$(cat "$RUN_DIR/nakama.database" 2>/dev/null) || DB=''
    VERSION=$_running
    schema_state database
    if [ -n "$PENDING" ]; then
        printf '{"status":"fail","version":%s,"error":%s}\n' "$(json_str "$_running")" \
            "$(json_str "database schema is behind $_running: $PENDING not applied")"
        return 1
    fi
    _note=''
    [ -z "$NEWER" ] || _note=",\"note\":$(json_str "schema ahead of the running version: $NEWER")"
    printf '{"status":"ok","version":%s,"schema":%s%s}\n' "$(json_str "$_running")" "$(json_str "$SCHEMA")" "$_note"
}

main() {
    _cmd=''
    _sub=''
    while [ $# -gt 0 ]; do
        case $1 in
            --version | -version) _cmd=version ;;
            --config | -config | --database.address | -database.address | --limit | -limit | --name | -name | --logger.level | -logger.level)
                [ $# -ge 2 ] || die "flag needs an argument: $1"
                _flag=${1#-}
                _flag=${_flag#-}
                _val=$2
                shift
                ;;
            --*=* | -*=*)
                _flag=${1%%=*}
                _flag=${_flag#-}
                _flag=${_flag#-}
                _val=${1#*=}
                ;;
            migrate | healthcheck | version | lab-unit)
                [ -z "$_cmd" ] && _cmd=$1
                _flag=''
                ;;
            *)
                if [ "$_cmd" = migrate ] || [ "$_cmd" = lab-unit ]; then
                    [ -n "$_sub" ] && die "unexpected argument: $1"
                    _sub=$1
                else
                    die "unknown argument: $1"
                fi
                _flag=''
                ;;
        esac
        case ${_flag:-} in
            config) CONFIG=$_val ;;
            database.address) ADDRESS=$_val ;;
            limit)
                case $_val in '' | *[!0-9]*) die "--limit needs a number" ;; esac
                LIMIT=$_val
                ;;
            name | logger.level | '') ;;
            *) die "flag provided but not defined: -$_flag" ;;
        esac
        _flag=''
        shift
    done
    case $_cmd in
        version) say "$VERSION" ;;
        migrate) cmd_migrate "$_sub" ;;
        healthcheck) cmd_healthcheck ;;
        lab-unit) lab_unit "$_sub" nakama "$ROOT/var/log/nakama/nakama.log" "$SELF" --config /etc/nakama/config.yml ;;
        '') cmd_serve ;;
    esac
}

main "$@"; exit $?
