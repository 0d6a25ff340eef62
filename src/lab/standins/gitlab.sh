# ---- gitlab: Omnibus GitLab EE (stand-in) ------------------------------------------------------
# One script, installed by the gitlab-ee package as /opt/gitlab/bin/gitlab-ctl and linked as
# gitlab-rake, gitlab-rails and gitlab-backup (what it does depends on the name it runs as).
# Like the real one, with an external PostgreSQL that several nodes may share:
# - /etc/gitlab/gitlab.rb: gitlab_rails['db_host'|'db_port'|'db_username'|'db_database'],
#   gitlab_rails['auto_migrate'], puma['enable'], sidekiq['enable'], gitlab_rails['backup_path'];
#   /etc/gitlab/gitlab-secrets.json holds db_key_base, which encrypts ci_variables values.
# - `gitlab-rake db:migrate` applies the installed version's schema_migrations, refuses a schema
#   from a skipped required stop (16.3 -> 16.7 -> 16.11 -> 17.1) or a newer version, refuses while
#   batched background migrations are pending, and queues new ones (on an existing database),
#   which a running sidekiq finishes one a second (status 1 active -> 3 finished).
# - puma and sidekiq refuse to start on a schema with pending migrations or from a newer version.
# - `gitlab-backup create|restore`: a tar of the database dump and the repositories; a restore
#   needs the version of the backup. `gitlab-ctl backup-etc` saves /etc/gitlab.
INSTALL_PATHS='opt/gitlab/bin/* lab/bin/*'
init

FULL_VERSION="$VERSION-ee"
GITLAB_RB=$(node_path /etc/gitlab/gitlab.rb)
SECRETS=$(node_path /etc/gitlab/gitlab-secrets.json)
REPOS=$(node_path /var/opt/gitlab/git-data/repositories)
LOG_DIR=$(node_path /var/log/gitlab)
SERVICES='puma sidekiq'

migrations_database() {
    cat <<'EOF'
20230701000001 16.3.9
20230801000002 16.3.9
20231101000001 16.7.10
20231201000002 16.7.10
20240101000001 16.9.2
20240301000001 16.11.10
20240401000002 16.11.10
20240501000001 17.1.8
20240601000002 17.1.8
EOF
}

migration_sql() {
    case $1 in
        20230701000001) say "CREATE TABLE users (id serial PRIMARY KEY, username text NOT NULL UNIQUE, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE projects (id serial PRIMARY KEY, name text NOT NULL, path text NOT NULL, namespace text NOT NULL, disk_path text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE ci_variables (id serial PRIMARY KEY, project_id integer NOT NULL REFERENCES projects (id), key text NOT NULL, encrypted_value text NOT NULL);" ;;
        20230801000002) say "CREATE TABLE batched_background_migrations (id bigserial PRIMARY KEY, job_class_name text NOT NULL, table_name text NOT NULL, column_name text NOT NULL, job_arguments jsonb NOT NULL DEFAULT '[]', status smallint NOT NULL DEFAULT 1, queued_migration_version text, created_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz);" ;;
        20231101000001) say "ALTER TABLE projects ADD COLUMN star_count integer NOT NULL DEFAULT 0;" ;;
        20231201000002) say "CREATE INDEX index_projects_on_path ON projects (path);" ;;
        20240101000001) say "ALTER TABLE users ADD COLUMN state text NOT NULL DEFAULT 'active';" ;;
        20240301000001) say "CREATE TABLE project_settings (project_id integer PRIMARY KEY REFERENCES projects (id), settings jsonb NOT NULL DEFAULT '{}');" ;;
        20240401000002) say "ALTER TABLE ci_variables ADD COLUMN raw boolean NOT NULL DEFAULT false;" ;;
        20240501000001) say "ALTER TABLE projects ADD COLUMN archived boolean NOT NULL DEFAULT false;" ;;
        20240601000002) say "CREATE INDEX index_users_on_state ON users (state);" ;;
        *) die "no migration $1" ;;
    esac
}

# Required upgrade stops: a version upgrades from the latest patch of the stop before it.
min_from() {
    case $VERSION in
        16.3.*) ;;
        16.[4-7].*) say 16.3.9 ;;
        16.8.* | 16.9.* | 16.10.* | 16.11.*) say 16.7.10 ;;
        17.0.* | 17.1.*) say 16.11.10 ;;
        *) die "no upgrade path known for $VERSION" ;;
    esac
}

