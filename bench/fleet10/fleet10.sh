#!/bin/bash
# fleet10 with the plain OpenSSH client (see bench/README.md): the same ten steps as
# fleet10.yml, each one `ssh` over one ControlMaster connection per host; hosts in parallel,
# or one after another with SERIAL=1 (the rolling case).
#
# usage: fleet10.sh HOSTS_FILE PORT USER KEY KNOWN_HOSTS
#   HOSTS_FILE: one host a line: NAME ADDRESS NODE_ROOT ROLE
# Exit status: 0 when every host did every step, 1 otherwise.
set -u
[ $# -eq 5 ] || { echo "usage: $0 HOSTS_FILE PORT USER KEY KNOWN_HOSTS" >&2; exit 2; }
hosts_file=$1 port=$2 user=$3 key=$4 known_hosts=$5
here=$(cd "$(dirname "$0")" && pwd)
blob=$here/files/blob.bin
blob_sha256=$(sed -n 's/^ *blob_sha256: *//p' "$here/fleet10.yml")
cm_dir=$(mktemp -d /tmp/fleet10-cm.XXXXXX)
trap 'rm -rf "$cm_dir"' EXIT

ssh_opts=(-F /dev/null -i "$key" -p "$port" -l "$user"
  -o UserKnownHostsFile="$known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes
  -o ControlMaster=auto -o ControlPersist=60 -o ControlPath="$cm_dir/%C")

# Quote for the remote /bin/sh: 'it'"'"'s'.
q() { printf "'%s'" "${1//\'/\'\"\'\"\'}"; }

one_host() {
  local name=$1 addr=$2 root=$3 role=$4
  local app=$root/app
  r() { ssh "${ssh_opts[@]}" "$addr" "$@"; }
  # (a) directory tree
  r "mkdir -p -m 0755 $app/conf $app/data $app/log" || return 1
  # (b) kernel
  local uname
  uname=$(r "uname -a") || return 1
  # (c) config from a template (three host variables)
  printf '# app.conf for %s\naddress = %s\nrole = %s\nroot = %s\n' "$name" "$addr" "$role" "$root" |
    r "cat > $app/conf/app.conf.tmp && chmod 0644 $app/conf/app.conf.tmp && mv $app/conf/app.conf.tmp $app/conf/app.conf" || return 1
  # (d) 64 KiB payload
  r "cat > $app/data/blob.bin.tmp && chmod 0644 $app/data/blob.bin.tmp && mv $app/data/blob.bin.tmp $app/data/blob.bin" < "$blob" || return 1
  # (e) hostname to the log
  r "echo $name >> $app/log/hosts.log" || return 1
  # (f) payload checksum
  local sum
  sum=$(r "sha256sum $app/data/blob.bin") || return 1
  # (g) only when the checksum matches
  if [ "${sum%% *}" = "$blob_sha256" ]; then
    r "echo $(q "$uname") > $app/data/verified" || return 1
  fi
  # (h) three shell steps
  local i
  for i in 1 2 3; do
    r "echo $i > $app/data/step-$i" || return 1
  done
  # (i) timestamped backup of the app directory
  r "mkdir -p $root/backups && cp -a $app $root/backups/app-\$(date +%Y%m%dT%H%M%S.%N)" || return 1
  # (j) the config is in place
  r "test -f $app/conf/app.conf" || return 1
  ssh "${ssh_opts[@]}" -O exit "$addr" 2>/dev/null
  return 0
}

status=0
if [ "${SERIAL:-0}" = 1 ]; then
  while read -r name addr root role; do
    one_host "$name" "$addr" "$root" "$role" < /dev/null || { echo "$name: failed" >&2; status=1; break; }
  done < "$hosts_file"
else
  pids=()
  names=()
  while read -r name addr root role; do
    one_host "$name" "$addr" "$root" "$role" < /dev/null &
    pids+=($!)
    names+=("$name")
  done < "$hosts_file"
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "${names[$i]}: failed" >&2; status=1; }
  done
fi
exit $status
