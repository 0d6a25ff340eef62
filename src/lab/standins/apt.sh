# ---- apt-get, apt-cache, dpkg-query (stand-in) -------------------------------------------------
# Installs the lab's packages: a package is a directory NAME_VERSION_amd64/ (DEBIAN/control,
# DEBIAN/preinst, DEBIAN/postinst, and the files, e.g. opt/gitlab/…) in a repository that a
# `deb file:/DIR …` line of /etc/apt/sources.list.d/*.list names. Like apt and dpkg: a missing
# version or a failed maintainer script is error 100, a downgrade needs --allow-downgrades, the
# preinst runs before the files are unpacked (it can refuse the upgrade: GitLab's required
# stops), the postinst after (GitLab's reconfigure), and dpkg's status records the version.
INSTALL_PATHS='lab/bin/*'
init

STATUS_DIR=$(node_path /var/lib/dpkg/lab-status)

repos() {
    for f in "$(node_path /etc/apt/sources.list.d)"/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^file:/) { sub(/^file:/, "", $i); print $i } }' "$f"
    done
}

# available NAME: "VERSION<TAB>DIR" lines, newest first.
available() {
    for r in $(repos); do
        for d in "$r/$1"_*_amd64; do
            [ -d "$d" ] || continue
            _v=${d##*/"$1"_}
            printf '%s\t%s\n' "${_v%_amd64}" "$d"
        done
    done | sort -t "$(printf '\t')" -k1,1 -V -r
}

installed_version() { sed -n 's/^Version: //p' "$STATUS_DIR/$1" 2>/dev/null; }
installed_status() { sed -n 's/^Status: //p' "$STATUS_DIR/$1" 2>/dev/null; }

set_status() {
    mkdir -p "$STATUS_DIR" && printf 'Package: %s\nVersion: %s\nStatus: %s\n' "$1" "$2" "$3" >"$STATUS_DIR/$1.new" &&
        mv -f "$STATUS_DIR/$1.new" "$STATUS_DIR/$1" || die "cannot write $STATUS_DIR/$1"
}

dpkg_error() {
    say "dpkg: error processing package $1 ($2):" >&2
    say " $3" >&2
    say "E: Sub-process /usr/bin/dpkg returned an error code (1)" >&2
    exit 100
}

install_one() {
    _pkg=${1%%=*}
    _want=''
    case $1 in *=*) _want=${1#*=} ;; esac
    _line=$(available "$_pkg" | awk -F '\t' -v w="$_want" 'w == "" || $1 == w { print; exit }')
    if [ -z "$_line" ]; then
        if [ -n "$_want" ]; then
            say "E: Version '$_want' for '$_pkg' was not found" >&2
        else
            say "E: Unable to locate package $_pkg" >&2
        fi
        exit 100
    fi
    _ver=${_line%%"$(printf '\t')"*}
    _dir=${_line#*"$(printf '\t')"}
    _old=$(installed_version "$_pkg")
    if [ "$_old" = "$_ver" ] && [ "$(installed_status "$_pkg")" = installed ]; then
        say "$_pkg is already the newest version ($_ver)."
        say "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."
        return 0
    fi
    if [ -n "$_old" ] && ver_lt "$_ver" "$_old" && [ "$DOWNGRADES" != yes ]; then
        say "E: Packages were downgraded and -y was used without --allow-downgrades." >&2
        exit 100
    fi
    if [ -n "$_old" ]; then
        say "The following packages will be upgraded:"
    else
        say "The following NEW packages will be installed:"
    fi
    say "  $_pkg"
    say "Preparing to unpack .../${_pkg}_${_ver}_amd64.deb ..."
    if [ -f "$_dir/DEBIAN/preinst" ]; then
        if [ -n "$_old" ]; then _how=upgrade; else _how=install; fi
        NODE_ROOT=$ROOT sh "$_dir/DEBIAN/preinst" "$_how" "$_old" ||
            dpkg_error "$_pkg" --unpack "new $_pkg package pre-installation script subprocess returned error exit status 1"
    fi
    say "Unpacking $_pkg ($_ver)${_old:+ over ($_old)} ..."
    # Each file is written aside and renamed over the old one, as dpkg does: a running
    # process keeps the file it opened.
    (cd "$_dir" && find . ! -type d ! -path './DEBIAN/*') | while read -r f; do
        f=${f#./}
        mkdir -p "$ROOT/${f%/*}" && cp -P "$_dir/$f" "$ROOT/$f.dpkg-new" && mv -f "$ROOT/$f.dpkg-new" "$ROOT/$f" ||
            die "cannot unpack $f"
    done || exit 100
    set_status "$_pkg" "$_ver" half-configured
    say "Setting up $_pkg ($_ver) ..."
    if [ -f "$_dir/DEBIAN/postinst" ]; then
        NODE_ROOT=$ROOT sh "$_dir/DEBIAN/postinst" configure "$_old" ||
            dpkg_error "$_pkg" --configure "installed $_pkg package post-installation script subprocess returned error exit status 1"
    fi
    set_status "$_pkg" "$_ver" installed
}

main_apt_get() {
    DOWNGRADES=no
    _cmd=''
    _pkgs=''
    while [ $# -gt 0 ]; do
        case $1 in
            -y | --yes | --assume-yes | -q | -qq | --quiet | --no-install-recommends) ;;
            --allow-downgrades) DOWNGRADES=yes ;;
            -o)
                shift
                ;;
            -*) die "unknown option $1" ;;
            *)
                if [ -z "$_cmd" ]; then
                    _cmd=$1
                else
                    _pkgs="$_pkgs $1"
                fi
                ;;
        esac
        shift
    done
    case $_cmd in
        update)
            _i=1
            for r in $(repos); do
                say "Hit:$_i file:$r stable InRelease"
                _i=$((_i + 1))
            done
            say "Reading package lists... Done"
            ;;
        install)
            [ -n "$_pkgs" ] || die "install: no package given"
            say "Reading package lists... Done"
            for p in $_pkgs; do install_one "$p"; done
            ;;
        *) die "this stand-in supports: apt-get update, apt-get install [-y] [--allow-downgrades] NAME[=VERSION]…" ;;
    esac
}

