# ---- seed-devlake.sh: DevLake $VERSION by docker compose in /app, its own database --------------
NEEDS='pg'
DB_NAME="lake_$NODE_NAME"
DOCKER="$ROOT/lab/bin/docker"

seed_install() {
    ensure_database "$DB_NAME"
    install_tool docker
    mkdir -p "$ROOT/app" || die "cannot create /app"
    cat >"$ROOT/app/docker-compose.yml" <<CONF || die "cannot write docker-compose.yml"
# Apache DevLake on lab node $NODE_NAME (drover lab seed devlake); the database is external.
services:
  devlake:
    image: apache/devlake:$VERSION
    env_file:
      - ./.env
    volumes:
      - ./.env:/app/.env
    restart: always
CONF
    # DevLake generates ENCODE_KEY into this file on its first start.
    cat >"$ROOT/app/.env" <<CONF || die "cannot write .env"
# Apache DevLake settings (DevLake also writes to this file)
DB_URL=postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB_NAME?sslmode=disable
PORT=8080
MODE=release
CONF
}

seed_data() {
    cd "$ROOT/app" || die "cannot enter /app"
    "$DOCKER" compose up -d --wait >/dev/null || die "devlake did not start: $("$DOCKER" compose logs devlake | tail -n 3)"
    "$DOCKER" compose exec -T devlake lake create-connection github-$NODE_NAME https://api.github.com/ "ghp_lab_${NODE_NAME}_token_one" >/dev/null &&
        "$DOCKER" compose exec -T devlake lake create-connection github-enterprise-$NODE_NAME https://github.example.com/api/v3/ "ghp_lab_${NODE_NAME}_token_two" >/dev/null ||
        die "cannot create the connections"
    pg "$(grep '^DB_URL=' .env | cut -d= -f2-)" "INSERT INTO repos (id, name, url, connection_id) VALUES
            ('github:GithubRepo:1:101', 'acme/website', 'https://github.com/acme/website', 1),
            ('github:GithubRepo:1:102', 'acme/api', 'https://github.com/acme/api', 1),
            ('github:GithubRepo:2:201', 'platform/infra', 'https://github.example.com/platform/infra', 2);
        INSERT INTO _devlake_pipelines (name, status) VALUES ('collect acme', 'TASK_COMPLETED'), ('collect platform', 'TASK_COMPLETED');" >/dev/null ||
        die "cannot write the demo data"
}

seed_start() {
    cd "$ROOT/app" && "$DOCKER" compose up -d --wait >/dev/null || die "devlake did not start: $("$DOCKER" compose logs devlake | tail -n 3)"
}

seed_main; exit $?
