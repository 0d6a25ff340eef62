# ---- seed-headscale.sh: headscale at $VERSION from the release, SQLite data ----------------
BIN="$ROOT/usr/bin/headscale"

seed_install() {
    need sqlite3 sqlite3
    _rel="$RELEASES/headscale/$VERSION"
    install_file "$_rel/headscale_${VERSION}_linux_amd64" "$BIN"
    mkdir -p "$ROOT/etc/headscale" "$ROOT/var/lib/headscale" || die "cannot create the headscale directories"
    # The release's example configuration, served on this node's address.
    sed -e "s|^server_url: .*|server_url: http://$NODE_ADDRESS:8080|" \
        -e "s|^listen_addr: .*|listen_addr: $NODE_ADDRESS:8080|" \
        "$_rel/config-example.yaml" >"$ROOT/etc/headscale/config.yaml" || die "cannot write the configuration"
    write_unit headscale "$BIN"
}

seed_data() {
    # headscale creates and migrates its database when it starts.
    "$BIN" lab-unit start || die "headscale $VERSION did not start"
    sqlite3 -bail "$ROOT/var/lib/headscale/db.sqlite" "BEGIN;
        INSERT INTO users (id, name, display_name, created_at) VALUES
            (1, 'alice', 'Alice', '2025-01-02T10:00:00Z'),
            (2, 'bob', 'Bob', '2025-01-03T10:00:00Z'),
            (3, 'carol', 'Carol', '2025-01-04T10:00:00Z');
        INSERT INTO nodes (id, machine_key, hostname, user_id, ipv4, created_at) VALUES
            (1, 'mkey:$NODE_NAME-01', 'alice-laptop', 1, '100.64.0.1', '2025-02-01T09:00:00Z'),
            (2, 'mkey:$NODE_NAME-02', 'alice-phone', 1, '100.64.0.2', '2025-02-01T09:05:00Z'),
            (3, 'mkey:$NODE_NAME-03', 'bob-desktop', 2, '100.64.0.3', '2025-02-02T09:00:00Z'),
            (4, 'mkey:$NODE_NAME-04', 'carol-server', 3, '100.64.0.4', '2025-02-03T09:00:00Z'),
            (5, 'mkey:$NODE_NAME-05', 'carol-nas', 3, '100.64.0.5', '2025-02-03T09:10:00Z');
        INSERT INTO pre_auth_keys (id, key, user_id, reusable, expiration) VALUES
            (1, 'pak-$NODE_NAME-alice', 1, 1, '2030-01-01T00:00:00Z'),
            (2, 'pak-$NODE_NAME-bob', 2, 0, '2030-01-01T00:00:00Z');
        INSERT INTO api_keys (id, prefix, hash) VALUES (1, 'hskey-$NODE_NAME', 'sha256:demo');
        COMMIT;" || die "cannot write the demo data"
}

seed_start() { "$BIN" lab-unit start || die "headscale did not start"; }

seed_main; exit $?
