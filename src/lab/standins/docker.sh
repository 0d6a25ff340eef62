# ---- docker (stand-in): `docker compose …` over the lab's image store --------------------------
# An image is a directory of the lab's releases, $LAB_RELEASES/<product>/images/<repo>/<tag>/:
# image.conf (ENTRYPOINT, CMD and HEALTHCHECK: words) and bin/ (the stand-in's commands at that
# version). `pull` copies it to /var/lib/docker/images/<repo>/<tag>/ (a tag that is not in the
# store fails as on Docker Hub); a container is a daemon started from the pulled copy with the
# service's environment (env_file, environment, the volumes as LAB_MOUNTS), recorded in
# /var/lib/docker/containers/<project>-<service>-1/. A service with `x-lab-unit: NAME` (the
# lab's redis) is the lab unit NAME: `stop`, `up -d` and `ps` drive it.
# Supported: docker compose [-f FILE] [-p NAME] [--project-directory DIR]
#   pull [SVC…] | up -d [--wait] [SVC…] | start [SVC…] | stop [SVC…] | restart [SVC…] | down |
#   ps [-a] [--format json] [SVC…] | run [--rm] [-T] [-e K=V] SVC [ARGS…] |
#   exec [-T] [-e K=V] SVC CMD [ARGS…] | logs [SVC…] | version;  docker pull IMAGE;  docker images
INSTALL_PATHS='lab/bin/docker'
init

LAB_RELEASES=${LAB_RELEASES:-$BAKED_RELEASES}
IMAGES=$(node_path /var/lib/docker/images)
CONTAINERS=$(node_path /var/lib/docker/containers)

sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# Sets REPO and TAG of an image reference.
split_image() {
    case ${1##*/} in
        *:*)
            REPO=${1%:*}
            TAG=${1##*:}
            ;;
        *)
            REPO=$1
            TAG=latest
            ;;
    esac
}

pull_image() {
    split_image "$1"
    _local="$IMAGES/$REPO/$TAG"
    if [ -f "$_local/image.conf" ]; then
        return 0
    fi
    _src=''
    for d in "$LAB_RELEASES"/*/images/"$REPO"/"$TAG"; do
        [ -f "$d/image.conf" ] && _src=$d && break
    done
    if [ -z "$_src" ]; then
        say "Error response from daemon: manifest for $REPO:$TAG not found: manifest unknown: manifest unknown" >&2
        return 1
    fi
    mkdir -p "${_local%/*}" && rm -rf "$_local.new" && cp -R "$_src" "$_local.new" && mv "$_local.new" "$_local" ||
        die "cannot store $REPO:$TAG in $IMAGES"
}

# ---- the compose file ----
load_project() {
    if [ -z "$FILE" ]; then
        for f in compose.yaml compose.yml docker-compose.yml docker-compose.yaml; do
            [ -f "$PROJECT_DIR/$f" ] && FILE=$PROJECT_DIR/$f && break
        done
        [ -n "$FILE" ] || die "no configuration file provided: not found"
    fi
    [ -f "$FILE" ] || die "open $FILE: no such file or directory"
    case $FILE in /*) ;; *) FILE=$(pwd)/$FILE ;; esac
    [ -n "$DIR_SET" ] || PROJECT_DIR=${FILE%/*}
    if [ -z "$PROJECT" ]; then
        PROJECT=$(printf '%s' "${PROJECT_DIR##*/}" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_-')
    fi
    FLAT=$(yaml_flat "$FILE")
}

svc_names() {
    printf '%s\n' "$FLAT" | awk -F '\t' '$1 ~ /^services\.[^.]+\./ { split($1, p, "."); if (!(p[2] in seen)) { seen[p[2]] = 1; print p[2] } }'
}

svc_get() { printf '%s\n' "$FLAT" | awk -F '\t' -v k="services.$1.$2" '$1 == k { print $2; f = 1; exit } END { exit !f }'; }

# Lines of a list or a map below services.SVC.KEY: "item" for lists, "name=value" for maps.
svc_items() {
    printf '%s\n' "$FLAT" | awk -F '\t' -v k="services.$1.$2" '
        $1 == k ".-" { print $2; next }
        index($1, k ".") == 1 { print substr($1, length(k) + 2) "=" $2 }'
}

check_services() {
    _all=$(svc_names)
    for s in "$@"; do
        printf '%s\n' "$_all" | grep -qxF "$s" || die "no such service: $s"
    done
}