main_apt_cache() {
    case ${1:-} in
        madison)
            available "${2:-}" | while IFS="$(printf '\t')" read -r v d; do
                printf ' %s | %s | file:%s stable/main amd64 Packages\n' "$2" "$v" "${d%/*}"
            done
            ;;
        policy)
            say "$2:"
            say "  Installed: $(installed_version "$2" | grep . || echo '(none)')"
            say "  Candidate: $(available "$2" | head -n 1 | cut -f1)"
            ;;
        *) die "this stand-in supports: apt-cache madison NAME, apt-cache policy NAME" ;;
    esac
}

# dpkg-query -W [-f FORMAT | --showformat=FORMAT] NAME: ${Package}, ${Version}, ${Status}.
main_dpkg_query() {
    _fmt='${Package}\t${Version}\n'
    _name=''
    while [ $# -gt 0 ]; do
        case $1 in
            -W | --show) ;;
            -f)
                _fmt=$2
                shift
                ;;
            --showformat=* | -f=*) _fmt=${1#*=} ;;
            -*) die "unknown option $1" ;;
            *) _name=$1 ;;
        esac
        shift
    done
    _v=$(installed_version "$_name")
    if [ -z "$_v" ]; then
        say "dpkg-query: no packages found matching $_name" >&2
        return 1
    fi
    case $(installed_status "$_name") in
        installed) _s='install ok installed' ;;
        *) _s='install ok half-configured' ;;
    esac
    # shellcheck disable=SC2016 # dpkg-query's own ${…} fields
    _out=$(printf '%s' "$_fmt" | sed "s/\${Package}/$_name/g; s/\${Version}/$_v/g; s/\${Status}/$_s/g")
    printf '%b' "$_out"
}

main() {
    case ${SELF##*/} in
        apt-cache) main_apt_cache "$@" ;;
        dpkg-query) main_dpkg_query "$@" ;;
        *) main_apt_get "$@" ;;
    esac
}

main "$@"; exit $?