# The background migrations a version's db:migrate queues on an existing database.
BG_JOBS='BackfillProjectsData BackfillUsersData BackfillCiVariablesData'
bg_table() {
    case $1 in
        BackfillProjectsData) say projects ;;
        BackfillUsersData) say users ;;
        *) say ci_variables ;;
    esac
}

# rb_get KEY [DEFAULT]: the last `KEY = value` of gitlab.rb (quotes removed), else DEFAULT.
rb_get() {
    _v=$(awk -v k="$1" '
        { line = $0; sub(/^[ \t]+/, "", line) }
        line ~ /^#/ { next }
        index(line, k) == 1 {
            rest = substr(line, length(k) + 1)
            if (rest !~ /^[ \t]*=/) next
            sub(/^[ \t]*=[ \t]*/, "", rest); sub(/[ \t]+#.*$/, "", rest); sub(/[ \t\r]+$/, "", rest)
            if (rest ~ /^".*"$/ || rest ~ /^\047.*\047$/) rest = substr(rest, 2, length(rest) - 2)
            v = rest; found = 1
        }
        END { if (found) print v; exit !found }' "$GITLAB_RB") || _v=${2:-}
    printf '%s\n' "$_v"
}

load_config() {
    [ -f "$GITLAB_RB" ] || die "$GITLAB_RB not found"
    [ "$(rb_get "postgresql['enable']" true)" = false ] ||
        die "this stand-in runs with an external PostgreSQL only: set postgresql['enable'] = false in /etc/gitlab/gitlab.rb"
    _host=$(rb_get "gitlab_rails['db_host']")
    [ -n "$_host" ] || die "gitlab_rails['db_host'] is not set in /etc/gitlab/gitlab.rb"
    _port=$(rb_get "gitlab_rails['db_port']" 5432)
    _user=$(rb_get "gitlab_rails['db_username']" gitlab)
    _name=$(rb_get "gitlab_rails['db_database']" gitlabhq_production)
    DB="postgresql://$_user@$_host:$_port/$_name"
    BACKUP_PATH=$(node_path "$(rb_get "gitlab_rails['backup_path']" /var/opt/gitlab/backups)")
}

service_enabled() { [ "$(rb_get "$1['enable']" true)" != false ]; }

applied_database() { pg_if_table "$DB" schema_migrations "SELECT version FROM schema_migrations;"; }

bg_pending() {
    _n=$(pg_if_table "$DB" batched_background_migrations \
        "SELECT count(*) FROM batched_background_migrations WHERE status NOT IN (3, 6);") || return 1
    say "${_n:-0}"
}

db_key_base() {
    [ -f "$SECRETS" ] || die "$SECRETS not found: the secrets that decrypt the database are missing"
    sed -n 's/.*"db_key_base": *"\([^"]*\)".*/\1/p' "$SECRETS" | head -n 1
}

# ---- gitlab-rake ----
rake_db_migrate() {
    load_config
    schema_state database
    if [ -n "$NEWER" ] && [ -z "$PENDING" ]; then
        # Rails has nothing to do on a newer schema; puma and sidekiq refuse it (run_service).
        warn "the database was migrated by a newer version (migration $NEWER): nothing to migrate; restore the backup taken before the upgrade"
        return 0
    fi
    check_path database
    if [ -z "$PENDING" ]; then
        return 0
    fi
    if [ "$APPLIED" -gt 0 ]; then
        _bg=$(bg_pending) || die "cannot read batched_background_migrations"
        if [ "$_bg" -gt 0 ]; then
            _jobs=$(pg "$DB" "SELECT job_class_name || ' (queued by ' || queued_migration_version || ', status ' || status || ')' FROM batched_background_migrations WHERE status NOT IN (3, 6) ORDER BY id;" | tr '\n' ';')
            die "Expected batched background migrations to be finished before upgrading, but $_bg are not: $_jobs wait until \`gitlab-rails runner 'puts Gitlab::Database::BackgroundMigration::BatchedMigration.queued.count'\` prints 0"
        fi
    fi
    _sql="DO \$\$ BEGIN IF NOT pg_try_advisory_xact_lock(4242001) THEN RAISE EXCEPTION 'ActiveRecord::ConcurrentMigrationError: Cannot run migrations because another migration process is currently running.'; END IF; END \$\$;
        CREATE TABLE IF NOT EXISTS schema_migrations (version varchar PRIMARY KEY);"
    for id in $PENDING; do
        _sql="$_sql
        $(migration_sql "$id")
        INSERT INTO schema_migrations (version) VALUES ('$id');"
    done
    if [ "$APPLIED" -gt 0 ]; then
        _last=${PENDING##* }
        for job in $BG_JOBS; do
            _sql="$_sql
            INSERT INTO batched_background_migrations (job_class_name, table_name, column_name, queued_migration_version)
            VALUES ('$job', '$(bg_table "$job")', 'id', '$_last');"
        done
    fi
    pg "$DB" "$_sql" >/dev/null || die "db:migrate failed; the database is unchanged"
    for id in $PENDING; do
        say "== $id: migrated (GitLab $(release_of database "$id")) =="
    done
}

rake_migrate_status() {
    load_config
    _applied=$(applied_database) || die "cannot read schema_migrations"
    say "database: ${DB##*/}"
    say ""
    say " Status   Migration ID    Release"
    say "--------------------------------------------------"
    migrations_database | while read -r id rel; do
        ver_lt "$VERSION" "$rel" && continue
        if printf '%s\n' "$_applied" | grep -qxF "$id"; then
            printf '   up     %s  %s\n' "$id" "$rel"
        else
            printf '  down    %s  %s\n' "$id" "$rel"
        fi
    done
}

# Decrypts every ci_variables value with db_key_base; prints the failures.
secrets_failures() {
    _key=$(db_key_base)
    _values=$(pg_if_table "$DB" ci_variables "SELECT encrypted_value FROM ci_variables ORDER BY id;") || return 1
    _fail=0
    for v in $_values; do
        decrypt "$_key" "$v" >/dev/null || _fail=$((_fail + 1))
    done
    say "$_fail"
}

rake_doctor_secrets() {
    load_config
    _n=$(pg "$DB" "SELECT count(*) FROM ci_variables;") || die "cannot read ci_variables"
    _f=$(secrets_failures) || die "cannot check the secrets"
    say "Checking encrypted values in the database"
    say "- CiVariable: $_n row(s), $_f failure(s)"
    say "Total: $_f row(s) that cannot be decrypted with db_key_base of /etc/gitlab/gitlab-secrets.json"
    say "Done!"
    [ "$_f" = 0 ]
}

rake_env_info() {
    say "System information"
    say "GitLab information"
    say "Version:	$FULL_VERSION"
    say "Revision:	standin"
    say "Directory:	/opt/gitlab/embedded/service/gitlab-rails"
}

# Health: the running services and their version, the schema at what they run, secrets,
# repositories. Exits 1 if anything fails.
rake_check() {
    load_config
    _bad=0
    say "Checking GitLab ..."
    say "GitLab version installed: $FULL_VERSION"
    _applied_ok=1
    for svc in $SERVICES; do
        if ! service_enabled "$svc"; then
            say "$svc: disabled on this node"
            continue
        fi
        if ! _run=$(daemon_version "gitlab-$svc"); then
            say "$svc: down ... FAIL"
            _bad=1
            continue
        fi
        _msg="$svc: running $_run-ee (pid $(daemon_pid "gitlab-$svc"))"
        if [ "$_run" != "$VERSION" ]; then
            say "$_msg ... FAIL (installed $FULL_VERSION: restart it)"
            _bad=1
        else
            say "$_msg ... yes"
        fi
        _mine=$VERSION
        VERSION=$_run
        schema_state database
        VERSION=$_mine
        if [ -n "$PENDING" ]; then
            say "Database schema for $svc $_run: behind, pending $PENDING ... FAIL"
            _bad=1
            _applied_ok=0
        elif [ -n "$NEWER" ]; then
            say "Database schema for $svc $_run: ahead ($NEWER) ... ok (rolling upgrade)"
        fi
    done
    schema_state database
    [ "$_applied_ok" = 1 ] && say "Database schema: $SCHEMA ... ok"
    say "Batched background migrations pending: $(bg_pending)"
    _f=$(secrets_failures) || _f=unknown
    if [ "$_f" = 0 ]; then
        say "Encrypted values decrypt with gitlab-secrets.json ... yes"
    else
        say "Encrypted values decrypt with gitlab-secrets.json ... no ($_f failure(s)) FAIL"
        _bad=1
    fi
    say "Repositories: $(find "$REPOS" -name '*.git' -prune 2>/dev/null | wc -l) in /var/opt/gitlab/git-data/repositories"
    say "Checking GitLab ... Finished"
    return "$_bad"
}

# ---- backups ----
backup_create() {
    load_config
    need pg_dump postgresql-client
    _id="${BACKUP:-$(date +%s)_$(date +%Y_%m_%d)_$FULL_VERSION}"
    _tmp="$BACKUP_PATH/.tmp.$$"
    mkdir -p "$_tmp/db" || die "cannot create $_tmp"
    say "$(date '+%F %T') UTC -- Dumping database ... "
    pg_dump --no-owner -d "$DB" -f "$_tmp/db/database.sql" && gzip "$_tmp/db/database.sql" || {
        rm -rf "$_tmp"
        die "pg_dump failed"
    }
    say "$(date '+%F %T') UTC -- Dumping repositories ... "
    mkdir -p "$_tmp/repositories"
    [ -d "$REPOS" ] && cp -a "$REPOS/." "$_tmp/repositories/"
    cat >"$_tmp/backup_information.yml" <<EOF
---
:db_version: '$(applied_database | sort | tail -n 1)'
:backup_created_at: $(date -u +%Y-%m-%dT%H:%M:%SZ)
:gitlab_version: $FULL_VERSION
:installation_type: gitlab-omnibus
EOF
    tar -cf "$BACKUP_PATH/${_id}_gitlab_backup.tar.new" -C "$_tmp" . || die "cannot write the backup"
    mv "$BACKUP_PATH/${_id}_gitlab_backup.tar.new" "$BACKUP_PATH/${_id}_gitlab_backup.tar"
    rm -rf "$_tmp"
    say "$(date '+%F %T') UTC -- Backup $_id is done."
    say "Warning: Your gitlab.rb and gitlab-secrets.json files contain sensitive data"
    say "and are not included in this backup. You will need these files to restore a backup."
    say "Please back them up manually."
}

backup_restore() {
    load_config
    [ -n "${BACKUP:-}" ] || die "specify the backup with BACKUP=<timestamp>_<date>_<version> (the name before _gitlab_backup.tar)"
    _file="$BACKUP_PATH/${BACKUP}_gitlab_backup.tar"
    [ -f "$_file" ] || die "The backup file ${BACKUP}_gitlab_backup.tar does not exist!"
    _tmp="$BACKUP_PATH/.restore.$$"
    mkdir -p "$_tmp" && tar -xf "$_file" -C "$_tmp" || die "cannot unpack $_file"
    _theirs=$(sed -n 's/^:gitlab_version: *//p' "$_tmp/backup_information.yml")
    if [ "$_theirs" != "$FULL_VERSION" ]; then
        rm -rf "$_tmp"
        say "GitLab version mismatch:" >&2
        say "  Your current GitLab version ($FULL_VERSION) differs from the GitLab version in the backup ($_theirs)." >&2
        say "  Please switch to the following version and try again:" >&2
        say "  version: $_theirs" >&2
        return 1
    fi
    for svc in $SERVICES; do
        if daemon_pid "gitlab-$svc" >/dev/null; then
            rm -rf "$_tmp"
            die "$svc is running: stop it first (gitlab-ctl stop puma; gitlab-ctl stop sidekiq)"
        fi
    done
    if [ "${force:-}" != yes ]; then
        say "This task will now rebuild the database and the repositories from the backup. Do you want to continue (yes/no)?"
        read -r _answer || _answer=''
        if [ "$_answer" != yes ]; then
            rm -rf "$_tmp"
            die "Quitting..."
        fi
    fi
    say "$(date '+%F %T') UTC -- Restoring database ... "
    pg "$DB" "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null || die "cannot clean the database"
    gunzip -c "$_tmp/db/database.sql.gz" | psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null ||
        die "restoring the database failed"
    say "$(date '+%F %T') UTC -- Restoring repositories ... "
    if [ -d "$REPOS" ]; then
        mv "$REPOS" "$REPOS.old.$(date +%s)" || die "cannot move $REPOS aside"
    fi
    mkdir -p "$REPOS" && cp -a "$_tmp/repositories/." "$REPOS/" || die "cannot restore the repositories"
    rm -rf "$_tmp"
    say "$(date '+%F %T') UTC -- Restore task is done."
    say "Warning: Your gitlab.rb and gitlab-secrets.json files contain sensitive data"
    say "and are not included in this backup. You will need to restore these files manually."
}

# ---- gitlab-ctl ----
sidekiq_tick() {
    pg "$DB" "UPDATE batched_background_migrations SET status = 3, finished_at = now()
        WHERE id = (SELECT min(id) FROM batched_background_migrations WHERE status = 1);" >/dev/null 2>&1 || :
}

run_service() {
    load_config
    schema_state database
    check_path database
    if [ -n "$PENDING" ]; then
        die "$1: pending migrations for $FULL_VERSION ($PENDING): run gitlab-rake db:migrate"
    fi
    case $1 in
        puma) daemon_loop gitlab-puma ;;
        sidekiq) daemon_loop gitlab-sidekiq sidekiq_tick ;;
    esac
}

# Services NAMES…: the ones given, else all; each must exist.
services() {
    if [ $# -eq 0 ]; then
        say "$SERVICES"
        return 0
    fi
    for s in "$@"; do
        case " $SERVICES " in *" $s "*) ;; *) die "unknown service $s ($SERVICES)" ;; esac
    done
    say "$*"
}

