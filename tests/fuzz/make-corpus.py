#!/usr/bin/env python3
"""Write the seed corpus of every fuzz target under corpus/<target>/.

The seeds are small (each under the target's -max_len in the Makefile)
and each says in its name what it is. They are committed; this script
records how they were made, and makes them again (it needs the Debian
packages e2fsprogs, util-linux, fdisk, gdisk, dosfstools, xz-utils,
zstd and cpio). Run it from anywhere: python3 tests/fuzz/make-corpus.py
"""

import gzip
import io
import lzma
import os
import struct
import subprocess
import tarfile
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
ROOT = os.path.dirname(os.path.dirname(HERE))


def seed(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw).stdout


SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

CONTROL = """Package: libfoo1
Source: foo (1.2-3)
Version: 1:1.2~rc1-3+b1
Architecture: amd64
Multi-Arch: same
Maintainer: Nobody <nobody@example.org>
Installed-Size: 42
Pre-Depends: libc6 (>= 2.36)
Depends: libbar2 (>= 2.0) | libbaz, libqux:any, perl:native (<< 6),
 foo-data (= ${binary:Version}) [amd64 !i386] <!nocheck>
Breaks: libfoo0 (<< 1.0)
Provides: libfoo (= 1.2), foo-virtual
Section: libs
Priority: optional
Description: an example library
 With a long description
 .
 over several lines.
"""

STATUS = """# dpkg status
Package: base-files
Essential: yes
Status: install ok installed
Version: 12.4+deb12u5
Architecture: amd64
Conffiles:
 /etc/debian_version 0123456789abcdef0123456789abcdef
Depends: awk | mawk

Package: dash
Version: 0.5.12-2
Architecture: amd64
Pre-Depends: libc6 (>= 2.34), debianutils (>= 5.6-0.1)
"""

PACKAGES = f"""Package: dash
Version: 0.5.12-2
Installed-Size: 212
Maintainer: Nobody <nobody@example.org>
Architecture: amd64
Essential: yes
Pre-Depends: libc6 (>= 2.34), debianutils (>= 5.6-0.1)
Description: POSIX-compliant shell
Multi-Arch: foreign
Section: shells
Priority: required
Filename: pool/main/d/dash/dash_0.5.12-2_amd64.deb
Size: 113276
SHA256: {SHA}

Package: libfoo1
Source: foo (1.2-3)
Version: 1:1.2-3
Architecture: amd64
Multi-Arch: same
Provides: libfoo (= 1.2)
Depends: libc6 (>= 2.36) | libc6.1, foo-data (= 1:1.2-3)
Conflicts: libfoo0
Breaks: libfoo0 (<< 1.0)
Priority: optional
Filename: pool/main/f/foo/libfoo1_1.2-3_amd64.deb
Size: 1000
SHA256: {SHA}
"""

RELEASE = f"""Origin: Debian
Label: Debian
Suite: stable
Version: 12.8
Codename: bookworm
Date: Sat, 09 Nov 2024 10:21:55 UTC
Valid-Until: Sat, 16 Nov 2024 10:21:55 UTC
Acquire-By-Hash: yes
Architectures: all amd64 arm64
Components: main contrib
Description: Debian 12.8 Released 09 November 2024
SHA256:
 {SHA}        0 main/binary-amd64/Packages
 {SHA}       20 main/binary-amd64/Packages.xz
 {SHA}     1234 main/i18n/Translation-en.bz2
"""


def clearsigned(text):
    # The signature block of the captured InRelease (fixtures/captured):
    # the framing is what the target reads, not the signature.
    with open(
        os.path.join(ROOT, "fixtures/captured/bookworm-updates-InRelease"), "rb"
    ) as f:
        captured = f.read().decode()
    sig = captured[captured.index("-----BEGIN PGP SIGNATURE-----"):]
    escaped = "".join(
        "- " + line if line.startswith("-") else line
        for line in text.splitlines(keepends=True)
    )
    return (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + escaped + sig
    )


def ar(members):
    out = b"!<arch>\n"
    for name, data in members:
        out += (
            f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}"
            f"{len(data):<10}`\n"
        ).encode()
        out += data
        if len(data) % 2:
            out += b"\n"
    return out


