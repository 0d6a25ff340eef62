# ---- headscale: /usr/bin/headscale (stand-in) ------------------------------------------------
# Like the real one: `headscale serve` reads /etc/headscale/config.yaml (or -c FILE, or
# $HEADSCALE_CONFIG) and migrates its SQLite database on start (gormigrate's `migrations`
# table). It refuses a database from a skipped minor (0.28.0 needs 0.27.1's schema) or from a
# newer version, and 0.27.0 and later refuse the key 0.27.0 renamed.
# Commands: version, serve, health, configtest, users list, nodes list, lab-unit start|stop|status.
INSTALL_PATHS='usr/bin/headscale'
init

# The key 0.27.0 renamed (a stand-in's invention, like the real renames between minors).
OLD_KEY=ephemeral_node_inactivity_timeout
NEW_KEY=ephemeral_node_expiry

migrations_db() {
    cat <<'EOF'
202501221827 0.26.0
202502070949 0.26.0
202505301200 0.26.1
202509011200 0.27.0
202510151200 0.27.1
202601101200 0.28.0
EOF
}

migration_sql() {
    case $1 in
        202501221827) say "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, display_name TEXT, created_at TEXT NOT NULL);
            CREATE TABLE nodes (id INTEGER PRIMARY KEY, machine_key TEXT NOT NULL, hostname TEXT NOT NULL, user_id INTEGER REFERENCES users (id), ipv4 TEXT, created_at TEXT NOT NULL);" ;;
        202502070949) say "CREATE TABLE pre_auth_keys (id INTEGER PRIMARY KEY, key TEXT NOT NULL, user_id INTEGER REFERENCES users (id), reusable INTEGER NOT NULL DEFAULT 0, expiration TEXT);
            CREATE TABLE api_keys (id INTEGER PRIMARY KEY, prefix TEXT NOT NULL UNIQUE, hash TEXT NOT NULL);" ;;
        202505301200) say "CREATE INDEX idx_nodes_machine_key ON nodes (machine_key);" ;;
        202509011200) say "ALTER TABLE nodes ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';" ;;
        202510151200) say "CREATE INDEX idx_pre_auth_keys_user ON pre_auth_keys (user_id);" ;;
        202601101200) say "CREATE TABLE policies (id INTEGER PRIMARY KEY, data TEXT NOT NULL, updated_at TEXT NOT NULL);
            ALTER TABLE nodes ADD COLUMN approved_routes TEXT NOT NULL DEFAULT '[]';" ;;
        *) die "no migration $1" ;;
    esac
}

min_from() {
    case $VERSION in
        0.26.*) ;;
        0.27.*) say 0.26.0 ;;
        0.28.*) say 0.27.1 ;;
        *) die "no upgrade path known for $VERSION" ;;
    esac
}

CONFIG=${HEADSCALE_CONFIG:-/etc/headscale/config.yaml}

# Reads and checks the configuration: sets DB (the SQLite file on this node).
load_config() {
    _file=$(node_path "$CONFIG")
    [ -f "$_file" ] || die "config file not found: $CONFIG"
    if [ "$(ver_cmp "$VERSION" 0.27.0)" -ge 0 ] && yaml_get "$_file" "$OLD_KEY" >/dev/null; then
        die "FTL config error in $CONFIG: \`$OLD_KEY\` was renamed to \`$NEW_KEY\` in 0.27.0; update the configuration (see the release's config-example.yaml)"
    fi
    _type=$(yaml_get "$_file" database.type) || die "config error in $CONFIG: database.type is not set"
    case $_type in
        sqlite | sqlite3) ;;
        *) die "config error in $CONFIG: database.type $_type: this stand-in supports sqlite only" ;;
    esac
    _path=$(yaml_get "$_file" database.sqlite.path) || die "config error in $CONFIG: database.sqlite.path is not set"
    DB=$(node_path "$_path")
    yaml_get "$_file" server_url >/dev/null || die "config error in $CONFIG: server_url is not set"
}

sql() {
    need sqlite3 sqlite3
    sqlite3 -batch -bail "$DB" "$1"
}

applied_db() {
    [ -f "$DB" ] || return 0
    _t=$(sql "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'migrations';") || return 1
    [ "$_t" = 0 ] && return 0
    sql "SELECT id FROM migrations;"
}

migrate() {
    schema_state db
    check_path db
    mkdir -p "${DB%/*}" || die "cannot create ${DB%/*}"
    for id in $PENDING; do
        sql "BEGIN; CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY); $(migration_sql "$id")
             INSERT INTO migrations (id) VALUES ('$id'); COMMIT;" ||
            die "migration $id failed; the database is unchanged"
        say "migration $id ($(release_of db "$id")) applied"
    done
}

cmd_serve() {
    load_config
    migrate
    _key=$(node_path /var/lib/headscale/noise_private.key)
    [ -f "$_key" ] || { mkdir -p "${_key%/*}" && printf 'privkey:%s\n' "$(date +%s)$$" >"$_key"; } ||
        die "cannot write $_key"
    daemon_loop headscale
}

# Health of the RUNNING server: its process, its version, and its database at that version's
# schema (a database restored under a running server, or migrated by another version, fails).
cmd_health() {
    if ! _running=$(daemon_version headscale); then
        printf '{"status":"fail","error":"headscale is not running"}\n'
        return 1
    fi
    VERSION=$_running
    load_config
    schema_state db
    if [ -n "$NEWER" ] || [ -n "$PENDING" ]; then
        printf '{"status":"fail","version":%s,"error":%s}\n' "$(json_str "$_running")" \
            "$(json_str "database schema is from ${SCHEMA:-nothing}, not $_running")"
        return 1
    fi
    printf '{"status":"pass","version":%s,"schema":%s}\n' "$(json_str "$_running")" "$(json_str "$SCHEMA")"
}

cmd_configtest() {
    load_config
    schema_state db
    check_path db
    say "config $CONFIG is valid for headscale $VERSION"
}

cmd_list() {
    load_config
    case $1 in
        users) sql "SELECT id, name, created_at FROM users ORDER BY id;" ;;
        nodes) sql "SELECT n.id, n.hostname, u.name, n.ipv4 FROM nodes n LEFT JOIN users u ON u.id = n.user_id ORDER BY n.id;" ;;
    esac
}

main() {
    while [ $# -gt 0 ]; do
        case $1 in
            -c | --config)
                [ $# -ge 2 ] || die "$1 needs a file"
                CONFIG=$2
                shift 2
                ;;
            --config=*)
                CONFIG=${1#--config=}
                shift
                ;;
            *) break ;;
        esac
    done
    case ${1:-} in
        version) say "v$VERSION" ;;
        serve) cmd_serve ;;
        health) cmd_health ;;
        configtest) cmd_configtest ;;
        users | nodes)
            [ "${2:-}" = list ] || [ "${2:-}" = ls ] || die "usage: headscale $1 list"
            cmd_list "$1"
            ;;
        lab-unit) lab_unit "${2:-}" headscale "$ROOT/var/log/headscale/headscale.log" "$SELF" serve ;;
        *)
            say "usage: headscale [-c FILE] version|serve|health|configtest|users list|nodes list" >&2
            return 2
            ;;
    esac
}

main "$@"; exit $?
