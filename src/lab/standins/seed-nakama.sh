# ---- seed-nakama.sh: nakama at $VERSION from the release, on the cluster's shared database ---
NEEDS='pg'
BIN="$ROOT/usr/local/bin/nakama"
ADDRESS="$PG_USER@$PG_HOST:$PG_PORT/nakama"

seed_install() {
    ensure_database nakama
    install_file "$RELEASES/nakama/$VERSION/nakama" "$BIN"
    mkdir -p "$ROOT/etc/nakama" "$ROOT/var/lib/nakama" || die "cannot create the nakama directories"
    cat >"$ROOT/etc/nakama/config.yml" <<CONF || die "cannot write the configuration"
name: nakama-$NODE_NAME
data_dir: /var/lib/nakama
logger:
  level: info
database:
  address:
    - "$ADDRESS"
socket:
  port: 7350
CONF
    write_unit nakama "$BIN"
}

seed_data() {
    "$BIN" migrate up --database.address "$ADDRESS" >/dev/null || die "nakama migrate up failed"
    pg "$(pg_url nakama)" "INSERT INTO users (id, username, display_name, create_time) VALUES
            ('00000000-0000-4000-8000-000000000001', 'player1', 'Player One', '2025-03-01T12:00:00Z'),
            ('00000000-0000-4000-8000-000000000002', 'player2', 'Player Two', '2025-03-02T12:00:00Z'),
            ('00000000-0000-4000-8000-000000000003', 'player3', 'Player Three', '2025-03-03T12:00:00Z'),
            ('00000000-0000-4000-8000-000000000004', 'player4', 'Player Four', '2025-03-04T12:00:00Z'),
            ('00000000-0000-4000-8000-000000000005', 'player5', 'Player Five', '2025-03-05T12:00:00Z')
        ON CONFLICT DO NOTHING;
        INSERT INTO storage (collection, key, user_id, value, version)
            SELECT 'saves', 'slot1', id, jsonb_build_object('level', substr(username, 7)::int * 10), 'v1' FROM users
        ON CONFLICT DO NOTHING;" >/dev/null || die "cannot write the demo data"
}

seed_start() { "$BIN" lab-unit start || die "nakama did not start"; }

seed_main; exit $?
