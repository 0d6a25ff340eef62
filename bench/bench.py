#!/usr/bin/env python3
"""Benchmark drover against Ansible, pyinfra and a plain OpenSSH script on the loopback lab.

See bench/README.md for what it measures and how. Standard library only; run it as root from
the repository with a release build of drover (`cargo build --release`):

    python3 bench/bench.py                       # the default matrix (N = 1, 10, 50, 100, rolling 10)
    python3 bench/bench.py --cases 10 --runs 3   # one case
    python3 bench/bench.py --cases scale1000     # drover alone on 1000 hosts
    python3 bench/bench.py --cases 10 --heavy-shell

Each case starts a lab of N hosts, runs one warm-up per tool, then --runs rounds in which every
tool runs once, in an order rotated each round (A B C D, B C D A, ...), so that all tools see
the same machine conditions. Before each run the hosts' workload directories are wiped; after
it, every host is checked (files and contents) and a run that failed or left a host
incomplete is discarded and counted. Each tool runs in its own cpuacct cgroup, so its CPU time
includes every process it started (ssh ControlMasters, Ansible workers) and leftovers are
killed after the run.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORKLOAD = BENCH / "fleet10"
DROVER = ROOT / "target" / "release" / "drover"
VENV = Path(os.environ.get("BENCH_VENV", "/tmp/bench-venv"))
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/drover-bench"))
CGROOT = Path("/sys/fs/cgroup/cpuacct")
PORT = 2400
TOOLS = ["drover", "ansible", "pyinfra", "ssh"]
RUN_TIMEOUT = 900  # seconds: one run of one tool


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# setup


def ensure_venv():
    """ansible-core and pyinfra from PyPI in a venv under /tmp (created when missing)."""
    want = [VENV / "bin/ansible-playbook", VENV / "bin/pyinfra"]
    if not all(p.exists() for p in want):
        log(f"creating {VENV} with ansible-core and pyinfra (pip)")
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin/pip"), "install", "-q", "ansible-core", "pyinfra"], check=True
        )
    out = subprocess.run(
        [str(VENV / "bin/pip"), "list", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    versions = {p["name"].lower(): p["version"] for p in json.loads(out)}
    return {k: versions.get(k) for k in ("ansible-core", "pyinfra", "paramiko")}


def blob_sha256():
    text = (WORKLOAD / "fleet10.yml").read_text()
    return re.search(r"^\s*blob_sha256:\s*([0-9a-f]{64})\s*$", text, re.M).group(1)


def ensure_blob():
    """files/blob.bin: 64 KiB of deterministic bytes whose sha256 the playbook carries."""
    path = WORKLOAD / "files/blob.bin"
    data = b"".join(hashlib.sha256(b"fleet10-%d" % i).digest() for i in range(2048))
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert hashlib.sha256(data).hexdigest() == blob_sha256(), "blob_sha256 in fleet10.yml"
    # The rolling playbook must be the same workload.
    a = (WORKLOAD / "fleet10.yml").read_text().split("\n- name:", 1)[1]
    b = (WORKLOAD / "fleet10-serial.yml").read_text().split("\n- name:", 1)[1]
    assert a.replace(" fleet10\n", " fleet10 rolling\n", 1).replace(
        "gather_facts: false\n", "gather_facts: false\n  serial: 1\n", 1
    ) == b, "fleet10-serial.yml must be fleet10.yml plus serial: 1"
    return data


def machine_info():
    def sh(cmd):
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()

    return {
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
        "cores": os.cpu_count(),
        "mem": sh("free -g | awk '/Mem:/{print $2\" GiB\"}'"),
        "kernel": sh("uname -r"),
        "openssh": sh("ssh -V 2>&1"),
        "python": sh("/usr/bin/python3 --version"),
        "drover": sh(f"cd {ROOT} && git rev-parse --short HEAD") + (
            "+dirty" if sh(f"cd {ROOT} && git status --porcelain -- src") else ""
        ),
    }


# ---------------------------------------------------------------------------------------------
# the lab


class Lab:
    def __init__(self, n, name, first_address, per_sshd=1, heavy=False, port=PORT):
        self.dir = WORK / name
        self.n = n
        cmd = [str(DROVER), "lab", "up", str(n), "--dir", str(self.dir), "--port", str(port),
               "--first-address", first_address, "--per-sshd", str(per_sshd)]
        if heavy:
            cmd.append("--heavy-shell")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=300)
        state = json.loads((self.dir / "lab.json").read_text())
        self.user = state["user"]
        self.port = state["port"]
        self.nodes = [
            {"name": n["name"], "address": n["address"], "root": n["root"],
             "role": "primary" if i == 0 else "replica"}
            for i, n in enumerate(state["nodes"][:n])
        ]
        self.sshd_pids = sorted({n["pid"] for n in state["nodes"] if n.get("pid")})
        self.inventory = self.dir / "inventory.yml"
        self.key = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self._write_tool_inputs()

    def _write_tool_inputs(self):
        # The plain-ssh script's host list.
        self.hosts_file = self.dir / "hosts.txt"
        self.hosts_file.write_text(
            "".join(f"{n['name']} {n['address']} {n['root']} {n['role']}\n" for n in self.nodes)
        )
        # pyinfra's inventory: the same hosts and variables as inventory.yml.
        self.pyinfra_inventory = self.dir / "pyinfra_inventory.py"
        hosts = [
            (n["name"], {
                "ssh_hostname": n["address"], "ssh_port": self.port, "ssh_user": self.user,
                "ssh_key": str(self.key), "ssh_known_hosts_file": str(self.known_hosts),
                "ssh_strict_host_key_checking": "yes",
                "inventory_hostname": n["name"], "ansible_host": n["address"],
                "role": n["role"], "node_root": n["root"], "blob_sha256": blob_sha256(),
            })
            for n in self.nodes
        ]
        self.pyinfra_inventory.write_text(f"lab = {hosts!r}\n")

    def reset(self):
        """Wipe what the workload makes, so every run does the whole work."""
        for n in self.nodes:
            for sub in ("app", "backups"):
                shutil.rmtree(Path(n["root"]) / sub, ignore_errors=True)

    def verify(self, uname, blob):
        """Every host really did every step: returns a list of problems (empty when fine)."""
        problems = []
        for n in self.nodes:
            root = Path(n["root"])
            app = root / "app"
            want = {
                "conf/app.conf": (f"# app.conf for {n['name']}\naddress = {n['address']}\n"
                                  f"role = {n['role']}\nroot = {n['root']}\n").encode(),
                "data/blob.bin": blob,
                "log/hosts.log": f"{n['name']}\n".encode(),
                "data/verified": f"{uname}\n".encode(),
                "data/step-1": b"1\n", "data/step-2": b"2\n", "data/step-3": b"3\n",
            }
            for rel, content in want.items():
                try:
                    got = (app / rel).read_bytes()
                except OSError as e:
                    problems.append(f"{n['name']}: {rel}: {e.strerror}")
                    continue
                if got != content and not (rel == "conf/app.conf" and got == content.rstrip(b"\n")):
                    problems.append(f"{n['name']}: {rel}: unexpected content {got[:80]!r}")
            for rel, mode in (("conf", 0o755), ("data", 0o755), ("log", 0o755),
                              ("conf/app.conf", 0o644), ("data/blob.bin", 0o644)):
                try:
                    got = (app / rel).stat().st_mode & 0o777
                except OSError:
                    continue
                if got != mode:
                    problems.append(f"{n['name']}: {rel}: mode {got:o}, want {mode:o}")
            backups = sorted((root / "backups").glob("app-*")) if (root / "backups").is_dir() else []
            if len(backups) != 1:
                problems.append(f"{n['name']}: {len(backups)} backups, want 1")
            elif not re.fullmatch(r"app-\d{8}T\d{6}\.\d+", backups[0].name) or \
                    (backups[0] / "data/blob.bin").read_bytes() != blob or \
                    not (backups[0] / "data/step-3").exists():
                problems.append(f"{n['name']}: backup {backups[0].name} incomplete")
        return problems

    def down(self):
        subprocess.run([str(DROVER), "lab", "down", "--dir", str(self.dir)],
                       stdout=subprocess.DEVNULL, timeout=120)


# ---------------------------------------------------------------------------------------------
# running one tool, measured


def tool_command(tool, lab, serial, run_dir):
    n = lab.n
    env = dict(os.environ)
    env.pop("SSH_AUTH_SOCK", None)  # every tool uses the lab key, none an agent
    book = WORKLOAD / ("fleet10-serial.yml" if serial else "fleet10.yml")
    if tool == "drover":
        # Development only: another playbook for drover (e.g. while a module is missing).
        book = Path(os.environ.get("BENCH_DROVER_PLAYBOOK", book)).resolve()
        cmd = [str(DROVER), "run", str(book), "-i", str(lab.inventory), "-f", str(n)]
        if n > 100:
            # 1000 handshakes at once on 2 cores (sshd forks and key exchanges included) take
            # longer than the default 10 s connect timeout: drover does not pace its connects.
            cmd += ["--connect-timeout", "120"]
    elif tool == "ansible":
        cmd = [str(VENV / "bin/ansible-playbook"), str(book), "-i", str(lab.inventory),
               "-f", str(n)]
        env.update({
            "ANSIBLE_CONFIG": str(WORKLOAD / "ansible.cfg"),
            "ANSIBLE_SSH_ARGS": "-F /dev/null -o ControlMaster=auto -o ControlPersist=60s "
                                f"-o UserKnownHostsFile={lab.known_hosts} "
                                "-o StrictHostKeyChecking=yes",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(run_dir / "cp"),
            "ANSIBLE_LOCAL_TEMP": str(run_dir / "tmp"),
            "ANSIBLE_HOME": str(run_dir / "home"),
        })
    elif tool == "pyinfra":
        cmd = [str(VENV / "bin/pyinfra"), str(lab.pyinfra_inventory),
               str(WORKLOAD / "fleet10_pyinfra.py"), "-y", "--parallel", str(n)]
        if serial:
            # `--serial` crashes on the nested operation of step (g) (pyinfra 3.10: "Cannot
            # complete an already complete operation"); one host at a time instead:
            cmd[-1] = "1"
    elif tool == "ssh":
        cmd = ["bash", str(WORKLOAD / "fleet10.sh"), str(lab.hosts_file), str(lab.port),
               lab.user, str(lab.key), str(lab.known_hosts)]
        if serial:
            env["SERIAL"] = "1"
    else:
        raise ValueError(tool)
    return cmd, env


def status_kib(pid, field="VmRSS:"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Cgroup:
    """A cpuacct cgroup for one run: CPU of every process the tool starts, and cleanup."""

    def __init__(self, name):
        self.path = CGROOT / name
        self.path.mkdir(exist_ok=True)

    def pids(self):
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def cpu_seconds(self):
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def kill_all(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for _ in range(50):
                pids = self.pids()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                time.sleep(0.05)

    def remove(self):
        self.kill_all()
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def run_tool(tool, lab, serial, label, sample_every=0.05):
    """One measured run: wall, CPU (cgroup), peak RSS of the control process (its VmHWM,
    sampled: it only grows, so a sample after the peak sees it), the sampled peak of the summed
    RSS of all the tool's processes, peak fds of the control process, exit status, output log.

    The kernel's ru_maxrss is kept too but not reported: it counts the harness's own memory
    that the child had between fork and exec (~14 MiB of Python)."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{tool}-", dir=WORK))
    cmd, env = tool_command(tool, lab, serial, run_dir)
    cg = Cgroup(f"drover-bench-{os.getpid()}-{tool}")
    logf = open(run_dir / "output.log", "wb")
    peak = {"sum": 0, "fds": 0, "hwm": 0}
    done = threading.Event()

    def join_cgroup():
        (cg.path / "cgroup.procs").write_text(str(os.getpid()))

    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, preexec_fn=join_cgroup, cwd=str(run_dir))

    def sampler():
        i = 0
        while not done.is_set():
            peak["hwm"] = max(peak["hwm"], status_kib(proc.pid, "VmHWM:"))
            peak["fds"] = max(peak["fds"], fd_count(proc.pid))
            if i % 4 == 0:  # the sum over many processes costs more: every 4th sample
                peak["sum"] = max(peak["sum"], sum(status_kib(p) for p in cg.pids()))
            i += 1
            done.wait(sample_every)

    def watchdog():
        if not done.wait(RUN_TIMEOUT):
            log(f"  {tool}: timeout after {RUN_TIMEOUT}s, killing")
            cg.kill_all()

    threads = [threading.Thread(target=sampler, daemon=True),
               threading.Thread(target=watchdog, daemon=True)]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    done.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join()
    cpu = cg.cpu_seconds()
    cg.remove()  # ControlPersist masters and anything else left behind
    logf.close()
    shutil.rmtree(run_dir / "cp", ignore_errors=True)
    return {
        "tool": tool, "label": label, "wall": wall, "cpu": cpu,
        "cpu_rusage": usage.ru_utime + usage.ru_stime,
        "maxrss_mib": peak["hwm"] / 1024, "ru_maxrss_mib": usage.ru_maxrss / 1024,
        "rss_sum_mib": max(peak["sum"], peak["hwm"]) / 1024,
        "fds": peak["fds"], "rc": proc.returncode, "log": str(run_dir / "output.log"),
    }


