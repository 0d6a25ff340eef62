# ---- devlake: the apache/devlake image's `lake` (stand-in) -------------------------------------
# Like the real one: configured by /app/.env (ENV_PATH; variables in the environment win), it
# migrates its database on start, one way only (`_devlake_migration_history`; no down), and
# refuses a database a newer version migrated ("downgrade is not supported") or one from a
# skipped minor (v1.0 needs v0.21's schema: the stand-in's path rule). ENCODE_KEY encrypts the
# connection tokens in the database: generated into /app/.env on a first boot, and a missing or
# wrong key on a database that holds tokens stops the start.
# Commands: serve (the default), health, version, connections, create-connection NAME URL TOKEN
# (the REST API's POST /plugins/github/connections, for seeding).
INSTALL_PATHS='var/lib/docker/images/*'
init

ENV_FILE=$(node_path "${ENV_PATH:-/app/.env}")
NAME=${LAB_CONTAINER:-devlake}

migrations_database() {
    cat <<'EOF'
20220101000001 v0.20.0
20220601000002 v0.20.0
20231001000001 v0.21.0
20240101000001 v1.0.0
20240301000001 v1.0.1
EOF
}

migration_sql() {
    case $1 in
        20220101000001) say "CREATE TABLE _tool_github_connections (id bigserial PRIMARY KEY, name varchar(100) NOT NULL UNIQUE, endpoint varchar(255) NOT NULL, token text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE repos (id varchar(255) PRIMARY KEY, name varchar(255) NOT NULL, url varchar(255) NOT NULL, connection_id bigint);" ;;
        20220601000002) say "CREATE TABLE _devlake_pipelines (id bigserial PRIMARY KEY, name varchar(255) NOT NULL, status varchar(100) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());" ;;
        20231001000001) say "ALTER TABLE repos ADD COLUMN language varchar(100) NOT NULL DEFAULT '';" ;;
        20240101000001) say "ALTER TABLE _tool_github_connections ADD COLUMN rate_limit_per_hour integer NOT NULL DEFAULT 0;
            CREATE TABLE project_metric_settings (project_name varchar(100) PRIMARY KEY, settings jsonb NOT NULL DEFAULT '{}');" ;;
        20240301000001) say "CREATE INDEX idx_repos_connection ON repos (connection_id);" ;;
        *) die "no migration $1" ;;
    esac
}

min_from() {
    case $VERSION in
        v0.20.*) ;;
        v0.21.*) say v0.20.0 ;;
        v1.0.*) say v0.21.0 ;;
        *) die "no upgrade path known for $VERSION" ;;
    esac
}

# A setting: the environment's, else /app/.env's.
setting() {
    eval "_val=\${$1:-}"
    if [ -z "$_val" ] && [ -f "$ENV_FILE" ]; then
        _val=$(env_get "$ENV_FILE" "$1") || _val=''
    fi
    printf '%s\n' "$_val"
}

load_config() {
    DB=$(setting DB_URL)
    [ -n "$DB" ] || die "DB_URL is not set (environment or ${ENV_PATH:-/app/.env})"
    case $DB in
        postgres://* | postgresql://*) ;;
        *) die "DB_URL $DB: this stand-in supports PostgreSQL only (postgres://user@host:port/db)" ;;
    esac
    KEY=$(setting ENCODE_KEY)
}

applied_database() {
    pg_if_table "$DB" _devlake_migration_history "SELECT script_version FROM _devlake_migration_history;"
}

tokens() { pg_if_table "$DB" _tool_github_connections "SELECT token FROM _tool_github_connections ORDER BY id;"; }

# Fails, saying why, unless KEY decrypts every stored token.
check_key() {
    _tokens=$(tokens) || die "cannot read the connections"
    [ -n "$_tokens" ] || return 0
    [ -n "$KEY" ] || die "ENCODE_KEY is not set in ${ENV_PATH:-/app/.env}, but the database holds encrypted tokens: restore the .env that belongs to this database"
    for t in $_tokens; do
        decrypt "$KEY" "$t" >/dev/null ||
            die "ENCODE_KEY in ${ENV_PATH:-/app/.env} does not decrypt the tokens stored in the database (a different key?): restore the .env that belongs to this database"
    done
}