ctl_start() {
    _rc=0
    for svc in $(services "$@"); do
        service_enabled "$svc" || continue
        if daemon_start "gitlab-$svc" "$LOG_DIR/$svc/current" "$SELF" lab-run "$svc"; then
            say "ok: run: $svc: (pid $(daemon_pid "gitlab-$svc")) 0s"
        else
            say "fail: $svc: could not start; see /var/log/gitlab/$svc/current"
            _rc=1
        fi
    done
    return "$_rc"
}

ctl_stop() {
    for svc in $(services "$@"); do
        daemon_stop "gitlab-$svc"
        service_enabled "$svc" && say "ok: down: $svc: 0s, normally up"
    done
    return 0
}

ctl_status() {
    _rc=0
    for svc in $(services "$@"); do
        service_enabled "$svc" || continue
        if _pid=$(daemon_pid "gitlab-$svc"); then
            _since=$(($(date +%s) - $(stat -c %Y "$RUN_DIR/gitlab-$svc.pid")))
            say "run: $svc: (pid $_pid) ${_since}s"
        else
            say "down: $svc: 0s, normally up"
            _rc=1
        fi
    done
    return "$_rc"
}

ctl_reconfigure() {
    load_config
    if [ ! -f "$SECRETS" ]; then
        mkdir -p "${SECRETS%/*}" && cat >"$SECRETS" <<EOF || die "cannot write $SECRETS"
{
  "gitlab_rails": {
    "secret_key_base": "$(openssl rand -hex 64)",
    "db_key_base": "$(openssl rand -hex 64)",
    "otp_key_base": "$(openssl rand -hex 64)"
  }
}
EOF
        chmod 600 "$SECRETS"
    fi
    pg "$DB" "SELECT 1;" >/dev/null || die "cannot connect to the database ${DB#*@}"
    if [ "$(rb_get "gitlab_rails['auto_migrate']" true)" != false ]; then
        rake_db_migrate || return 1
    fi
    say "gitlab Reconfigured!"
}