def tar(entries, fmt):
    """A tar archive cut to its two zero end blocks (no record padding)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            kind, name = e[0], e[1]
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            elif kind == "file":
                info.size = len(e[2])
                info.mode = 0o644
                if len(e) > 3:
                    info.pax_headers = e[3]
                t.addfile(info, io.BytesIO(e[2]))
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e[2]
                t.addfile(info)
            elif kind == "link":
                info.type = tarfile.LNKTYPE
                info.linkname = e[2]
                t.addfile(info)
        end = t.offset
    return buf.getvalue()[: end + 1024]


CONTROL_TAR = tar(
    [
        ("dir", "./"),
        ("file", "./control", b"Package: fuzz\nVersion: 1.0\nArchitecture: all\n"),
        ("file", "./postinst", b"#!/bin/sh\nexit 0\n"),
        ("file", "./md5sums", b"d41d8cd98f00b204e9800998ecf8427e  usr/bin/x\n"),
    ],
    tarfile.GNU_FORMAT,
)
DATA_ENTRIES = [
    ("dir", "./"),
    ("dir", "./usr/"),
    ("dir", "./usr/bin/"),
    ("file", "./usr/bin/x", b"#!/bin/sh\necho x\n"),
    ("link", "./usr/bin/y", "./usr/bin/x"),
    ("symlink", "./usr/bin/z", "x"),
]
DATA_TAR_GNU = tar(DATA_ENTRIES, tarfile.GNU_FORMAT)
DATA_TAR_PAX = tar(
    DATA_ENTRIES[:3]
    + [
        (
            "file",
            "./usr/bin/" + "long-name-" * 12,
            b"data\n",
            {"SCHILY.xattr.user.x": "1", "mtime": "1700000000.5"},
        )
    ],
    tarfile.PAX_FORMAT,
)


def deb(control_name, control, data_name, data):
    return ar(
        [
            ("debian-binary", b"2.0\n"),
            (control_name, control),
            (data_name, data),
        ]
    )


def newc(entries):
    out = b""
    ino = 1
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        nb = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 1700000000, len(data), 0, 0, 0, 0, len(nb), 0]
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + nb
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
        ino += 1
    return out


def image(tmp, name, size):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def ext_superblock(tmp, kind):
    """The first 2 KiB (boot block and superblock) of a mke2fs image."""
    path = image(tmp, kind, 1 << 20)
    run(
        "mke2fs", "-q", "-F", "-t", kind, "-L", "root",
        "-U", "0b8e4a3c-1f2d-4e5f-8a9b-0c1d2e3f4a5b",
        "-E", "root_owner=0:0,hash_seed=4b8e4a3c-1f2d-4e5f-8a9b-0c1d2e3f4a5b",
        path,
        env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"},
    )
    with open(path, "rb") as f:
        return f.read(2048)


def swap_page(tmp):
    path = image(tmp, "swap", 64 << 10)
    run("mkswap", "-L", "swap", "-U", "1b8e4a3c-1f2d-4e5f-8a9b-0c1d2e3f4a5b", path)
    with open(path, "rb") as f:
        return f.read(4096)


def place(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def pdu(opcode, flags, data=b"", specific=b"", ahs=b"", digests=0):
    bhs = bytearray(48)
    bhs[0] = opcode
    bhs[1] = flags
    bhs[4] = len(ahs) // 4
    bhs[5:8] = len(data).to_bytes(3, "big")
    bhs[16:20] = (7).to_bytes(4, "big")  # ITT
    bhs[20 : 20 + len(specific)] = specific
    out = bytes(bhs) + ahs
    return out + data + b"\0" * (-len(data) % 4)


def main():
    seed("deb822_control", "control", CONTROL)
    seed("deb822_control", "status", STATUS)
    seed("packages", "two-packages", PACKAGES)
    seed("release", "release", RELEASE)
    seed("inrelease", "clearsigned", clearsigned(RELEASE))
    seed("inrelease", "dash-escaped", clearsigned("-leading: dash\n" + RELEASE))

    seed("ar", "two-members", ar([("debian-binary", b"2.0\n"), ("odd", b"abc")]))
    seed("ar", "deb", deb("control.tar", CONTROL_TAR, "data.tar", DATA_TAR_GNU))

    seed("tar", "data-gnu", b"\0" + DATA_TAR_GNU)
    seed("tar", "data-pax", b"\0" + DATA_TAR_PAX)
    seed("tar", "control", b"\1" + CONTROL_TAR)

    seed("deb", "plain", deb("control.tar", CONTROL_TAR, "data.tar", DATA_TAR_GNU))
    seed(
        "deb",
        "gz-xz",
        deb(
            "control.tar.gz",
            gzip.compress(CONTROL_TAR, mtime=0),
            "data.tar.xz",
            lzma.compress(DATA_TAR_PAX, check=lzma.CHECK_CRC64),
        ),
    )
    seed(
        "deb",
        "zst",
        deb(
            "control.tar.zst",
            run("zstd", "-q", "-c", input=CONTROL_TAR),
            "data.tar.zst",
            run("zstd", "-q", "-c", input=DATA_TAR_GNU),
        ),
    )

    seed(
        "cpio",
        "initrd",
        newc(
            [
                ("bin", 0o40755, b""),
                ("bin/sh", 0o100755, b"#!/bin/busybox sh\n"),
                ("init", 0o120777, b"bin/sh"),
            ]
        ),
    )

    with open(os.path.join(ROOT, "recipes/virtual01.toml")) as f:
        seed("recipe", "virtual01", f.read().replace('"host"', '"http://mirror.invalid/debian"', 1))
    seed(
        "recipe",
        "minimal-with-sets",
        '[image]\nname = "g"\n\n[system]\nsuite = "bookworm"\n'
        'mirror = "file:///srv/mirror"\n\n[[partitions]]\nmount = "/"\n'
        'size = "rest"\nfs = "ext4"\n'
        '\0system.include=["vim"]\npartitions.1.size=6GiB\n',
    )

    seed(
        "lockfile",
        "lock",
        f"""# lunforge lockfile
