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
  report OUT_JSON key=value ... (hyperfine JSON files and extras; with
                                 only=lun, only=hosts or only=configured,
                                 that section's alone)
"""

import hashlib
import json
import os
import statistics
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
               "lunforge": a["lunforge"], "runs": int(a["runs"]),
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
               "lunforge": a["lunforge"], **extra, section: res}
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


CFG_STRATEGIES = ("chroot", "unshare", "firstboot")


def configured_report(a):
    """Section 3i: the configured image, the usual pipeline against each
    lunforge strategy (ratios pipeline over lunforge: > 1, lunforge is
    faster), each against the decompression floor, the stage lines of one
    lunforge run each, peak RSS (KiB) and the load while measuring."""
    keys = ("cfg_floor", "cfg_pipeline", "cfg_firstboot_cold") + tuple(
        f"cfg_{s}" for s in CFG_STRATEGIES)
    t = {k[4:]: hf(a[k]) for k in keys}
    med = {k: v["median_s"] for k, v in t.items()}
    res = {
        "what": f"{a['cfg_suite']} {a['cfg_variant']} + linux-image-amd64 "
                "openssh-server, 4 GiB MBR, swap + ext3",
        "packages": int(a["cfg_packages"]),
        "download_bytes": int(a["cfg_bytes"]),
        "package_set_vs_mmdebstrap": a["cfg_same_set"],
        "mmdebstrap": a["cfg_mmdebstrap"],
        "timings": t,
        "ratios": {
            **{f"pipeline_over_lunforge_{s}": med["pipeline"] / med[s]
               for s in CFG_STRATEGIES},
            "pipeline_over_lunforge_firstboot_cold":
                med["pipeline"] / med["firstboot_cold"],
            **{f"lunforge_{s}_over_floor": med[s] / med["floor"]
               for s in CFG_STRATEGIES},
            "pipeline_over_floor": med["pipeline"] / med["floor"],
        },
        "targets": {f"pipeline_over_lunforge_{s}": 3.0
                    for s in ("chroot", "unshare")},
        "lunforge_says": {
            s: {"stages": a[f"cfg_stages_{s}"],
                "sandbox": a[f"cfg_sandbox_{s}"]}
            for s in CFG_STRATEGIES
        },
        "peak_rss_kib": {
            # GNU time's %M: the largest single process, not a sum.
            "pipeline_largest_process": int(a["cfg_rss_pipeline"]),
            **{f"lunforge_{s}": int(a[f"cfg_rss_{s}"])
               for s in CFG_STRATEGIES},
        },
        "loadavg_1min": [float(x) for x in a["cfg_load"].split()],
    }
    r, rss = res["ratios"], res["peak_rss_kib"]
    load = res["loadavg_1min"]
    lines = [
        f"3i. configured image ({res['what']}; {res['packages']} pkgs, "
        f"{res['download_bytes'] / (1 << 20):.1f} MiB; medians of "
        f"{t['pipeline']['runs']} runs; load average {min(load):.1f}-"
        f"{max(load):.1f} while measuring):",
        f"    pipeline (mmdebstrap --mode=root, sfdisk, mkswap, mke2fs -d, "
        f"dd) {med['pipeline']:.1f} s; floor (data.tar decompressed) "
        f"{med['floor']:.1f} s",
    ]
    for s in CFG_STRATEGIES:
        target = " (target >= 3)" if s in ("chroot", "unshare") else ""
        lines.append(
            f"    lunforge {s:9}: {med[s]:.1f} s, pipeline/lunforge "
            f"{r[f'pipeline_over_lunforge_{s}']:.2f}{target}, "
            f"{r[f'lunforge_{s}_over_floor']:.2f}x the floor; peak RSS "
            f"{rss[f'lunforge_{s}'] / 1024:.0f} MiB")
    lines.append(
        f"    lunforge firstboot, cold cache: {med['firstboot_cold']:.1f} s, "
        f"pipeline/lunforge {r['pipeline_over_lunforge_firstboot_cold']:.2f}")
    lines.append(f"    pipeline peak RSS (largest process) "
                 f"{rss['pipeline_largest_process'] / 1024:.0f} MiB; package"
                 f" sets of lunforge and mmdebstrap: "
                 f"{res['package_set_vs_mmdebstrap']}")
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
               f"the configured image only; mmdebstrap {res['mmdebstrap']}",
               runs=int(a["runs"]))


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
    configured = configured_report(a) if "cfg_pipeline" in a else None
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
            "resolve": int(a["rss_resolve"]),
            "tar_lunforge": int(a["rss_tar_lunforge"]),
            # GNU time's %M: the largest single process of mmdebstrap's
            # tree (ru_maxrss of the waited-for descendants), not a sum.
            "tar_mmdebstrap_largest_process": int(a["rss_tar_mmdebstrap"]),
            "mkfs_lunforge": int(a["rss_mkfs_lunforge"]),
            "mkfs_mke2fs": int(a["rss_mkfs_mke2fs"]),
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


COMMANDS = {
    "index": cmd_index, "fields": cmd_fields, "missing": cmd_missing,
    "check-pool": cmd_check_pool, "check-cache": cmd_check_cache,
    "check-debs": cmd_check_debs, "same-set": cmd_same_set,
    "apt-args": cmd_apt_args, "dirty": cmd_dirty, "report": cmd_report,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        die(f"usage: lib.py {{{','.join(COMMANDS)}}} ARGS")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