ctl_backup_etc() {
    _dir=/etc/gitlab/config_backup
    while [ $# -gt 0 ]; do
        case $1 in
            -p | --backup-path)
                _dir=$2
                shift 2
                ;;
            *) die "backup-etc: unknown option $1" ;;
        esac
    done
    _out=$(node_path "$_dir")
    mkdir -p "$_out" && chmod 700 "$_out" || die "cannot create $_dir"
    _name="gitlab_config_$(date +%s)_$(date +%Y_%m_%d).tar"
    say "Running configuration backup"
    say "Creating configuration backup archive: $_name"
    tar -cf "$_out/$_name" -C "$(node_path /)" --exclude=etc/gitlab/config_backup etc/gitlab || die "cannot write $_dir/$_name"
    chmod 600 "$_out/$_name"
    say "Configuration backup archive complete: $_dir/$_name"
}

# ---- the gitlab-ee package's maintainer scripts (run by the apt-get stand-in) ----
preinst() {
    _old=${1:-}
    [ -n "$_old" ] || return 0
    _from=$(min_from)
    if [ -n "$_from" ] && ver_lt "$_old" "$_from"; then
        say "gitlab preinstall: It seems you are upgrading from $_old to $VERSION." >&2
        say "gitlab preinstall: It is required to upgrade to the latest $(printf '%s' "$_from" | cut -d. -f1-2).x version first before proceeding." >&2
        say "gitlab preinstall: Please follow the upgrade documentation at https://docs.gitlab.com/ee/update/index.html#upgrade-paths" >&2
        return 1
    fi
}

