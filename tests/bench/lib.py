#!/usr/bin/env python3
"""Helpers of tests/bench/run.sh: the parts that are awkward in bash
(deb822 fields, JSON, SHA-256 sets, medians). Each subcommand prints plain
lines for the shell or fails with a message and a non-zero status.

  index INRELEASE PATH        -> "SHA256 SIZE ACQUIRE_BY_HASH(yes|no)"
  fields INRELEASE            -> "Date: ..." style summary for the report
  missing RESOLVE_JSON MIRROR -> "PATH" of each pool file absent or wrong
  check-pool RESOLVE_JSON MIRROR
  check-cache RESOLVE_JSON CACHE
  check-debs RESOLVE_JSON DIR
  same-set RESOLVE_JSON OTHER_JSON
  apt-args RESOLVE_JSON       -> one "name=version" per line
  dirty PATH                  -> 4 KiB of 0xff at every MiB of a file or device
  pool-json PACKAGES_XZ NAMES ARCH -> a resolution JSON of the packages
                                 named in the file NAMES (another tool's
                                 set), from the index
  report OUT_JSON key=value ... (hyperfine JSON files and extras; with
                                 only=lun, only=hosts or only=configured,
                                 that section's alone)
  markdown RESULTS_JSON OUT_MD  the report as markdown (tests/bench/results.md)
"""

import hashlib
import json
import lzma
import os
import statistics
import subprocess
import sys


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def release_text(path):
    """The signed text of an InRelease (signature not checked here: the
    tools under test verify it; this only finds the index digest)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if lines and lines[0].startswith("-----BEGIN PGP SIGNED MESSAGE"):
        start = lines.index("") + 1
        end = lines.index("-----BEGIN PGP SIGNATURE-----")
        lines = lines[start:end]
    return lines


def release_fields(path):
    """Top-level fields and the SHA256 file list of a Release."""
    fields, files, section = {}, {}, None
    for line in release_text(path):
        if line.startswith((" ", "\t")):
            if section == "SHA256":
                digest, size, name = line.split()
                files[name] = (digest, int(size))
            continue
        key, _, value = line.partition(":")
        fields[key] = value.strip()
        section = key
    return fields, files


def load_packages(path, tools=False):
    """The packages of a resolution, and with `tools` its build tools
    (busybox-static) too: every pool file a build reads."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    pkgs = data["packages"]
    if not pkgs:
        die(f"{path}: empty package list")
    return pkgs + (data.get("tools", []) if tools else [])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_ok(path, pkg):
    return (
        os.path.isfile(path)
        and os.path.getsize(path) == pkg["size"]
        and sha256_file(path) == pkg["sha256"]
    )


def cmd_index(inrelease, rel):
    fields, files = release_fields(inrelease)
    if rel not in files:
        die(f"{inrelease} lists no {rel}")
    digest, size = files[rel]
    by_hash = "yes" if fields.get("Acquire-By-Hash", "").lower() == "yes" else "no"
    print(digest, size, by_hash)


def cmd_fields(inrelease):
    fields, _ = release_fields(inrelease)
    print(fields.get("Date", "?"))


def cmd_missing(resolved, mirror):
    for p in load_packages(resolved, tools=True):
        if not file_ok(os.path.join(mirror, p["path"]), p):
            print(p["path"])


def cmd_check_pool(resolved, mirror):
    bad = [
        p["path"]
        for p in load_packages(resolved, tools=True)
        if not file_ok(os.path.join(mirror, p["path"]), p)
    ]
    if bad:
        die(f"{len(bad)} pool files missing or corrupt, e.g. {bad[0]}")


def cmd_check_cache(resolved, cache):
    """Every package is in lunforge's content-addressed cache."""
    pkgs = load_packages(resolved)
    bad = []
    for p in pkgs:
        d = p["sha256"]
        if not file_ok(os.path.join(cache, "sha256", d[:2], d), p):
            bad.append(p["name"])
    if bad:
        die(f"{cache}: {len(bad)} of {len(pkgs)} packages not cached: {bad[:5]}")


def cmd_check_debs(resolved, directory):
    """apt-get download left exactly the expected files, byte for byte."""
    want = {p["sha256"] for p in load_packages(resolved)}
    debs = [n for n in os.listdir(directory) if n.endswith(".deb")]
    got = {sha256_file(os.path.join(directory, n)) for n in debs}
    if len(debs) != len(want) or got != want:
        die(
            f"{directory}: {len(debs)} .deb files, {len(want)} expected; "
            f"{len(want - got)} missing, {len(got - want)} unexpected"
        )


def cmd_same_set(a, b):
    key = lambda p: (p["name"], p["version"], p["sha256"])  # noqa: E731
    sa = {key(p) for p in load_packages(a)}
    sb = {key(p) for p in load_packages(b)}
    if sa != sb:
        die(f"{a} and {b} differ: {sorted(sa ^ sb)[:5]}")


def cmd_apt_args(resolved):
    for p in load_packages(resolved):
        print(f"{p['name']}={p['version']}")


def dpkg_newer(a, b):
    """-1, 0 or 1 as Debian version a sorts before, with or after b."""
    if a == b:
        return 0
    gt = subprocess.run(["dpkg", "--compare-versions", a, "gt", b],
                        check=False).returncode == 0
    return 1 if gt else -1


def index_paragraphs(path):
    """The fields of each paragraph of a Packages.xz (continuation lines
    dropped: only single-line fields are read), streamed."""
    fields = {}
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line == "\n":
                if fields:
                    yield fields
                fields = {}
            elif not line[0].isspace():
                k, _, v = line.partition(":")
                fields[k] = v.strip()
    if fields:
        yield fields


def cmd_pool_json(index, names_file, arch):
    """The packages named in NAMES_FILE (whitespace-separated: what
    debootstrap --print-debs prints), as a resolution JSON (the newest
    version of each for ARCH or all), so that the mirror step fetches and
    checks their pool files like those of lunforge's sets."""
    with open(names_file, encoding="utf-8") as f:
        want = set(f.read().split())
    if not want:
        die(f"{names_file}: no package names")
    best = {}
    for p in index_paragraphs(index):
        name = p.get("Package")
        if name not in want or p.get("Architecture") not in (arch, "all"):
            continue
        if name in best and dpkg_newer(p["Version"], best[name]["Version"]) <= 0:
            continue
        best[name] = p
    missing = sorted(want - set(best))
    if missing:
        die(f"{index}: no {', '.join(missing)} for {arch}")
    pkgs = [{"name": n, "version": p["Version"],
             "architecture": p["Architecture"], "path": p["Filename"],
             "size": int(p["Size"]), "sha256": p["SHA256"]}
            for n, p in sorted(best.items())]
    json.dump({"packages": pkgs,
               "total": {"packages": len(pkgs),
                         "download_size": sum(p["size"] for p in pkgs)}},
              sys.stdout, indent=2)
    print()


