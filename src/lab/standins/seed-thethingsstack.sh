# ---- seed-thethingsstack.sh: The Things Stack $VERSION by docker compose, PostgreSQL + Redis ---
# EDITION: open-source (thethingsnetwork/lorawan-stack: is-db, ns-db) or enterprise
# (thethingsindustries/lorawan-stack: also as-db, dcs-db).
NEEDS='pg redis'
DB_NAME="ttn_lorawan_$NODE_NAME"
DOCKER="$ROOT/lab/bin/docker"
DIR="$ROOT/srv/lorawan-stack"

seed_install() {
    ensure_database "$DB_NAME"
    install_tool docker
    case $EDITION in
        enterprise) _repo=thethingsindustries/lorawan-stack ;;
        *) _repo=thethingsnetwork/lorawan-stack ;;
    esac
    mkdir -p "$DIR/config/stack" || die "cannot create $DIR"
    cat >"$DIR/docker-compose.yml" <<CONF || die "cannot write docker-compose.yml"
# The Things Stack on lab node $NODE_NAME (drover lab seed thethingsstack).
# PostgreSQL is the lab's; redis is the lab's redis unit on this node.
services:
  redis:
    image: 'redis:7'
    x-lab-unit: redis
  stack:
    image: '$_repo:$VERSION'
    entrypoint: ttn-lw-stack -c /config/ttn-lw-stack-docker.yml
    command: start
    volumes:
      - './config/stack:/config:ro'
CONF
    cat >"$DIR/config/stack/ttn-lw-stack-docker.yml" <<CONF || die "cannot write the stack configuration"
# The Things Stack configuration of lab node $NODE_NAME
is:
  database-uri: 'postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB_NAME?sslmode=disable'
redis:
  address: '$NODE_ADDRESS:$REDIS_PORT'
CONF
}

seed_data() {
    cd "$DIR" || die "cannot enter $DIR"
    _stores='is ns'
    [ "$EDITION" = enterprise ] && _stores='is ns as dcs'
    for s in $_stores; do
        "$DOCKER" compose run --rm stack "$s-db" migrate >/dev/null || die "$s-db migrate failed"
    done
    pg "$(pg_url "$DB_NAME")" "INSERT INTO users (user_id, primary_email_address) VALUES ('admin', 'admin@example.com'), ('alice', 'alice@example.com');
        INSERT INTO applications (application_id, name) VALUES ('app-$NODE_NAME', 'Sensors of $NODE_NAME'), ('app-$NODE_NAME-2', 'Meters of $NODE_NAME');
        INSERT INTO end_devices (application_id, device_id, dev_eui) VALUES
            ('app-$NODE_NAME', 'dev-1', '70B3D57ED0000001'), ('app-$NODE_NAME', 'dev-2', '70B3D57ED0000002'),
            ('app-$NODE_NAME', 'dev-3', '70B3D57ED0000003'), ('app-$NODE_NAME-2', 'dev-4', '70B3D57ED0000004'),
            ('app-$NODE_NAME-2', 'dev-5', '70B3D57ED0000005');" >/dev/null || die "cannot write the demo data"
    {
        for i in 1 2 3 4 5; do
            say "HSET ttn:v3:ns:devices:app-$NODE_NAME:dev-$i dev_eui 70B3D57ED000000$i frequency_plan EU_863_870 mac_version 1.0.3"
            [ "$EDITION" = enterprise ] && say "HSET ttn:v3:as:devices:app-$NODE_NAME:dev-$i formatter javascript"
        done
        [ "$EDITION" = enterprise ] && say "HSET ttn:v3:dcs:claims:app-$NODE_NAME owner alice" && say "HSET ttn:v3:dcs:claims:app-$NODE_NAME-2 owner alice"
    } | redis-cli -h "$NODE_ADDRESS" -p "$REDIS_PORT" >/dev/null || die "cannot write the Redis demo data"
}

seed_start() {
    cd "$DIR" && "$DOCKER" compose up -d --wait >/dev/null || die "the stack did not start: $("$DOCKER" compose logs stack | tail -n 3)"
}

seed_main; exit $?