postinst() {
    if [ -f "$(node_path /etc/gitlab/skip-auto-reconfigure)" ]; then
        say "Found /etc/gitlab/skip-auto-reconfigure, exiting..."
        return 0
    fi
    _was=''
    for svc in $SERVICES; do
        daemon_pid "gitlab-$svc" >/dev/null && _was="$_was $svc"
    done
    ctl_reconfigure || return 1
    if [ -n "$_was" ]; then
        # shellcheck disable=SC2086 # a list of service names
        ctl_stop $_was >/dev/null && ctl_start $_was || return 1
    fi
    say "Thank you for installing GitLab!"
}

# KEY=VALUE arguments (BACKUP=…, force=yes, SANITIZE=true) become variables, as rake's do.
set_args() {
    for a in "$@"; do
        case $a in
            BACKUP=*) BACKUP=${a#*=} ;;
            force=*) force=${a#*=} ;;
            SANITIZE=* | SKIP=* | GITLAB_BACKUP_MAX_CONCURRENCY=* | RAILS_ENV=*) ;;
            *=*) die "unknown setting $a" ;;
            *) die "unexpected argument $a" ;;
        esac
    done
}

main_rake() {
    _task=${1:-}
    [ $# -gt 0 ] && shift
    set_args "$@"
    case $_task in
        db:migrate) rake_db_migrate ;;
        db:migrate:status) rake_migrate_status ;;
        gitlab:backup:create) backup_create ;;
        gitlab:backup:restore) backup_restore ;;
        gitlab:check) rake_check ;;
        gitlab:doctor:secrets) rake_doctor_secrets ;;
        gitlab:env:info) rake_env_info ;;
        *) die "Don't know how to build task '$_task' (this stand-in knows db:migrate, db:migrate:status, gitlab:backup:create, gitlab:backup:restore, gitlab:check, gitlab:doctor:secrets, gitlab:env:info)" ;;
    esac
}

