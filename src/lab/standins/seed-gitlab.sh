# ---- seed-gitlab.sh: gitlab-ee $VERSION from the lab's package repository ---------------------
# ROLE: single (puma and sidekiq), deploy (an app node that runs the migrations), app (an app
# node, auto_migrate false), sidekiq (the worker node). All nodes share one database and the
# first node's gitlab-secrets.json (FIRST_ROOT); the first node holds the repositories.
NEEDS='pg'
DB_NAME=gitlabhq_production
CTL="$ROOT/lab/bin/gitlab-ctl"

seed_install() {
    need git git
    ensure_database "$DB_NAME"
    install_tool apt-get
    install_file "$TOOLS/apt-get" "$ROOT/lab/bin/apt-cache"
    install_file "$TOOLS/apt-get" "$ROOT/lab/bin/dpkg-query"
    for c in gitlab-ctl gitlab-rake gitlab-rails gitlab-backup; do
        ln -sfn "../../opt/gitlab/bin/$c" "$ROOT/lab/bin/$c" || die "cannot link lab/bin/$c"
    done
    mkdir -p "$ROOT/etc/apt/sources.list.d" "$ROOT/etc/gitlab" || die "cannot create /etc directories"
    printf 'deb [trusted=yes] file:%s stable main\n' "$RELEASES/gitlab/packages" \
        >"$ROOT/etc/apt/sources.list.d/gitlab_gitlab-ee.list" || die "cannot write the apt source"
    case $ROLE in
        single) _services="puma['enable'] = true
sidekiq['enable'] = true" _migrate=true ;;
        deploy) _services="puma['enable'] = true
sidekiq['enable'] = false" _migrate=true ;;
        app) _services="puma['enable'] = true
sidekiq['enable'] = false" _migrate=false ;;
        sidekiq) _services="puma['enable'] = false
sidekiq['enable'] = true" _migrate=false ;;
        *) die "unknown GitLab role $ROLE" ;;
    esac
    cat >"$ROOT/etc/gitlab/gitlab.rb" <<CONF || die "cannot write gitlab.rb"
## GitLab configuration of lab node $NODE_NAME ($ROLE), written by \`drover lab seed gitlab\`
external_url 'http://$NODE_ADDRESS'

## External PostgreSQL shared by every GitLab node of the lab
postgresql['enable'] = false
gitlab_rails['db_adapter'] = 'postgresql'
gitlab_rails['db_host'] = '$PG_HOST'
gitlab_rails['db_port'] = $PG_PORT
gitlab_rails['db_username'] = '$PG_USER'
gitlab_rails['db_database'] = '$DB_NAME'
gitlab_rails['auto_migrate'] = $_migrate

$_services

gitlab_rails['backup_path'] = '/var/opt/gitlab/backups'
CONF
    # The cluster shares the first node's secrets, as multi-node GitLab must.
    if [ "$FIRST_ROOT" != "$ROOT" ]; then
        install_file "$FIRST_ROOT/etc/gitlab/gitlab-secrets.json" "$ROOT/etc/gitlab/gitlab-secrets.json" 600
    fi
    "$ROOT/lab/bin/apt-get" install -y "gitlab-ee=$VERSION-ee.0" >/dev/null || die "apt-get install gitlab-ee=$VERSION-ee.0 failed"
    write_unit gitlab-runsvdir "$CTL"
}

# Demo data once per cluster, on the first node: users, projects with their repositories in
# hashed storage, CI variables encrypted with db_key_base.
seed_data() {
    [ "$FIRST_ROOT" = "$ROOT" ] || return 0
    _url=$(pg_url "$DB_NAME")
    _key=$(sed -n 's/.*"db_key_base": *"\([^"]*\)".*/\1/p' "$ROOT/etc/gitlab/gitlab-secrets.json")
    [ -n "$_key" ] || die "no db_key_base in gitlab-secrets.json"
    _sql="INSERT INTO users (id, username, email) VALUES (1, 'root', 'admin@example.com'), (2, 'alice', 'alice@example.com'), (3, 'bob', 'bob@example.com');"
    _repos=$(node_path /var/opt/gitlab/git-data/repositories)
    for p in 1:website 2:api 3:docs; do
        _id=${p%%:*}
        _name=${p#*:}
        _hash=$(printf '%s' "$_id" | sha256sum | cut -d' ' -f1)
        _disk="@hashed/$(printf '%s' "$_hash" | cut -c1-2)/$(printf '%s' "$_hash" | cut -c3-4)/$_hash"
        _sql="$_sql INSERT INTO projects (id, name, path, namespace, disk_path) VALUES ($_id, '$_name', '$_name', 'alice', '$_disk');"
        _bare="$_repos/$_disk.git"
        _work="$ROOT/run/standins/seed-repo.$$"
        rm -rf "$_work" && mkdir -p "$_work" "${_bare%/*}" || die "cannot create $_bare"
        git init -q --bare "$_bare" && git -C "$_work" init -q &&
            printf '# %s\n\nA demo project of the drover lab.\n' "$_name" >"$_work/README.md" &&
            git -C "$_work" add README.md &&
            git -C "$_work" -c user.name=Alice -c user.email=alice@example.com commit -q -m "Initial commit of $_name" &&
            git -C "$_work" push -q "$_bare" HEAD:refs/heads/main && git -C "$_bare" symbolic-ref HEAD refs/heads/main ||
            die "cannot create the repository $_bare"
        rm -rf "$_work"
    done
    for v in 1:DEPLOY_TOKEN:glpat-demo-deploy-token 2:API_KEY:demo-api-key-42; do
        _pid=${v%%:*}
        _rest=${v#*:}
        _enc=$(encrypt "$_key" "${_rest#*:}") || die "cannot encrypt a CI variable"
        _sql="$_sql INSERT INTO ci_variables (project_id, key, encrypted_value) VALUES ($_pid, '${_rest%%:*}', '$_enc');"
    done
    _sql="$_sql SELECT setval('users_id_seq', 3); SELECT setval('projects_id_seq', 3);"
    pg "$_url" "$_sql" >/dev/null || die "cannot write the demo data"
}

seed_start() { "$CTL" start >/dev/null || die "gitlab-ctl start failed on $NODE_NAME"; }

seed_main; exit $?