selected() {
    if [ $# -gt 0 ]; then
        check_services "$@"
        printf '%s\n' "$@"
    else
        svc_names
    fi
}

cname() { printf '%s-%s-1\n' "$PROJECT" "$1"; }

host_path() {
    case $1 in
        /*) printf '%s\n' "$(node_path "$1")" ;;
        *) printf '%s\n' "$PROJECT_DIR/${1#./}" ;;
    esac
}

# write_env SVC FILE EXTRA NAME: the environment of container NAME (sourced by sh), with
# EXTRA "K=V" lines (-e options).
write_env() {
    _svc=$1
    _out=$2
    _extra=$3
    _mounts=''
    for v in $(svc_items "$_svc" volumes); do
        _h=${v%%:*}
        _rest=${v#*:}
        _mounts="$_mounts ${_rest%%:*}=$(host_path "$_h")"
    done
    {
        say "export PATH='/usr/local/bin:/usr/bin:/bin' HOME='/root' HOSTNAME=$(sq "$(cname "$_svc")")"
        say "export NODE_ROOT=$(sq "$ROOT") LAB_CONTAINER=$(sq "$4") LAB_MOUNTS=$(sq "${_mounts# }")"
        for f in $(svc_get "$_svc" env_file; svc_items "$_svc" env_file); do
            _f=$(host_path "$f")
            [ -f "$_f" ] || die "env file $_f not found"
            grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$_f" | while IFS= read -r line; do
                _v=${line#*=}
                case $_v in \"*\" | \'*\') _v=${_v#?} && _v=${_v%?} ;; esac
                say "export ${line%%=*}=$(sq "$_v")"
            done
        done
        svc_items "$_svc" environment | while IFS= read -r line; do
            say "export ${line%%=*}=$(sq "${line#*=}")"
        done
        printf '%s\n' "$_extra" | while IFS= read -r line; do
            if [ -n "$line" ]; then say "export ${line%%=*}=$(sq "${line#*=}")"; fi
        done
    } >"$_out" || die "cannot write $_out"
}

# Sets IMG (the pulled image dir) and ENTRY (entrypoint words) and CMD for service SVC.
image_of() {
    _image=$(svc_get "$1" image) || die "service $1 has no image"
    split_image "$_image"
    IMG="$IMAGES/$REPO/$TAG"
    [ -f "$IMG/image.conf" ] || pull_image "$_image" || exit 1
    ENTRYPOINT=''
    CMD=''
    HEALTHCHECK=''
    . "$IMG/image.conf"
    ENTRY=$(svc_get "$1" entrypoint) || ENTRY=$ENTRYPOINT
    _c=$(svc_get "$1" command) || _c=$(svc_items "$1" command | tr '\n' ' ')
    [ -n "$_c" ] && CMD=$_c
}

# run_in SVC ENVFILE WORDS…: runs WORDS in the container's environment; the first word is a
# command of the image's bin/ when it has one.
run_in() {
    _env=$2
    shift 2
    _cmd=$1
    shift
    [ -f "$IMG/bin/$_cmd" ] && _cmd="$IMG/bin/$_cmd"
    env -i sh -c '. "$1"; shift; exec "$@"' sh "$_env" "$_cmd" "$@"
}

container_running() { daemon_pid "$(cname "$1")" >/dev/null; }

start_container() {
    _name=$(cname "$1")
    _cdir="$CONTAINERS/$_name"
    image_of "$1"
    mkdir -p "$_cdir" || die "cannot create $_cdir"
    printf '%s\n' "$REPO:$TAG" >"$_cdir/image"
    printf '%s\n' "$1" >"$_cdir/service"
    printf '%s\n' "$PROJECT" >"$_cdir/project"
    write_env "$1" "$_cdir/env" '' "$_name"
    # shellcheck disable=SC2086 # entrypoint and command are words
    if daemon_start "$_name" "$_cdir/log" env -i sh -c '. "$1"; shift; exec "$@"' sh "$_cdir/env" \
        "$IMG/bin/${ENTRY%% *}" $(printf '%s' "$ENTRY" | cut -s -d' ' -f2-) $CMD 2>/dev/null; then
        printf 'running\n' >"$_cdir/state"
    else
        printf 'exited %s\n' "$?" >"$_cdir/state"
    fi
}

unit_of() { svc_get "$1" x-lab-unit; }

unit() {
    _u="$ROOT/lab/units/$1/$2"
    [ -x "$_u" ] || die "lab unit $1 has no $2 script ($_u)"
    "$_u" >/dev/null
}

cmd_up() {
    _detach=''
    _wait=''
    while [ $# -gt 0 ]; do
        case $1 in
            -d | --detach) _detach=1 ;;
            --wait)
                _wait=1
                _detach=1
                ;;
            --no-deps | --remove-orphans | --no-build | --quiet-pull) ;;
            -*) die "up: unsupported option $1" ;;
            *) break ;;
        esac
        shift
    done
    [ -n "$_detach" ] || die "this stand-in runs containers detached only: use up -d"
    _rc=0
    for s in $(selected "$@"); do
        _name=$(cname "$s")
        if _u=$(unit_of "$s"); then
            unit "$_u" start || _rc=1
            say "Container $_name  Started"
            continue
        fi
        image_of "$s"
        if container_running "$s"; then
            # Like compose: a container whose image or environment changed is recreated.
            write_env "$s" "$CONTAINERS/$_name/env.want" '' "$_name"
            if [ "$(cat "$CONTAINERS/$_name/image")" = "$REPO:$TAG" ] &&
                cmp -s "$CONTAINERS/$_name/env" "$CONTAINERS/$_name/env.want"; then
                rm -f "$CONTAINERS/$_name/env.want"
                say "Container $_name  Running"
                continue
            fi
            rm -f "$CONTAINERS/$_name/env.want"
            daemon_stop "$_name"
            say "Container $_name  Recreate"
        fi
        start_container "$s"
        say "Container $_name  Started"
        if [ -n "$_wait" ] && ! container_healthy "$s"; then
            say "container $_name is unhealthy or exited" >&2
            _rc=1
        fi
    done
    return "$_rc"
}

container_healthy() {
    container_running "$1" || return 1
    image_of "$1"
    [ -z "$HEALTHCHECK" ] && return 0
    run_in "$1" "$CONTAINERS/$(cname "$1")/env" "$ENTRYPOINT" $HEALTHCHECK >/dev/null 2>&1
}

cmd_stop() {
    for s in $(selected "$@"); do
        _name=$(cname "$s")
        if _u=$(unit_of "$s"); then
            unit "$_u" stop
        elif [ -d "$CONTAINERS/$_name" ]; then
            daemon_stop "$_name"
            printf 'exited 0\n' >"$CONTAINERS/$_name/state"
        else
            continue
        fi
        say "Container $_name  Stopped"
    done
}

cmd_start() {
    for s in $(selected "$@"); do
        _name=$(cname "$s")
        if _u=$(unit_of "$s"); then
            unit "$_u" start || return 1
        elif [ -d "$CONTAINERS/$_name" ]; then
            container_running "$s" || start_container "$s"
        else
            die "service \"$s\" has no container to start"
        fi
        say "Container $_name  Started"
    done
}

cmd_down() {
    for s in $(svc_names); do
        _name=$(cname "$s")
        if _u=$(unit_of "$s"); then
            unit "$_u" stop
            say "Container $_name  Removed"
        elif [ -d "$CONTAINERS/$_name" ]; then
            daemon_stop "$_name"
            rm -rf "${CONTAINERS:?}/$_name"
            say "Container $_name  Removed"
        fi
    done
}

# One line per container: NAME IMAGE SERVICE STATUS (running ones; all with -a), or JSON lines.
cmd_ps() {
    _all=''
    _json=''
    while [ $# -gt 0 ]; do
        case $1 in
            -a | --all) _all=1 ;;
            --format)
                [ "${2:-}" = json ] || die "ps: only --format json is supported"
                _json=1
                shift
                ;;
            --format=json) _json=1 ;;
            -*) die "ps: unsupported option $1" ;;
            *) break ;;
        esac
        shift
    done
    [ -n "$_json" ] || printf '%-28s %-44s %-10s %s\n' NAME IMAGE SERVICE STATUS
    for s in $(selected "$@"); do
        _name=$(cname "$s")
        _image=$(svc_get "$s" image) || _image=''
        _health=''
        _exit=0
        if _u=$(unit_of "$s"); then
            if "$ROOT/lab/units/$_u/status" >/dev/null 2>&1; then _state=running; else _state=exited; fi
        elif [ -d "$CONTAINERS/$_name" ]; then
            _image=$(cat "$CONTAINERS/$_name/image")
            if container_running "$s"; then
                _state=running
                image_of "$s"
                if [ -n "$HEALTHCHECK" ]; then
                    if container_healthy "$s"; then _health=healthy; else _health=unhealthy; fi
                fi
            else
                _state=exited
                _exit=$(sed -n 's/^exited //p' "$CONTAINERS/$_name/state" 2>/dev/null)
                _exit=${_exit:-1}
            fi
        else
            continue
        fi
        [ "$_state" = running ] || [ -n "$_all" ] || continue
        if [ -n "$_json" ]; then
            printf '{"Name":%s,"Image":%s,"Service":%s,"State":%s,"Health":%s,"ExitCode":%s}\n' \
                "$(json_str "$_name")" "$(json_str "$_image")" "$(json_str "$s")" "$(json_str "$_state")" \
                "$(json_str "$_health")" "$_exit"
        else
            case $_state in
                running) _status="Up${_health:+ ($_health)}" ;;
                *) _status="Exited ($_exit)" ;;
            esac
            printf '%-28s %-44s %-10s %s\n' "$_name" "$_image" "$s" "$_status"
        fi
    done
}

# Options -e K=V (repeatable), -T, --rm, --no-deps before the service: sets EXTRA and ARGS_LEFT.
container_options() {
    EXTRA=''
    while [ $# -gt 0 ]; do
        case $1 in
            --rm | -T | --no-TTY | --no-deps | -i | -t | -it) ;;
            -e | --env)
                EXTRA="$EXTRA
$2"
                shift
                ;;
            -*) die "unsupported option $1" ;;
            *) break ;;
        esac
        shift
    done
    SKIP=$#
}

cmd_run() {
    _n=$#
    container_options "$@"
    shift $((_n - SKIP))
    [ $# -ge 1 ] || die "run: no service given"
    _svc=$1
    shift
    check_services "$_svc"
    unit_of "$_svc" >/dev/null && die "run: $_svc is a lab unit, not a container"
    image_of "$_svc"
    mkdir -p "$CONTAINERS" || die "cannot create $CONTAINERS"
    _env="$CONTAINERS/.run-$$.env"
    write_env "$_svc" "$_env" "$EXTRA" "$PROJECT-$_svc-run-$$"
    if [ $# -eq 0 ]; then
        # shellcheck disable=SC2086 # entrypoint and command are words
        set -- $CMD
    fi
    # shellcheck disable=SC2086 # entrypoint words
    run_in "$_svc" "$_env" $ENTRY "$@"
    _rc=$?
    rm -f "$_env"
    return "$_rc"
}

cmd_exec() {
    _n=$#
    container_options "$@"
    shift $((_n - SKIP))
    [ $# -ge 2 ] || die "exec: usage: exec SERVICE COMMAND [ARGS…]"
    _svc=$1
    shift
    check_services "$_svc"
    if ! container_running "$_svc"; then
        say "service \"$_svc\" is not running" >&2
        return 1
    fi
    image_of "$_svc"
    _env="$CONTAINERS/$(cname "$_svc")/env"
    if [ -n "$EXTRA" ]; then
        _tmp="$CONTAINERS/.exec-$$.env"
        cp "$_env" "$_tmp" && printf '%s\n' "$EXTRA" | while IFS= read -r line; do
            if [ -n "$line" ]; then say "export ${line%%=*}=$(sq "${line#*=}")"; fi
        done >>"$_tmp"
        run_in "$_svc" "$_tmp" "$@"
        _rc=$?
        rm -f "$_tmp"
        return "$_rc"
    fi
    run_in "$_svc" "$_env" "$@"
}

cmd_logs() {
    for s in $(selected "$@"); do
        _log="$CONTAINERS/$(cname "$s")/log"
        [ -f "$_log" ] && sed "s/^/$s  | /" "$_log"
    done
    return 0
}

compose() {
    FILE=''
    PROJECT=''
    PROJECT_DIR=$(pwd)
    DIR_SET=''
    while [ $# -gt 0 ]; do
        case $1 in
            -f | --file)
                FILE=$2
                shift
                ;;
            -p | --project-name)
                PROJECT=$2
                shift
                ;;
            --project-directory)
                PROJECT_DIR=$2
                DIR_SET=1
                shift
                ;;
            -*) die "compose: unsupported option $1" ;;
            *) break ;;
        esac
        shift
    done
    _sub=${1:-}
    [ $# -gt 0 ] && shift
    case $_sub in
        version)
            say "Docker Compose version v2.27.0 (drover lab stand-in)"
            return 0
            ;;
    esac
    load_project
    case $_sub in
        pull)
            _rc=0
            for s in $(selected "$@"); do
                unit_of "$s" >/dev/null && continue
                _image=$(svc_get "$s" image) || continue
                if pull_image "$_image"; then say "Pulling $s ... done"; else _rc=1; fi
            done
            return "$_rc"
            ;;
        up) cmd_up "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        restart) cmd_stop "$@" >/dev/null && cmd_start "$@" ;;
        down) cmd_down ;;
        ps) cmd_ps "$@" ;;
        run) cmd_run "$@" ;;
        exec) cmd_exec "$@" ;;
        logs) cmd_logs "$@" ;;
        *) die "compose: this stand-in does not support \`$_sub\`" ;;
    esac
}

main() {
    case ${1:-} in
        compose)
            shift
            compose "$@"
            ;;
        pull)
            pull_image "${2:-}" && say "${2:-}: pulled"
            ;;
        images)
            printf '%-44s %s\n' REPOSITORY TAG
            find "$IMAGES" -name image.conf 2>/dev/null | sed "s|^$IMAGES/||; s|/image.conf$||" | sort |
                while read -r ref; do printf '%-44s %s\n' "${ref%/*}" "${ref##*/}"; done
            ;;
        --version | version) say "Docker version 26.1.0 (drover lab stand-in)" ;;
        *) die "this stand-in supports: docker compose …, docker pull IMAGE, docker images" ;;
    esac
}

main "$@"; exit $?