format = 2

[release]
suite = "bookworm"
codename = "bookworm"
date = "Sat, 09 Nov 2024 10:21:55 UTC"
path = "dists/bookworm/InRelease"
sha256 = "{SHA}"

[inputs]
suite = "bookworm"
architecture = "amd64"
variant = "minbase"
components = ["main"]
include = ["vim"]
exclude = []

[[package]]
name = "dash"
version = "0.5.12-2"
architecture = "amd64"
path = "pool/main/d/dash/dash_0.5.12-2_amd64.deb"
size = 113276
sha256 = "{SHA}"
why = "Essential: yes"

[[tool]]
name = "busybox-static"
version = "1:1.35.0-4"
architecture = "amd64"
path = "pool/main/b/busybox/busybox-static_1.35.0-4_amd64.deb"
size = 1000
sha256 = "{SHA}"
""",
    )

    with tempfile.TemporaryDirectory() as tmp:
        ext4 = ext_superblock(tmp, "ext4")
        ext3 = ext_superblock(tmp, "ext3")
        swap = swap_page(tmp)
        # MBR: an ext4 partition and a swap partition, 512-byte sectors.
        mbr = image(tmp, "mbr.img", 24 << 10)
        run("sfdisk", "-q", "--no-reread", "--no-tell-kernel", mbr,
            input=b"label: dos\nlabel-id: 0x1234abcd\n2,8,83\n10,36,82\n")
        place(mbr, 2 * 512, ext4)
        place(mbr, 10 * 512, swap)
        seed("inspect", "mbr-ext4-swap", read(mbr))
        # GPT on 80 sectors: one partition (LBA 34-46) holding ext3.
        gpt = image(tmp, "gpt.img", 80 * 512)
        run("sgdisk", "-q", "-a", "1", "-U", "2b8e4a3c-1f2d-4e5f-8a9b-0c1d2e3f4a5b",
            "-n", "1:34:46", "-t", "1:8300",
            "-u", "1:3b8e4a3c-1f2d-4e5f-8a9b-0c1d2e3f4a5b", gpt)
        place(gpt, 34 * 512, ext3)
        seed("inspect", "gpt-ext3", read(gpt))
        # No table: a FAT file system's first 4 KiB.
        fat = image(tmp, "fat.img", 1 << 20)
        run("mkfs.fat", "--invariant", "-i", "12345678", "-n", "ESP", fat)
        seed("inspect", "fat-no-table", read(fat)[:4096])

    # mode byte: bit 0 header digest, bit 1 data digest, bit 2 large
    # MaxRecvDataSegmentLength.
    login = pdu(0x23, 0x87, b"TargetPortalGroupTag=1\0HeaderDigest=None\0"
                b"MaxRecvDataSegmentLength=262144\0", bytes(4))
    text = pdu(0x24, 0x80, b"TargetName=iqn.2024-01.org.example:disk\0"
               b"TargetAddress=127.0.0.1:3260,1\0"
               b"TargetAddress=[::1]:3260,1\0")
    inquiry = bytes([0, 0, 6, 2, 31, 0, 0, 0]) + b"LIO-ORG " + b"disk" + b" " * 12 + b"4.0 "
    data_in = pdu(0x25, 0x81, inquiry)
    capacity = pdu(0x25, 0x81, (1 << 20).to_bytes(8, "big") + (512).to_bytes(4, "big") + bytes(20))
    sense = bytes([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x21, 0, 0, 0, 0, 0])
    rsp = pdu(0x21, 0x80, len(sense).to_bytes(2, "big") + sense, bytes([0, 2]))
    r2t = pdu(0x31, 0x80)
    nop = pdu(0x20, 0x80, b"ping")
    ahs = pdu(0x21, 0x80, b"", bytes([0, 0]), ahs=bytes([0, 1, 1, 0]) + bytes(0))
    seed("iscsi_pdu", "login-text", b"\0" + login + text)
    seed("iscsi_pdu", "scsi", b"\0" + data_in + capacity + rsp + r2t + nop + ahs)
    seed("iscsi_pdu", "report-luns", b"\4" + pdu(0x25, 0x81, (16).to_bytes(4, "big") + bytes(4) + bytes(8) + bytes([0, 1]) + bytes(6)))


if __name__ == "__main__":
    main()