cmd_serve() {
    load_config
    schema_state database
    if [ -n "$NEWER" ]; then
        die "the database was migrated by a newer version (migration $NEWER): downgrade is not supported; restore the database backup taken before the upgrade"
    fi
    check_path database
    check_key
    if [ -z "$KEY" ]; then
        KEY=$(openssl rand -hex 32) || die "cannot generate ENCODE_KEY"
        printf 'ENCODE_KEY=%s\n' "$KEY" >>"$ENV_FILE" || die "cannot write ENCODE_KEY to ${ENV_PATH:-/app/.env}"
        say "generated ENCODE_KEY and saved it in ${ENV_PATH:-/app/.env}"
    fi
    for id in $PENDING; do
        pg "$DB" "CREATE TABLE IF NOT EXISTS _devlake_migration_history (script_version bigint NOT NULL, script_name varchar(255) NOT NULL, comment text, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (script_version, script_name));
            $(migration_sql "$id")
            INSERT INTO _devlake_migration_history (script_version, script_name, comment) VALUES ($id, 'migration_$id', 'devlake $(release_of database "$id")');" >/dev/null ||
            die "migration $id failed; the database is unchanged"
        say "applied migration $id ($(release_of database "$id"))"
    done
    say "DevLake $VERSION: database migrated, listening on :${PORT:-8080}"
    daemon_loop "$NAME"
}

# GET /ping and the connections' tokens: the running server's version, its schema, and every
# token decrypting with its ENCODE_KEY.
cmd_health() {
    if ! _running=$(daemon_version "$NAME"); then
        printf '{"status":"fail","error":"devlake is not running"}\n'
        return 1
    fi
    load_config
    VERSION=$_running
    schema_state database
    if [ -n "$PENDING" ] || [ -n "$NEWER" ]; then
        printf '{"status":"fail","version":%s,"error":%s}\n' "$(json_str "$_running")" "$(json_str "database schema is from ${SCHEMA:-nothing}, not $_running")"
        return 1
    fi
    _n=0
    for t in $(tokens); do
        if ! decrypt "$KEY" "$t" >/dev/null; then
            printf '{"status":"fail","version":%s,"error":"a stored token does not decrypt with ENCODE_KEY"}\n' "$(json_str "$_running")"
            return 1
        fi
        _n=$((_n + 1))
    done
    printf '{"status":"ok","version":%s,"schema":%s,"connections":%d,"tokens":"decrypt"}\n' \
        "$(json_str "$_running")" "$(json_str "$SCHEMA")" "$_n"
}

# id, name, endpoint and the sha256 of each decrypted token (or "undecryptable").
cmd_connections() {
    load_config
    pg "$DB" "SELECT id, name, endpoint, token FROM _tool_github_connections ORDER BY id;" |
        while IFS='|' read -r id name endpoint token; do
            if _plain=$(decrypt "$KEY" "$token"); then
                _sum=$(printf '%s' "$_plain" | sha256sum | cut -d' ' -f1)
            else
                _sum=undecryptable
            fi
            printf '%s|%s|%s|%s\n' "$id" "$name" "$endpoint" "$_sum"
        done
}

cmd_create_connection() {
    [ $# -eq 3 ] || die "usage: lake create-connection NAME ENDPOINT TOKEN"
    load_config
    [ -n "$KEY" ] || die "ENCODE_KEY is not set"
    _enc=$(encrypt "$KEY" "$3") || die "cannot encrypt the token"
    pg "$DB" "INSERT INTO _tool_github_connections (name, endpoint, token) VALUES ('$1', '$2', '$_enc');" >/dev/null ||
        die "cannot store the connection"
    say "connection $1 created"
}

main() {
    case ${1:-serve} in
        serve) cmd_serve ;;
        health | ping) cmd_health ;;
        version) say "$VERSION" ;;
        connections) cmd_connections ;;
        create-connection)
            shift
            cmd_create_connection "$@"
            ;;
        *) die "usage: lake [serve|health|version|connections|create-connection NAME ENDPOINT TOKEN]" ;;
    esac
}

main "$@"; exit $?