# ---------------------------------------------------------------------------------------------
# cases


def run_case(case, tools, runs, ansible_runs, uname, blob, results_path, heavy=False):
    serial = case.startswith("serial")
    n = int(re.sub(r"\D", "", case))
    scale = case.startswith("scale")
    # 127.3.x.y for the matrix, 127.4.x.y for the scale case: clear of the default lab and tests.
    first = "127.4.0.1" if scale else "127.3.0.2"
    name = f"lab-{case}" + ("-heavy" if heavy else "")
    if scale:
        tools = ["drover"]
    log(f"== case {case}{' (heavy shell)' if heavy else ''}: lab of {n} hosts")
    t0 = time.monotonic()
    lab = Lab(n, name, first, per_sshd=16 if n > 100 else 1, heavy=heavy,
              port=PORT + (1 if heavy else 0))
    log(f"   lab up in {time.monotonic() - t0:.1f}s, {len(lab.sshd_pids)} sshd, user {lab.user}")
    records = []
    try:
        # Warm-up, except for Ansible from 50 hosts on (minutes per run; its caches are warm
        # from the smaller cases).
        plan = [(0, t, True) for t in tools if not (t == "ansible" and n >= 50)]
        for r in range(runs):
            order = tools[r % len(tools):] + tools[:r % len(tools)]
            plan += [(r + 1, t, False) for t in order]
        for rnd, tool, warm in plan:
            if tool == "ansible" and not warm and rnd > ansible_runs:
                continue
            lab.reset()
            rec = run_tool(tool, lab, serial, case)
            rec.update(round=rnd, warmup=warm, heavy=heavy, n=n, serial=serial,
                       drover_playbook=os.environ.get("BENCH_DROVER_PLAYBOOK"))
            problems = lab.verify(uname, blob) if rec["rc"] == 0 else [f"exit {rec['rc']}"]
            rec["valid"] = not problems
            rec["problems"] = problems[:5]
            records.append(rec)
            with open(results_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            log(f"   {'warm-up' if warm else f'run {rnd}'} {tool:8} {rec['wall']:7.2f}s "
                f"cpu {rec['cpu']:6.2f}s rss {rec['maxrss_mib']:6.1f} MiB "
                f"(sum {rec['rss_sum_mib']:6.1f}) fds {rec['fds']:5}"
                + ("" if rec["valid"] else f"  DISCARDED: {'; '.join(problems[:3])} [{rec['log']}]"))
    finally:
        lab.down()
    return records


def summarize(records):
    """Per (case, heavy, tool): median and range of the valid measured runs."""
    groups = {}
    for r in records:
        if "tool" not in r or r.get("warmup"):
            continue
        groups.setdefault((r["label"], r["heavy"], r["tool"]), []).append(r)
    rows = []
    for (label, heavy, tool), rs in groups.items():
        ok = [r for r in rs if r["valid"]]
        row = {"case": label, "heavy": heavy, "tool": tool, "runs": len(ok),
               "discarded": len(rs) - len(ok), "n": rs[0]["n"]}
        if ok:
            walls = [r["wall"] for r in ok]
            row.update(
                median=statistics.median(walls), min=min(walls), max=max(walls),
                cpu=statistics.median(r["cpu"] for r in ok),
                rss=statistics.median(r["maxrss_mib"] for r in ok),
                rss_sum=statistics.median(r["rss_sum_mib"] for r in ok),
                fds=max(r["fds"] for r in ok),
            )
        rows.append(row)
    for row in rows:
        base = next((b for b in rows if b["case"] == row["case"] and b["heavy"] == row["heavy"]
                     and b["tool"] == "drover" and "median" in b), None)
        if base and "median" in row:
            row["ratio"] = row["median"] / base["median"]
    return rows


def table(rows):
    order = {t: i for i, t in enumerate(TOOLS)}

    def case_key(row):
        c = row["case"]
        return (row["heavy"], c.startswith("serial"), c.startswith("scale"), row["n"],
                order.get(row["tool"], 9))

    out = ["| case | tool | runs | median wall | min–max | CPU (control) | peak RSS (control process) "
           "| peak RSS (all its processes) | × drover |",
           "|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=case_key):
        case = row["case"].replace("serial", "N=").replace("scale", "N=")
        case = (f"N={row['n']}" if row["case"].isdigit() else
                f"N={row['n']} serial: 1" if row["case"].startswith("serial") else f"N={row['n']} (scale)")
        if row["heavy"]:
            case += ", heavy shell"
        runs = f"{row['runs']}" + (f" (+{row['discarded']} discarded)" if row["discarded"] else "")
        if "median" not in row:
            out.append(f"| {case} | {row['tool']} | {runs} | — | — | — | — | — | — |")
            continue
        out.append(
            f"| {case} | {row['tool']} | {runs} | {row['median']:.2f} s | "
            f"{row['min']:.2f}–{row['max']:.2f} s | {row['cpu']:.2f} s | {row['rss']:.1f} MiB | "
            f"{row['rss_sum']:.0f} MiB | {row.get('ratio', 0):.1f}× |"
        )
    return "\n".join(out)


def linear_fit(points):
    """Least squares y = a + b x; returns a, b, r²."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - a - b * x) ** 2 for x, y in points)
    return a, b, 1 - ss_res / ss_tot if ss_tot else 1.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="1,10,50,100,serial10",
                    help="comma list: N (parallel), serialN (serial: 1), scaleN (drover alone)")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--runs", type=int, default=5, help="measured rounds after the warm-up")
    ap.add_argument("--ansible-runs-big", type=int, default=2,
                    help="measured Ansible runs at N >= 50 (minutes each)")
    ap.add_argument("--heavy-shell", action="store_true",
                    help="log in as drover-lab-heavy (bash with a ~100 ms .bashrc)")
    ap.add_argument("--results", default=None, help="JSON-lines file to append runs to")
    ap.add_argument("--summarize", nargs="*", help="only print the table of these result files")
    args = ap.parse_args()

    if args.summarize is not None:
        records = [json.loads(l) for p in args.summarize for l in open(p) if l.strip()]
        report(summarize(records))
        return
    if os.geteuid() != 0:
        sys.exit("bench.py runs as root (the lab's users, cgroups)")
    if not DROVER.exists():
        sys.exit(f"{DROVER} missing: cargo build --release")
    WORK.mkdir(parents=True, exist_ok=True)
    versions = ensure_venv()
    blob = ensure_blob()
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    info = machine_info() | versions
    log(json.dumps(info))
    results = Path(args.results or BENCH / "results" / time.strftime("runs-%Y%m%d-%H%M%S.jsonl"))
    results.parent.mkdir(exist_ok=True)
    with open(results, "a") as f:
        f.write(json.dumps({"machine": info, "args": vars(args),
                            "load": os.getloadavg()}) + "\n")
    tools = args.tools.split(",")
    records = []
    for case in args.cases.split(","):
        n = int(re.sub(r"\D", "", case))
        records += run_case(case, tools, args.runs,
                            args.ansible_runs_big if n >= 50 else args.runs,
                            uname, blob, results, heavy=args.heavy_shell)
    report(summarize(records))
    print(f"results: {results}")


def report(rows):
    """The table, drover's linear fit over hosts, and the issue's targets, each met or not."""
    print(table(rows))
    drover_rows = [r for r in rows if r["tool"] == "drover" and "median" in r
                   and not r["case"].startswith("serial") and not r["heavy"]]
    if len(drover_rows) >= 3:
        for what in ("median", "cpu"):
            a, b, r2 = linear_fit([(r["n"], r[what]) for r in drover_rows])
            print(f"drover {what}: {a:.3f} s + {b * 1000:.2f} ms × hosts (r² = {r2:.4f})")
    def row(case, tool, heavy=False):
        return next((r for r in rows if r["case"] == case and r["tool"] == tool
                     and r["heavy"] == heavy and "median" in r), None)
    checks = []
    for case, limit in (("50", 0.5), ("100", 0.5), ("1", 1.5)):
        d, s = row(case, "drover"), row(case, "ssh")
        if d and s:
            checks.append((f"N={case}: drover ≤ {limit}× the ssh script",
                           d["median"] / s["median"], limit, "max"))
    for tool, factor in (("ansible", 40), ("pyinfra", 2.5)):
        d, t = row("100", "drover"), row("100", tool)
        if d and t:
            checks.append((f"N=100: drover ≥ {factor}× faster than {tool}",
                           t["median"] / d["median"], factor, "min"))
    for case, mib in (("100", 30), ("scale1000", 200)):
        d = row(case, "drover")
        if d:
            checks.append((f"{case}: drover peak RSS < {mib} MiB", d["rss"], mib, "max"))
    for name, value, limit, kind in checks:
        ok = value <= limit if kind == "max" else value >= limit
        print(f"{'MET ' if ok else 'MISS'} {name}: {value:.2f}")


if __name__ == "__main__":
    main()