main_rails() {
    [ "${1:-}" = runner ] || die "usage: gitlab-rails runner [-e production] 'CODE'"
    shift
    [ "${1:-}" = -e ] && shift 2
    load_config
    case ${1:-} in
        *BackgroundMigration.remaining* | *BatchedMigration.queued.count*) bg_pending ;;
        *BatchedMigration.with_status\(:failed\).count*) pg "$DB" "SELECT count(*) FROM batched_background_migrations WHERE status = 4;" ;;
        *) die "this stand-in's runner answers only: puts Gitlab::BackgroundMigration.remaining, puts Gitlab::Database::BackgroundMigration::BatchedMigration.queued.count" ;;
    esac
}

main_ctl() {
    _cmd=${1:-}
    [ $# -gt 0 ] && shift
    case $_cmd in
        start) ctl_start "$@" ;;
        stop) ctl_stop "$@" ;;
        restart) ctl_stop "$@" >/dev/null && ctl_start "$@" ;;
        status) ctl_status "$@" ;;
        reconfigure) ctl_reconfigure ;;
        backup-etc) ctl_backup_etc "$@" ;;
        lab-run) run_service "$1" ;;
        lab-unit)
            case ${1:-} in
                start | stop) "ctl_$1" ;;
                status) ctl_status || return 3 ;;
                *) die "lab-unit: start, stop or status" ;;
            esac
            ;;
        lab-preinst) preinst "$@" ;;
        lab-postinst) postinst ;;
        *) die "usage: gitlab-ctl start|stop|restart|status [puma|sidekiq] | reconfigure | backup-etc [--backup-path DIR]" ;;
    esac
}

main() {
    case ${SELF##*/} in
        gitlab-rake) main_rake "$@" ;;
        gitlab-rails) main_rails "$@" ;;
        gitlab-backup)
            case ${1:-} in
                create)
                    shift
                    set_args "$@"
                    backup_create
                    ;;
                restore)
                    shift
                    set_args "$@"
                    backup_restore
                    ;;
                *) die "usage: gitlab-backup create|restore [BACKUP=…] [force=yes]" ;;
            esac
            ;;
        *) main_ctl "$@" ;;
    esac
}

main "$@"; exit $?