def cmd_dirty(path):
    """Non-zero bytes all over PATH (its size kept), so that a write that
    leaves a hole of the image unwritten shows in a comparison."""
    fd = os.open(path, os.O_WRONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        block = b"\xff" * 4096
        for off in range(0, size - len(block) + 1, 1 << 20):
            os.pwrite(fd, block, off)
        os.pwrite(fd, block, size - len(block))
        os.fsync(fd)
    finally:
        os.close(fd)


def first_line(cmd):
    """The first line a command prints, or None when it cannot run."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError:
        return None
    out = (r.stdout or r.stderr).strip().splitlines()
    return out[0] if r.returncode == 0 and out else None


def deb_version(name):
    """The installed version of a Debian package, or "not installed"."""
    v = first_line(["dpkg-query", "-W", "-f", "${Version}", name])
    return v or "not installed"


def machine():
    """What ran the bench: CPU, cores, RAM, kernel, Debian release and
    whether KVM is there (the boot measurements use TCG either way)."""
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    ram_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                ram_kib = int(line.split()[1])
    release = {}
    with open("/etc/os-release", encoding="utf-8") as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            release[k] = v.strip('"')
    try:
        with open("/etc/debian_version", encoding="utf-8") as f:
            debian = f.read().strip()
    except OSError:
        debian = "?"
    kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "ram_bytes": ram_kib * 1024,
        "kernel": os.uname().release,
        "os": f"{release.get('PRETTY_NAME', '?')}, {debian}",
        "kvm": kvm,
    }


def versions(a):
    """The versions of lunforge and of every tool the bench runs."""
    qemu = first_line(["qemu-system-x86_64", "--version"])
    hyperfine = first_line(["hyperfine", "--version"])
    return {
        "lunforge": f"{a.get('describe', '?')} ({a['lunforge']})",
        **{d: deb_version(d) for d in (
            "mmdebstrap", "debootstrap", "apt", "e2fsprogs", "util-linux",
            "fdisk", "tgt", "time")},
        "qemu": qemu.removeprefix("QEMU emulator version ")
        if qemu else "not installed",
        "hyperfine": hyperfine.removeprefix("hyperfine ")
        if hyperfine else "not installed",
    }


def mirror_info(a):
    """The loopback mirror: its suite, its index's date and package
    count, the pool files it holds (never the host mirror's name)."""
    if "mirror_index" not in a:
        return {}
    names = sum(1 for p in index_paragraphs(a["mirror_index"])
                if "Package" in p)
    pool = sum(len([n for n in files if n.endswith(".deb")])
               for _, _, files in os.walk(a["mirror_pool"]))
    return {"mirror": {
        "served_on": "127.0.0.1",
        "suite": a["suite"], "component": a["component"],
        "architecture": a["arch"], "release_date": a["release_date"],
        "index_packages": names, "pool_files": pool,
    }}


def facts(a):
    """The parts of results.json that every kind of run has."""
    return {"machine": machine(), "versions": versions(a), **mirror_info(a)}


MIN_RUNS = 3  # `report min_runs=1` lowers it for a quick one-section run


def hf(path):
    """Median, mean, stddev, min, max and run count of a hyperfine JSON."""
    with open(path, encoding="utf-8") as f:
        r = json.load(f)["results"][0]
    times = r["times"]
    if len(times) < MIN_RUNS:
        die(f"{path}: only {len(times)} runs")
    if any(code != 0 for code in r.get("exit_codes", [0])):
        die(f"{path}: a run failed: exit codes {r['exit_codes']}")
    return {
        "command": r["command"],
        "times_s": times,
        "median_s": statistics.median(times),
        "mean_s": r["mean"],
        "stddev_s": r.get("stddev"),
        "min_s": min(times),
        "max_s": max(times),
        "runs": len(times),
    }


LUN_TIMINGS = (
    "lun_qemu_thick", "lun_lunforge_thick", "lun_lunforge_thin",
    "lun_qemu_thin", "lun_lunforge_zeroed",
    "loop_lunforge", "loop_dd", "loop_lunforge_zeroed",
)


def lun_report(a):
    """Section 3g: its part of results.json and its lines of the table.
    Its ratios are the other tool's time over lunforge's (> 1: lunforge
    is faster), as the targets are stated that way."""
    t = {k: hf(a[k]) for k in LUN_TIMINGS}
    med = {k: v["median_s"] for k, v in t.items()}
    over = lambda x, y: med[x] / med[y]  # noqa: E731
    mib = lambda k: int(a[k]) / (1 << 20)  # noqa: E731
    res = {
        "image": {"bytes": int(a["lun_image_bytes"]),
                  "allocated": int(a["lun_image_alloc"])},
        "qemu_img": a["qemu_img"], "tgt": a["tgt"],
        "timings": t,
        "ratios": {
            "qemu_img_thick_over_lunforge_thick":
                over("lun_qemu_thick", "lun_lunforge_thick"),
            "qemu_img_thick_over_lunforge_thin":
                over("lun_qemu_thick", "lun_lunforge_thin"),
            "qemu_img_thick_over_lunforge_assume_zeroed":
                over("lun_qemu_thick", "lun_lunforge_zeroed"),
            "qemu_img_thin_over_lunforge_thin":
                over("lun_qemu_thin", "lun_lunforge_thin"),
            "dd_sparse_over_lunforge_loop":
                over("loop_dd", "loop_lunforge"),
            "dd_sparse_over_lunforge_loop_assume_zeroed_no_verify":
                over("loop_dd", "loop_lunforge_zeroed"),
        },
        "targets": {
            "qemu_img_thick_over_lunforge_thick": 1.2,
            "qemu_img_thick_over_lunforge_thin": 5.0,
            "qemu_img_thick_over_lunforge_assume_zeroed": 5.0,
        },
        # The LUN's backing file after each kind of write (bytes).
        "allocated": {
            "thick": int(a["lun_alloc_thick"]),
            "thin_lunforge_over_dirty": int(a["lun_alloc_thin_dirty"]),
            "thin_lunforge": int(a["lun_alloc_thin"]),
            "thin_qemu_img": int(a["lun_alloc_qemu_thin"]),
            "thin_lunforge_assume_zeroed": int(a["lun_alloc_zeroed"]),
            "loop_lunforge": int(a["loop_alloc_lunforge"]),
            "loop_dd": int(a["loop_alloc_dd"]),
        },
        # GNU time's %M of one run of each: the largest single process.
        "peak_rss_kib": {
            "lunforge_thick": int(a["lun_rss_lunforge_thick"]),
            "qemu_img_thick": int(a["lun_rss_qemu_thick"]),
            "loop_lunforge": int(a["loop_rss_lunforge"]),
            "loop_dd": int(a["loop_rss_dd"]),
        },
        "lunforge_says": {
            "thick": a["lun_says_thick"], "thin": a["lun_says_thin"],
            "thin_assume_zeroed": a["lun_says_zeroed"],
            "loop": a["loop_says"],
        },
    }
    r, al = res["ratios"], res["allocated"]
    gib = lambda n: n / (1 << 30)  # noqa: E731
    lines = [
        f"write to an iSCSI LUN (tgtd on 127.0.0.1, CHAP; image "
        f"{gib(res['image']['bytes']):.1f} GiB, "
        f"{mib('lun_image_alloc'):.0f} MiB of data; {a['qemu_img']}):",
        f"  thick LUN       : qemu-img convert {med['lun_qemu_thick']:.1f} s, "
        f"lunforge {med['lun_lunforge_thick']:.1f} s, qemu-img/lunforge "
        f"{r['qemu_img_thick_over_lunforge_thick']:.2f} (target >= 1.2)",
        f"  thin LUN        : lunforge {med['lun_lunforge_thin']:.2f} s, "
        f"qemu-img thick/lunforge "
        f"{r['qemu_img_thick_over_lunforge_thin']:.1f} (target >= 5); "
        f"qemu-img {med['lun_qemu_thin']:.2f} s, qemu-img thin/lunforge "
        f"{r['qemu_img_thin_over_lunforge_thin']:.2f}",
        f"  --assume-zeroed : lunforge {med['lun_lunforge_zeroed']:.2f} s, "
        f"qemu-img thick/lunforge "
        f"{r['qemu_img_thick_over_lunforge_assume_zeroed']:.1f} "
        f"(target >= 5)",
        f"  backing file allocated: thick {al['thick'] / (1 << 20):.0f} MiB; "
        f"thin: lunforge {al['thin_lunforge'] / (1 << 20):.0f} MiB "
        f"(over a dirty LUN {al['thin_lunforge_over_dirty'] / (1 << 20):.0f}"
        f" MiB), qemu-img {al['thin_qemu_img'] / (1 << 20):.0f} MiB, "
        f"lunforge --assume-zeroed "
        f"{al['thin_lunforge_assume_zeroed'] / (1 << 20):.0f} MiB",
        f"write to a loop device: lunforge {med['loop_lunforge']:.2f} s "
        f"(holes unmapped, verified), --assume-zeroed --no-verify "
        f"{med['loop_lunforge_zeroed']:.2f} s; dd conv=sparse,fsync "
        f"{med['loop_dd']:.2f} s; dd/lunforge "
        f"{r['dd_sparse_over_lunforge_loop']:.2f}, like for like "
        f"{r['dd_sparse_over_lunforge_loop_assume_zeroed_no_verify']:.2f}",
    ]
    return res, lines


def cmd_report_lun(out, a):
    """`report only=lun`: section 3g alone (BENCH_ONLY=lun)."""
    res, lines = lun_report(a)
    results = {"date": a["date"], "host": {"nproc": int(a["nproc"])},
               "lunforge": a["lunforge"], **facts(a), "runs": int(a["runs"]),
               "tar_runs": int(a["tar_runs"]), "lun": res}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    t = res["timings"]
    runs = min(v["runs"] for k, v in t.items() if k.startswith("loop_"))
    lun_runs = min(v["runs"] for k, v in t.items() if k.startswith("lun_"))
    print(f"lunforge bench (LUN and block device only), {a['date']}, "
          f"medians of >= {runs} runs (LUN writes: {lun_runs}) "
          f"({a['lunforge']}; tgt {res['tgt']}; {a['nproc']} CPUs)")
    for line in lines:
        print(line)
    print(f"results: {out}")


def hosts_report(a):
    """Section 3h: build times of the guest and both Xen hosts, cold and
    warm, and the boot and migration times the xen_host test printed."""
    t = {k: hf(a[k]) for k in ("hosts_cold", "hosts_warm")}
    boots = {}
    with open(a["hosts_timings"], encoding="utf-8") as f:
        for line in f:
            what, _, secs = line[len("timing: "):].rpartition(": ")
            boots[what] = float(secs)
    res = {"timings": t, "boot_s": boots}
    lines = [
        "3h. virtual01 + dangermouse + buggles, built (--configure chroot):",
        f"    cold cache {t['hosts_cold']['median_s']:.1f} s, "
        f"warm {t['hosts_warm']['median_s']:.1f} s "
        f"(medians of {t['hosts_cold']['runs']} and "
        f"{t['hosts_warm']['runs']} runs)",
        "    under TCG (one run of the xen_host test):",
    ]
    lines += [f"      {k}: {v:.1f} s" for k, v in boots.items()]
    return res, lines


def report_one(out, a, section, res, lines, title, **extra):
    """The report of a one-section run: OUT_JSON with the run's facts,
    `extra` and the section's part under `section`; its lines after a
    title line naming what ran."""
    results = {"date": a["date"], "host": {"nproc": int(a["nproc"])},
               "lunforge": a["lunforge"], **facts(a), **extra, section: res}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"lunforge bench ({title}), {a['date']} "
          f"({a['lunforge']}; {a['nproc']} CPUs)")
    for line in lines:
        print(line)
    print(f"results: {out}")


def cmd_report_hosts(out, a):
    """`report only=hosts`: section 3h alone (BENCH_ONLY=hosts)."""
    res, lines = hosts_report(a)
    report_one(out, a, "hosts", res, lines, "the Xen hosts only",
               tar_runs=int(a["tar_runs"]))


CFG_PIPELINES = ("mmdebstrap", "debootstrap")
CFG_STRATEGIES = ("chroot", "unshare", "firstboot")
CFG_CACHES = ("cold", "warm")
# What a warm cache is, tool by tool (section 3i; cold: the same
# directory, empty before every run).
CFG_WARM = {
    "mmdebstrap": "every .deb of the set copied by a setup hook into the "
                  "chroot's /var/cache/apt/archives, where apt takes each "
                  "one whose size and hash match the index (the manual's "
                  "sync-in)",
    "debootstrap": "every .deb of the set in its --cache-dir, each checked "
                   "against the index's SHA-256 and copied into the target",
    "lunforge": "every .deb of the set in its content-addressed download "
                "cache (--cache), found under its SHA-256 with its size "
                "checked (it was hashed when it entered the cache) and read "
                "in place",
}


def configured_report(a):
    """Section 3i: the configured image, the mmdebstrap and debootstrap
    pipelines against each lunforge strategy, cold and warm cache (ratios
    mmdebstrap pipeline over the other at the same cache state: > 1, the
    other is faster), each against the decompression floor, the stage
    lines of one lunforge run each, peak RSS (KiB) of one cold run of
    each tool, the package set of each tool and the load while
    measuring."""
    tools = CFG_PIPELINES + CFG_STRATEGIES
    t = {"floor": hf(a["cfg_floor"])}
    t.update({f"{x}_{c}": hf(a[f"cfg_{x}_{c}"])
              for x in tools for c in CFG_CACHES})
    med = {k: v["median_s"] for k, v in t.items()}
    others = ("debootstrap",) + tuple(f"lunforge_{s}" for s in CFG_STRATEGIES)
    key = lambda x: x.removeprefix("lunforge_")  # noqa: E731
    include = a["cfg_include"].replace(",", " ")
    res = {
        "what": f"{a['cfg_suite']} {a['cfg_variant']} + {include}, "
                "4 GiB MBR, swap + ext3",
        "packages": int(a["cfg_packages"]),
        "download_bytes": int(a["cfg_bytes"]),
        "installed_packages": {
            "lunforge": int(a["cfg_packages"]),
            **{x: int(a[f"cfg_installed_{x}"]) for x in CFG_PIPELINES},
        },
        "package_set_vs_lunforge": {
            x: a[f"cfg_set_{x}"] for x in CFG_PIPELINES},
        "selection": {
            "lunforge": f"variant = \"{a['cfg_variant']}\", include = "
                        f"{include}",
            "mmdebstrap": f"--variant={a['cfg_variant']} "
                          f"--include={a['cfg_include']}",
            "debootstrap": "no --variant (its default: Priority required "
                           "and important, what `important` means to "
                           "mmdebstrap and lunforge; minbase would be "
                           "required + apt, buildd + build-essential), "
                           f"--include={a['cfg_include']}",
        },
        "warm_cache": CFG_WARM,
        "mmdebstrap": a["cfg_mmdebstrap"],
        "debootstrap": a["cfg_debootstrap"],
        "timings": t,
        "ratios": {
            **{f"mmdebstrap_pipeline_over_{x}_{c}":
               med[f"mmdebstrap_{c}"] / med[f"{key(x)}_{c}"]
               for x in others for c in CFG_CACHES},
            **{f"{x}_{c}_over_floor": med[f"{key(x)}_{c}"] / med["floor"]
               for x in ("mmdebstrap",) + others for c in CFG_CACHES},
        },
        "targets": {f"mmdebstrap_pipeline_over_lunforge_{s}_{c}": 3.0
                    for s in ("chroot", "unshare") for c in CFG_CACHES},
        "lunforge_says": {
            s: {"stages": a[f"cfg_stages_{s}"],
                "sandbox": a[f"cfg_sandbox_{s}"]}
            for s in CFG_STRATEGIES
        },
        # GNU time's %M of one cold run: the largest single process.
        "peak_rss_kib": {x: int(a[f"cfg_rss_{x}"]) for x in tools},
        "loadavg_1min": [float(x) for x in a["cfg_load"].split()],
    }
    r, rss = res["ratios"], res["peak_rss_kib"]
    load = res["loadavg_1min"]
    n = min(v["runs"] for k, v in t.items() if k != "floor")
    lines = [
        f"3i. configured image ({res['what']}; {res['packages']} pkgs, "
        f"{res['download_bytes'] / (1 << 20):.1f} MiB; medians of {n} "
        f"runs; load average {min(load):.1f}-{max(load):.1f} while "
        f"measuring); floor (data.tar decompressed) {med['floor']:.1f} s",
    ]
    for c in CFG_CACHES:
        lines.append(
            f"    {c} cache: mmdebstrap pipeline {med[f'mmdebstrap_{c}']:.1f}"
            f" s, debootstrap pipeline {med[f'debootstrap_{c}']:.1f} s "
            f"(mmdebstrap/debootstrap "
            f"{r[f'mmdebstrap_pipeline_over_debootstrap_{c}']:.2f})")
        for s in CFG_STRATEGIES:
            target = " (target >= 3)" if s in ("chroot", "unshare") else ""
            lines.append(
                f"      lunforge {s:9}: {med[f'{s}_{c}']:.1f} s, mmdebstrap "
                f"pipeline/lunforge "
                f"{r[f'mmdebstrap_pipeline_over_lunforge_{s}_{c}']:.2f}"
                f"{target}, {r[f'lunforge_{s}_{c}_over_floor']:.2f}x the "
                "floor")
    lines.append("    peak RSS (largest process, one cold run): " + ", ".join(
        f"{x} {rss[x] / 1024:.0f} MiB" for x in tools))
    inst = res["installed_packages"]
    lines.append("    packages installed: " + ", ".join(
        f"{x} {inst[x]}" for x in inst) + "; sets against lunforge's: " +
        ", ".join(f"{x} {res['package_set_vs_lunforge'][x]}"
                  for x in CFG_PIPELINES))
    for s in CFG_STRATEGIES:
        says = res["lunforge_says"][s]
        lines.append(f"    {s}: {says['stages']}")
        if says["sandbox"] != "none":
            lines.append(f"    {s}: {says['sandbox']}")
    return res, lines


def cmd_report_configured(out, a):
    """`report only=configured`: section 3i alone (BENCH_ONLY=configured)."""
    res, lines = configured_report(a)
    report_one(out, a, "configured", res, lines,
               f"the configured image only; mmdebstrap {res['mmdebstrap']}, "
               f"debootstrap {res['debootstrap']}",
               runs=int(a["runs"]), tar_runs=int(a["tar_runs"]))


def cmd_report(out, *pairs):
    global MIN_RUNS
    a = dict(p.split("=", 1) for p in pairs)
    MIN_RUNS = int(a.get("min_runs", MIN_RUNS))
    if a.get("only") == "lun":
        return cmd_report_lun(out, a)
    if a.get("only") == "hosts":
        return cmd_report_hosts(out, a)
    if a.get("only") == "configured":
        return cmd_report_configured(out, a)
    lun = lun_report(a) if "lun_qemu_thick" in a else None
    hosts = hosts_report(a) if "hosts_cold" in a else None
    configured = configured_report(a) if "cfg_floor" in a else None
    t = {k: hf(a[k]) for k in (
        "fetch_cold", "apt_download", "apt_update_download",
        "fetch_warm", "resolve", "resolve_cold", "mmdebstrap",
        "tar_lunforge", "tar_mmdebstrap", "mkfs_lunforge", "mkfs_mke2fs",
        "initrd_lunforge", "initrd_mkinitramfs",
    )}
    med = {k: v["median_s"] for k, v in t.items()}
    n, size = int(a["packages"]), int(a["bytes"])
    mib = size / (1 << 20)
    what = f"{a['suite']} {a['variant']}, {n} pkgs, {mib:.1f} MiB"
    ratio = lambda x, y: med[x] / med[y]  # noqa: E731
    results = {
        "date": a["date"],
        "host": {"nproc": int(a["nproc"]), "apt": a["apt"],
                 "mmdebstrap": a["mmdebstrap_version"]},
        "lunforge": a["lunforge"],
        **facts(a),
        "suite": a["suite"], "variant": a["variant"],
        "release_date": a["release_date"],
        "packages": n, "download_bytes": size,
        "runs": int(a["runs"]),
        "tar_runs": int(a["tar_runs"]),
        "mmdebstrap_mode": a["mode"],
        "lunforge_configure": a["configure"],
        "mmdebstrap_package_set": a["same_set"],
        "timings": t,
        "ratios": {
            "fetch_cold_vs_apt_download": ratio("fetch_cold", "apt_download"),
            "fetch_cold_vs_apt_update_download":
                ratio("fetch_cold", "apt_update_download"),
            "resolve_vs_mmdebstrap_simulate": ratio("resolve", "mmdebstrap"),
            "resolve_cold_vs_mmdebstrap_simulate":
                ratio("resolve_cold", "mmdebstrap"),
            "tar_warm_vs_mmdebstrap_tar":
                ratio("tar_lunforge", "tar_mmdebstrap"),
            "mkfs_ext3_vs_mke2fs_d": ratio("mkfs_lunforge", "mkfs_mke2fs"),
            "initrd_vs_mkinitramfs":
                ratio("initrd_lunforge", "initrd_mkinitramfs"),
            "boot_to_login_lunforge_vs_initramfs_tools":
                float(a["boot_lunforge"]) / float(a["boot_mkinitramfs"]),
        },
        "initrd": {
            "kernel": a["kernel"],
            "bytes_lunforge": int(a["initrd_size_lunforge"]),
            "bytes_mkinitramfs": int(a["initrd_size_mkinitramfs"]),
            "boot_to_login_s_lunforge": float(a["boot_lunforge"]),
            "boot_to_login_s_mkinitramfs": float(a["boot_mkinitramfs"]),
        },
        "mkfs": {
            "files": int(a["mkfs_files"]), "bytes": int(a["mkfs_bytes"]),
            "allocated_lunforge": int(a["mkfs_alloc_lunforge"]),
            "allocated_mke2fs": int(a["mkfs_alloc_mke2fs"]),
        },
        "peak_rss_kib": {
            "fetch_cold": int(a["rss_fetch"]),
            "apt_download": int(a["rss_apt_download"]),
            "resolve": int(a["rss_resolve"]),
            "mmdebstrap_simulate": int(a["rss_mmdebstrap_simulate"]),
            "tar_lunforge": int(a["rss_tar_lunforge"]),
            # GNU time's %M: the largest single process of mmdebstrap's
            # tree (ru_maxrss of the waited-for descendants), not a sum.
            "tar_mmdebstrap_largest_process": int(a["rss_tar_mmdebstrap"]),
            "mkfs_lunforge": int(a["rss_mkfs_lunforge"]),
            "mkfs_mke2fs": int(a["rss_mkfs_mke2fs"]),
            "initrd_lunforge": int(a["rss_initrd_lunforge"]),
            "initrd_mkinitramfs": int(a["rss_initrd_mkinitramfs"]),
        },
        "tarball": {
            "lunforge": {"bytes": int(a["tar_size_lunforge"]),
                         "entries": int(a["tar_entries_lunforge"])},
            "mmdebstrap": {"bytes": int(a["tar_size_mmdebstrap"]),
                           "entries": int(a["tar_entries_mmdebstrap"])},
        },
        "throughput_mib_s": {
            "fetch_cold": mib / med["fetch_cold"],
            "apt_download": mib / med["apt_download"],
        },
    }
    if lun:
        results["lun"] = lun[0]
    if hosts:
        results["hosts"] = hosts[0]
    if configured:
        results["configured"] = configured[0]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    r = results["ratios"]
    runs = min(v["runs"] for k, v in t.items() if not k.startswith("tar_"))
    tar_runs = min(t[k]["runs"] for k in ("tar_lunforge", "tar_mmdebstrap"))
    if lun:
        tar_runs = min([tar_runs] + [v["runs"] for k, v in
                                     lun[0]["timings"].items()
                                     if k.startswith("lun_")])
    print(f"lunforge bench, {a['date']}, medians of >= {runs} runs "
          f"(tarballs{', LUN writes' if lun else ''}: {tar_runs}) "
          f"({a['lunforge']}; apt {a['apt']}; mmdebstrap "
          f"{a['mmdebstrap_version']} --mode={a['mode']}; {a['nproc']} CPUs)")
    print(f"fetch cold ({what}): lunforge {med['fetch_cold']:.3f} s, "
          f"apt-get download {med['apt_download']:.3f} s, "
          f"ratio {r['fetch_cold_vs_apt_download']:.2f}")
    print(f"  (incl. index)   : lunforge {med['fetch_cold']:.3f} s, "
          f"apt-get update + download {med['apt_update_download']:.3f} s, "
          f"ratio {r['fetch_cold_vs_apt_update_download']:.2f}")
    print(f"fetch warm ({what}): lunforge {med['fetch_warm']:.3f} s")
    print(f"resolve ({a['suite']} {a['variant']}): lunforge (cached index) "
          f"{med['resolve']:.3f} s, mmdebstrap --simulate "
          f"{med['mmdebstrap']:.3f} s, ratio "
          f"{r['resolve_vs_mmdebstrap_simulate']:.2f}")
    print(f"  (index fetched) : lunforge {med['resolve_cold']:.3f} s, "
          f"ratio {r['resolve_cold_vs_mmdebstrap_simulate']:.2f}")
    print(f"  package sets of lunforge and mmdebstrap: {a['same_set']}")
    kib = lambda k: int(a[k]) / 1024  # noqa: E731
    print(f"tarball ({a['suite']} {a['variant']}, warm cache, lunforge "
          f"configure {a['configure']}): lunforge "
          f"{med['tar_lunforge']:.1f} s, mmdebstrap "
          f"{med['tar_mmdebstrap']:.1f} s, ratio "
          f"{r['tar_warm_vs_mmdebstrap_tar']:.2f}; peak RSS lunforge "
          f"{kib('rss_tar_lunforge'):.0f} MiB, mmdebstrap (largest process) "
          f"{kib('rss_tar_mmdebstrap'):.0f} MiB")
    tb = results["tarball"]
    print(f"  tarballs        : lunforge "
          f"{tb['lunforge']['bytes'] / (1 << 20):.1f} MiB, "
          f"{tb['lunforge']['entries']} entries; mmdebstrap "
          f"{tb['mmdebstrap']['bytes'] / (1 << 20):.1f} MiB, "
          f"{tb['mmdebstrap']['entries']} entries")
    m = results["mkfs"]
    print(f"mkfs ext3, 2 GiB, {m['files']} paths, "
          f"{m['bytes'] / (1 << 20):.0f} MiB: lunforge "
          f"{med['mkfs_lunforge']:.2f} s, mke2fs -d "
          f"{med['mkfs_mke2fs']:.2f} s, ratio "
          f"{r['mkfs_ext3_vs_mke2fs_d']:.2f}; peak RSS lunforge "
          f"{kib('rss_mkfs_lunforge'):.0f} MiB, mke2fs "
          f"{kib('rss_mkfs_mke2fs'):.0f} MiB; allocated lunforge "
          f"{m['allocated_lunforge'] / (1 << 20):.0f} MiB, mke2fs "
          f"{m['allocated_mke2fs'] / (1 << 20):.0f} MiB")
    i = results["initrd"]
    print(f"initrd ({i['kernel']}): lunforge {med['initrd_lunforge']:.2f} s, "
          f"mkinitramfs (chroot) {med['initrd_mkinitramfs']:.2f} s, ratio "
          f"{r['initrd_vs_mkinitramfs']:.2f}; sizes lunforge "
          f"{i['bytes_lunforge'] / (1 << 20):.1f} MiB, mkinitramfs "
          f"{i['bytes_mkinitramfs'] / (1 << 20):.1f} MiB")
    print(f"  boot to login: (QEMU TCG): lunforge's initrd "
          f"{i['boot_to_login_s_lunforge']:.1f} s, initramfs-tools' "
          f"{i['boot_to_login_s_mkinitramfs']:.1f} s, ratio "
          f"{r['boot_to_login_lunforge_vs_initramfs_tools']:.2f}")
    print(f"peak RSS: lunforge fetch (cold) "
          f"{int(a['rss_fetch']) / 1024:.1f} MiB, lunforge resolve "
          f"{int(a['rss_resolve']) / 1024:.1f} MiB")
    if lun:
        for line in lun[1]:
            print(line)
    else:
        print("writes to a LUN and a loop device: not measured (not root)")
    if hosts:
        for line in hosts[1]:
            print(line)
    else:
        print("the Xen hosts: not measured (not root)")
    if configured:
        for line in configured[1]:
            print(line)
    else:
        print("the configured image: not measured (not root)")
    print(f"results: {out}")


# ---------------------------------------------------------------------------
# results.md: the report as markdown, from a results JSON alone.

def num(x):
    """Seconds with three significant digits or so."""
    if x < 1:
        return f"{x:.3f}"
    if x < 10:
        return f"{x:.2f}"
    if x < 100:
        return f"{x:.1f}"
    return f"{x:.0f}"


def mib(n_bytes):
    return n_bytes / (1 << 20)


def md_table(header, rows, numbers=True):
    """A markdown table: the first column left-aligned, the others right
    (numbers) or left."""
    rest = "---:|" if numbers else "---|"
    out = ["| " + " | ".join(header) + " |",
           "|---|" + rest * (len(header) - 1)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def md_compare(ref, rows, extra=None):
    """A timing table. `ref`: (label, timing, rss_kib) of the reference
    tool or None; `rows`: (label, timing, rss_kib); `extra`: (header,
    function of a timing) for one more column. The ratio is the
    reference's median over the row's (> 1: faster than the reference);
    the RSS column appears when some row has one."""
    allrows = ([ref] if ref else []) + list(rows)
    with_rss = any(r[2] is not None for r in allrows)
    header = ["", "median (s)", "min–max (s)", "runs"]
    if ref:
        header.append("reference ÷ this")
    if extra:
        header.append(extra[0])
    if with_rss:
        header.append("peak RSS (MiB)")
    out = []
    for i, (label, t, rss) in enumerate(allrows):
        row = [label + (" (reference)" if ref and i == 0 else ""),
               num(t["median_s"]),
               f"{num(t['min_s'])}–{num(t['max_s'])}", str(t["runs"])]
        if ref:
            row.append(f"{ref[1]['median_s'] / t['median_s']:.2f}")
        if extra:
            row.append(extra[1](t))
        if with_rss:
            row.append("—" if rss is None else f"{rss / 1024:.0f}")
        out.append(row)
    return md_table(header, out)


def md_head(r):
    """Date, machine, versions, mirror and how to read the tables."""
    m, v = r["machine"], r["versions"]
    out = [
        "# lunforge benchmark results",
        "",
        f"Written by `make bench` (`tests/bench/run.sh`) on {r['date']}, "
        "from that run's `results.json` (in `BENCH_DIR`, with every run's "
        "time).",
        "",
        "## Machine",
        "",
        *md_table(["", ""], [
            ["CPU", m["cpu"]],
            ["cores", str(m["cores"])],
            ["RAM", f"{m['ram_bytes'] / (1 << 30):.1f} GiB"],
            ["kernel", m["kernel"]],
            ["OS", m["os"]],
            ["KVM", ("available" if m["kvm"] else "not available")
             + " (the boot measurements use TCG either way)"],
        ], numbers=False),
        "",
        "## Tool versions",
        "",
        *md_table(["tool", "version"], [[k, v[k]] for k in v],
                  numbers=False),
        "",
    ]
    mi = r.get("mirror")
    if mi:
        out += [
            "## Mirror",
            "",
            f"Every tool reads the same bytes from one loopback mirror "
            f"served on {mi['served_on']} (`tests/bench/serve.py`, HTTP/1.1): "
            f"a partial copy of the host's mirror, made once and refreshed "
            f"when its InRelease changes, with that InRelease as it is "
            f"(each tool verifies it with the host's archive keyring). "
            f"Suite {mi['suite']} ({mi['release_date']}), "
            f"{mi['component']}/{mi['architecture']}: its index lists "
            f"{mi['index_packages']} packages; its pool holds the "
            f"{mi['pool_files']} `.deb` files that the measured sets use.",
            "",
        ]
    runs = ", ".join(f"BENCH_{k.upper()} {r[k]}" for k in ("runs", "tar_runs")
                     if k in r)
    out += [
        "## Reading the tables",
        "",
        "- median and min–max (the spread) of the timed runs, measured by "
        "hyperfine after an untimed warmup run" + (f" ({runs})" if runs
                                                   else "") + ";",
        "- *reference ÷ this*: the reference tool's median over the "
        "row's (above 1: faster than the reference);",
        "- peak RSS: GNU time's `%M` of one run: the `ru_maxrss` that "
        "`wait4` returns for the command, which Linux takes as the "
        "largest resident set of any single process of its tree (the "
        "command or one of its waited-for descendants), not the sum of the "
        "processes alive at once: for a pipeline, its largest step.",
        "",
    ]
    return out


def md_fetch(r):
    t, rss = r["timings"], r["peak_rss_kib"]
    what = (f"{r['suite']} `{r['variant']}`, {r['packages']} packages, "
            f"{mib(r['download_bytes']):.1f} MiB")
    lunforge_cold = ("`lunforge fetch`, empty cache", t["fetch_cold"],
                     rss["fetch_cold"])
    return [
        f"## 3a. Fetching a package set, cold ({what})",
        "",
        "Every run from an empty cache (lunforge) or an empty download "
        "directory (apt); the index is cached for `apt-get download`, "
        "fetched again by the others.",
        "",
        *md_compare(("`apt-get download`", t["apt_download"],
                     rss["apt_download"]), [lunforge_cold]),
        "",
        *md_compare(("`apt-get update` + `apt-get download`",
                     t["apt_update_download"], None), [lunforge_cold]),
        "",
        f"Throughput: lunforge {r['throughput_mib_s']['fetch_cold']:.0f} "
        f"MiB/s, apt-get download "
        f"{r['throughput_mib_s']['apt_download']:.0f} MiB/s.",
        "",
        "## 3b. Fetching it again, warm cache",
        "",
        *md_compare(None, [("`lunforge fetch`, every package cached",
                            t["fetch_warm"], None)]),
        "",
        f"## 3c. Resolving ({r['suite']} `{r['variant']}`)",
        "",
        *md_compare(("`mmdebstrap --simulate`", t["mmdebstrap"],
                     rss["mmdebstrap_simulate"]), [
            ("`lunforge resolve`, index cached", t["resolve"],
             rss["resolve"]),
            ("`lunforge resolve`, index fetched", t["resolve_cold"], None),
        ]),
        "",
        f"Package sets of lunforge and mmdebstrap: "
        f"{r['mmdebstrap_package_set']}.",
        "",
    ] + md_tar(r) + md_mkfs(r) + md_initrd(r)


def md_tar(r):
    t, rss, tb = r["timings"], r["peak_rss_kib"], r["tarball"]
    return [
        f"## 3d. The system as a tarball ({r['suite']} `{r['variant']}`)",
        "",
        f"Warm cache for both (nothing downloads); mmdebstrap "
        f"`--mode={r['mmdebstrap_mode']}`, lunforge `--configure "
        f"{r['lunforge_configure']}` (maintainer scripts run at build time "
        "by both when chroot; firstboot defers them, and the ratio is then "
        "not like for like).",
        "",
        *md_compare(("mmdebstrap", t["tar_mmdebstrap"],
                     rss["tar_mmdebstrap_largest_process"]), [
            ("`lunforge build --format tar`", t["tar_lunforge"],
             rss["tar_lunforge"])]),
        "",
        f"Tarballs: lunforge {mib(tb['lunforge']['bytes']):.1f} MiB, "
        f"{tb['lunforge']['entries']} entries; mmdebstrap "
        f"{mib(tb['mmdebstrap']['bytes']):.1f} MiB, "
        f"{tb['mmdebstrap']['entries']} entries.",
        "",
    ]


def md_mkfs(r):
    t, rss, m = r["timings"], r["peak_rss_kib"], r["mkfs"]
    return [
        f"## 3e. ext3 from a directory ({m['files']} paths, "
        f"{mib(m['bytes']):.0f} MiB, 2 GiB file system)",
        "",
        *md_compare(("`mke2fs -t ext3 -d`", t["mkfs_mke2fs"],
                     rss["mkfs_mke2fs"]), [
            ("`lunforge mkfs ext3`", t["mkfs_lunforge"],
             rss["mkfs_lunforge"])]),
        "",
        f"Allocated: lunforge {mib(m['allocated_lunforge']):.0f} MiB, "
        f"mke2fs {mib(m['allocated_mke2fs']):.0f} MiB.",
        "",
    ]


def md_initrd(r):
    t, rss, i = r["timings"], r["peak_rss_kib"], r["initrd"]
    return [
        f"## 3f. The initrd ({i['kernel']})",
        "",
        *md_compare(("`mkinitramfs` (in a chroot of the same tree)",
                     t["initrd_mkinitramfs"], rss["initrd_mkinitramfs"]), [
            ("`lunforge initrd`", t["initrd_lunforge"],
             rss["initrd_lunforge"])]),
        "",
        f"Sizes: lunforge {mib(i['bytes_lunforge']):.1f} MiB, mkinitramfs "
        f"{mib(i['bytes_mkinitramfs']):.1f} MiB. Boot to `login:` of the "
        f"same image under QEMU (TCG, one boot each): with lunforge's "
        f"initrd {i['boot_to_login_s_lunforge']:.1f} s, with "
        f"initramfs-tools' {i['boot_to_login_s_mkinitramfs']:.1f} s.",
        "",
    ]


def md_lun(r):
    g = r["lun"]
    t, al, rss = g["timings"], g["allocated"], g["peak_rss_kib"]
    ra = g["ratios"]
    return [
        "## 3g. Writing the image to an iSCSI LUN and a loop device",
        "",
        f"The image: {g['image']['bytes'] / (1 << 30):.1f} GiB, "
        f"{mib(g['image']['allocated']):.0f} MiB of data. The LUN: tgtd "
        f"({g['tgt']}) on 127.0.0.1 with CHAP, file-backed; thick (no "
        f"UNMAP: holes written as zeros) or thin (UNMAP). lunforge reads "
        f"back what it wrote unless said.",
        "",
        "**Thick LUN**",
        "",
        *md_compare(("`qemu-img convert -n`", t["lun_qemu_thick"],
                     rss["qemu_img_thick"]), [
            ("`lunforge write`", t["lun_lunforge_thick"],
             rss["lunforge_thick"])]),
        "",
        "**Thin LUN**",
        "",
        *md_compare(("`qemu-img convert -n`", t["lun_qemu_thin"], None), [
            ("`lunforge write` (holes unmapped)", t["lun_lunforge_thin"],
             None),
            ("`lunforge write --assume-zeroed`", t["lun_lunforge_zeroed"],
             None)]),
        "",
        f"Targets: qemu-img on the thick LUN ÷ lunforge on the thick one "
        f"{ra['qemu_img_thick_over_lunforge_thick']:.2f} (≥ 1.2), on the "
        f"thin one {ra['qemu_img_thick_over_lunforge_thin']:.1f} (≥ 5), "
        f"with --assume-zeroed "
        f"{ra['qemu_img_thick_over_lunforge_assume_zeroed']:.1f} (≥ 5).",
        "",
        "**Loop device**",
        "",
        *md_compare(("`dd conv=sparse,fsync`", t["loop_dd"],
                     rss["loop_dd"]), [
            ("`lunforge write`", t["loop_lunforge"], rss["loop_lunforge"]),
            ("`lunforge write --assume-zeroed --no-verify`",
             t["loop_lunforge_zeroed"], None)]),
        "",
        "Backing file allocated after each: thick "
        f"{mib(al['thick']):.0f} MiB; thin: lunforge "
        f"{mib(al['thin_lunforge']):.0f} MiB (over a dirty LUN "
        f"{mib(al['thin_lunforge_over_dirty']):.0f} MiB), qemu-img "
        f"{mib(al['thin_qemu_img']):.0f} MiB, lunforge --assume-zeroed "
        f"{mib(al['thin_lunforge_assume_zeroed']):.0f} MiB; loop: lunforge "
        f"{mib(al['loop_lunforge']):.0f} MiB, dd {mib(al['loop_dd']):.0f} "
        "MiB.",
        "",
    ]


def md_hosts(r):
    h = r["hosts"]
    t = h["timings"]
    return [
        "## 3h. The seed's three machines",
        "",
        "virtual01, dangermouse and buggles built from their recipes "
        "(`--configure chroot`), one after the other; no other tool builds "
        "a Xen host, so times alone.",
        "",
        *md_compare(None, [("cold cache", t["hosts_cold"], None),
                           ("warm cache", t["hosts_warm"], None)]),
        "",
        "Under TCG, one run of the xen_host test:",
        "",
        *md_table(["", "s"], [[k, f"{v:.1f}"]
                              for k, v in h["boot_s"].items()]),
        "",
    ]


def md_configured(r):
    c = r["configured"]
    t, rss, ra = c["timings"], c["peak_rss_kib"], c["ratios"]
    floor = t["floor"]["median_s"]
    over_floor = ("this ÷ floor", lambda x: f"{x['median_s'] / floor:.2f}")
    out = [
        "## 3i. The configured image",
        "",
        f"{c['what']}: the usual pipelines (mmdebstrap or debootstrap into "
        "a directory, as root, then `sfdisk`, `mkswap`, `mke2fs -t ext3 "
        "-d` and `dd`, no loop device: `tests/bench/pipeline.sh`) against "
        "`lunforge build` with each `--configure` strategy (chroot; "
        "unshare, as a normal user with subordinate ids; firstboot, which "
        "leaves the maintainer scripts to the guest's first boot). Each "
        "tool has one command line: only its package cache differs "
        "between cold (empty before every run) and warm (holding every "
        "`.deb` of the set; the server's log shows that no warm run "
        "downloaded one). The index is fetched and verified in every run "
        "by every tool.",
        "",
    ]
    for cache in CFG_CACHES:
        rows = [("debootstrap pipeline", t[f"debootstrap_{cache}"],
                 rss["debootstrap"] if cache == "cold" else None)]
        rows += [(f"lunforge, {s}", t[f"{s}_{cache}"],
                  rss[s] if cache == "cold" else None)
                 for s in CFG_STRATEGIES]
        out += [f"**{cache.capitalize()} cache**", "",
                *md_compare(("mmdebstrap pipeline",
                             t[f"mmdebstrap_{cache}"],
                             rss["mmdebstrap"] if cache == "cold" else None),
                            rows, over_floor), ""]
    out += [
        *md_compare(None, [("floor: every `data.tar` of the set "
                            "decompressed, nothing written", t["floor"],
                            None)]),
        "",
        "Peak RSS: one cold run of each (the untimed one).",
        "",
        "Targets: mmdebstrap pipeline ÷ lunforge chroot and unshare ≥ 3 "
        "(" + ", ".join(
            f"{s} {cache} "
            f"{ra[f'mmdebstrap_pipeline_over_lunforge_{s}_{cache}']:.2f}"
            for s in ("chroot", "unshare") for cache in CFG_CACHES) + ").",
        "",
        "Package sets:",
        "",
    ]
    inst, sel = c["installed_packages"], c["selection"]
    out += md_table(["tool", "selection", "packages installed",
                     "set against lunforge's"],
                    [[x, sel[x], str(inst[x]),
                      c["package_set_vs_lunforge"].get(x, "—")]
                     for x in ("lunforge",) + CFG_PIPELINES], numbers=False)
    out += ["", "What a warm cache holds:", ""]
    out += [f"- {x}: {w}" for x, w in c["warm_cache"].items()]
    out += ["", "Where lunforge's time goes (its own report of the untimed "
            "cold run):", ""]
    for s in CFG_STRATEGIES:
        says = c["lunforge_says"][s]
        out.append(f"- {s}: {says['stages']}"
                   + (f"; {says['sandbox']}" if says["sandbox"] != "none"
                      else ""))
    load = c["loadavg_1min"]
    out += ["", f"Load average (1 min) around the timings: {min(load):.1f}"
            f"–{max(load):.1f}.", ""]
    return out


def cmd_markdown(results_json, out_md):
    """Write OUT_MD (atomically) from RESULTS_JSON: a full run's, or a
    one-section run's (then only its section)."""
    with open(results_json, encoding="utf-8") as f:
        r = json.load(f)
    out = md_head(r)
    full = "timings" in r
    if full:
        out += md_fetch(r)
    for key, render, what in (
            ("lun", md_lun, "3g (writes to a LUN and a loop device)"),
            ("hosts", md_hosts, "3h (the Xen hosts)"),
            ("configured", md_configured, "3i (the configured image)")):
        if key in r:
            out += render(r)
        elif full:
            out += [f"Section {what}: not measured (needs root).", ""]
    tmp = out_md + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(out).rstrip("\n") + "\n")
    os.replace(tmp, out_md)


COMMANDS = {
    "index": cmd_index, "fields": cmd_fields, "missing": cmd_missing,
    "check-pool": cmd_check_pool, "check-cache": cmd_check_cache,
    "check-debs": cmd_check_debs, "same-set": cmd_same_set,
    "apt-args": cmd_apt_args, "dirty": cmd_dirty, "pool-json": cmd_pool_json,
    "report": cmd_report, "markdown": cmd_markdown,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        die(f"usage: lib.py {{{','.join(COMMANDS)}}} ARGS")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
