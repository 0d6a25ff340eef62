"""fleet10 for pyinfra (see bench/README.md): the same ten steps as fleet10.yml.

Run by bench.py as `pyinfra INVENTORY.py fleet10_pyinfra.py -y --parallel N`; the inventory it
writes gives each host `ssh_hostname`, `inventory_hostname`, `ansible_host`, `role`,
`node_root` and `blob_sha256`.
"""

import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, python, server

HERE = Path(__file__).resolve().parent
d = host.data
app = f"{d.node_root}/app"
backups = f"{d.node_root}/backups"

# (a) directory tree
for sub in ("conf", "data", "log"):
    files.directory(name=f"(a) directory tree: {sub}", path=f"{app}/{sub}", mode="755")

# (b) kernel
uname = server.shell(name="(b) kernel", commands=["uname -a"])

# (c) config from a template (three host variables)
files.template(
    name="(c) config from a template",
    src=str(HERE / "templates/app.conf.j2"),
    dest=f"{app}/conf/app.conf",
    mode="644",
    inventory_hostname=d.inventory_hostname,
    ansible_host=d.ansible_host,
    role=d.role,
    node_root=d.node_root,
)

# (d) 64 KiB payload
files.put(
    name="(d) 64 KiB payload",
    src=str(HERE / "files/blob.bin"),
    dest=f"{app}/data/blob.bin",
    mode="644",
)

# (e) hostname to the log
server.shell(
    name="(e) hostname to the log",
    commands=[f"echo {d.inventory_hostname} >> {app}/log/hosts.log"],
)

# (f) payload checksum
blob_sum = server.shell(name="(f) payload checksum", commands=[f"sha256sum {app}/data/blob.bin"])


# (g) only when the checksum matches: decided when it runs, from (b)'s and (f)'s output
def only_when_checksum_matches():
    if blob_sum.stdout.split()[0] == d.blob_sha256:
        server.shell(
            name="(g) write the kernel line",
            commands=[f"echo {shlex.quote(uname.stdout)} > {app}/data/verified"],
        )


python.call(name="(g) only when the checksum matches", function=only_when_checksum_matches)

# (h) three shell steps
for item in (1, 2, 3):
    server.shell(name=f"(h) step {item}", commands=[f"echo {item} > {app}/data/step-{item}"])

# (i) timestamped backup of the app directory
server.shell(
    name="(i) timestamped backup",
    commands=[f"mkdir -p {backups} && cp -a {app} {backups}/app-$(date +%Y%m%dT%H%M%S.%N)"],
)

# (j) the config is in place
server.shell(name="(j) the config is in place", commands=[f"test -f {app}/conf/app.conf"])
