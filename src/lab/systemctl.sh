#!/bin/sh
# systemctl stand-in of a drover lab node, written by `drover lab up` (rewritten on every `up`).
# A unit is a directory UNITS/<name>/ of POSIX sh scripts: `start`, `stop`, and `status`
# (exit 0 when active, 3 when not). Exit codes are systemctl's: is-active 0/3, status 0/3
# (4 for an unknown unit), start/stop/... of an unknown unit 5, a failed start/stop 1.
units=@UNITS@

action= quiet= now=
for arg do
    shift
    case $arg in
        -q|--quiet) quiet=1 ;;
        --now) now=1 ;;
        -*) ;;  # --no-pager, --no-block, --system, ...: nothing to do in the lab
        *) if [ -z "$action" ]; then action=$arg; else set -- "$@" "$arg"; fi ;;
    esac
done

case $action in
    daemon-reload) exit 0 ;;
    start|stop|restart|is-active|status|enable|disable|is-enabled) ;;
    '') echo "systemctl (drover lab): no command given" >&2; exit 1 ;;
    *) echo "Unknown command verb $action." >&2; exit 1 ;;
esac
if [ $# -eq 0 ]; then
    echo "Too few arguments." >&2
    exit 1
fi

say() { [ -n "$quiet" ] || printf '%s\n' "$1"; }
active() { /bin/sh "$dir/status" >/dev/null 2>&1; }
run() {
    /bin/sh "$dir/$1" && return 0
    echo "Job for $unit.service failed because the control process exited with error code." >&2
    return 1
}

rc=0
for name do
    unit=${name%.service}
    dir=$units/$unit
    if [ ! -f "$dir/status" ]; then
        case $action in
            is-active) say inactive; rc=3 ;;
            status) echo "Unit $unit.service could not be found." >&2; rc=4 ;;
            is-enabled) echo "Failed to get unit file state for $unit.service: No such file or directory" >&2; rc=1 ;;
            *) echo "Failed to $action $unit.service: Unit $unit.service not found." >&2; rc=5 ;;
        esac
        continue
    fi
    case $action in
        start) active || run start || rc=1 ;;
        stop) ! active || run stop || rc=1 ;;
        restart) { ! active || run stop; } && run start || rc=1 ;;
        is-active)
            if active; then say active; else say inactive; [ $rc -ne 0 ] || rc=3; fi ;;
        status)
            if active; then state='active (running)'; else state='inactive (dead)'; fi
            echo "* $unit.service - drover lab unit $unit"
            echo "     Loaded: loaded ($dir)"
            echo "     Active: $state"
            /bin/sh "$dir/status" 2>&1 | sed 's/^/     /'
            case $state in active*) ;; *) [ $rc -ne 0 ] || rc=3 ;; esac ;;
        enable)
            : > "$dir/enabled" || rc=1
            if [ -n "$now" ]; then active || run start || rc=1; fi ;;
        disable)
            rm -f "$dir/enabled" || rc=1
            if [ -n "$now" ]; then ! active || run stop || rc=1; fi ;;
        is-enabled)
            if [ -e "$dir/enabled" ]; then say enabled; else say disabled; rc=1; fi ;;
    esac
done
exit $rc
