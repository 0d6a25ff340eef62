# ---- seed.sh: what `drover lab seed <product>` runs on each node, as the lab user ------------
# Installs a product the way an operator would (from $RELEASES, the lab's downloads), writes its
# configuration pointing at the lab's databases, creates demo data and starts it. The product
# part follows (seed_install, seed_data, seed_start). Environment, set by drover:
#   NODE_ROOT, NODE_NAME, NODE_ADDRESS, RELEASES ($LAB/releases), TOOLS ($LAB/standins/bin),
#   PG_HOST, PG_PORT, PG_USER (empty without the lab's PostgreSQL), REDIS_PORT (empty without
#   Redis), ROLE (GitLab: single, deploy, app or sidekiq), EDITION (The Things Stack), and
#   SEEDED=1 when the node already has the product: then it is only started.
INSTALL_PATHS=''
init
PG_HOST=${PG_HOST:-} PG_PORT=${PG_PORT:-} PG_USER=${PG_USER:-} REDIS_PORT=${REDIS_PORT:-}

# install_file SRC DEST [MODE]: written aside and renamed, as a package manager does.
install_file() {
    mkdir -p "${2%/*}" && cp "$1" "$2.new" && chmod "${3:-755}" "$2.new" && mv -f "$2.new" "$2" ||
        die "cannot install $2"
}

# A lab unit whose start, stop and status run `BINARY lab-unit ACTION`.
write_unit() {
    _d="$ROOT/lab/units/$1"
    mkdir -p "$_d" || die "cannot create $_d"
    for a in start stop status; do
        printf '#!/bin/sh\n# lab unit %s (drover lab seed): %s\nexec %s lab-unit %s\n' "$1" "$a" "'$2'" "$a" >"$_d/$a.new" &&
            chmod 755 "$_d/$a.new" && mv -f "$_d/$a.new" "$_d/$a" || die "cannot write $_d/$a"
    done
}

need_pg() {
    [ -n "${PG_PORT:-}" ] || die "${PRODUCT#seed-} needs the lab's PostgreSQL: run \`drover lab up --with postgresql\` first"
}
need_redis() {
    [ -n "${REDIS_PORT:-}" ] || die "${PRODUCT#seed-} needs the lab's Redis: run \`drover lab up --with redis\` first"
}

pg_url() { printf 'postgresql://%s@%s:%s/%s\n' "$PG_USER" "$PG_HOST" "$PG_PORT" "$1"; }

# Creates database NAME unless it exists.
ensure_database() {
    need_pg
    _have=$(pg "$(pg_url postgres)" "SELECT count(*) FROM pg_database WHERE datname = '$1';") ||
        die "cannot reach the lab's PostgreSQL at $PG_HOST:$PG_PORT"
    if [ "$_have" = 0 ]; then
        psql -X -q -d "$(pg_url postgres)" -c "CREATE DATABASE \"$1\";" || die "cannot create database $1"
    fi
}

install_tool() { install_file "$TOOLS/$1" "$ROOT/lab/bin/$1"; }

# NEEDS (set by the product part): the lab services it needs, "pg" and "redis".
seed_main() {
    case " ${NEEDS:-} " in *" pg "*) need_pg ;; esac
    case " ${NEEDS:-} " in *" redis "*) need_redis ;; esac
    if [ "${SEEDED:-0}" != 1 ]; then
        seed_install
        seed_data
        mkdir -p "$ROOT/lab/seeded" && printf '%s\n' "$VERSION" >"$ROOT/lab/seeded/${PRODUCT#seed-}" ||
            die "cannot record the seed"
    fi
    seed_start
}
