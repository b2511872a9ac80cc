"""What of an experiment's work folder the device commands carry, in loads that fit one command.

A device command carries at most 64 MiB: the checkout's files, ``.whl/`` and the folders named in its
``carry``. The work folder of the paper_small experiment is larger (the QA alone ~27 MB, the frames
~56 MB), so its files travel in several calls to one warm machine: a call's ``carry`` replaces only the
paths it names, and the ignored folders earlier calls left there stay (docs/experiment.md, "Where it
runs").

    python3 scripts/device_carry.py split WORK DEST geometry|runs
        DEST.1, DEST.2, ... (hard links where WORK is on the same file system), each small enough to
        travel beside the checkout and .whl/; prints the calls: every load but the last with a command
        that does nothing, the last with .whl/ and scripts/device_experiment.sh DEST ...
    python3 scripts/device_carry.py join DEST
        (on the device, by scripts/device_experiment.sh) the loads of one split linked into DEST, then
        removed; fails, naming them, when loads of that split are missing (the machine was given back
        between calls).
    python3 scripts/device_carry.py snapshot WORK; ...; python3 scripts/device_carry.py pack WORK OUT
        (on the device, by scripts/device_experiment.sh, before and after the experiment) what the command
        made or changed in WORK (of ``RETURNED``, less ``NOT_RETURNED``) as OUT/work.tar.gz.1, .2, ..., each
        under what one file back from a command may weigh; fails, naming the largest files, when it is more
        than a command returns.
    python3 scripts/device_carry.py unpack DIR WORK
        (here) the pieces a command brought back, into WORK.

Parts: ``geometry`` is what the geometry step reads (ledger, checkout.json, bundle/; the device makes
vlm-bundle/ from bundle/, so on one warm machine this part serves every step); ``runs`` is what training
and scoring read on a fresh machine after the geometry step (ledger,
checkout.json, vlm-bundle/ and what earlier commands brought back: geometry/, eval/, mlflow/, logs/).
Standard library only: it runs on the bare GPU machine too.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

LIMIT_MIB = 64  # what one device command carries, checkout included
MARGIN_MIB = 1  # what the checkout may grow by between this split and the call
PER_FILE = 1024  # what a file weighs in transit beyond its bytes (an archive's header and padding): a call of
# 63.0 MiB of bytes in ~5,000 files (the checkout, .whl/ and a load) was refused as over 64 MiB
PARTS = {
    "geometry": ("ledger.json", "checkout.json", "bundle"),  # vlm-bundle/ is made from it there (device_experiment.sh)
    "runs": ("ledger.json", "checkout.json", "vlm-bundle", "geometry", "eval", "mlflow", "logs"),
}
REQUIRED = ("ledger.json", "checkout.json")
LOAD_FILE = ".load.json"  # in every load: its split's id, its number and how many there are
MIB = 2**20
# what a device command brings back: what it made or changed of these (the checkpoints stay on the machine)
RETURNED = ("ledger.json", "eval", "mlflow", "geometry", "logs", "results")
NOT_RETURNED = (
    "geometry/vggt.safetensors",  # the pretrained VGGT with its heads; the runs read geometry/encoder.safetensors
    "mlflow/artifacts/*/checkpoint/*",  # each run's final weights as logged to MLflow (160 MB at small)
)
SNAPSHOT = ".before.json"  # in WORK: size and mtime of every file of RETURNED when the command began
BACK_NAME = "work.tar.gz"  # the pieces BACK_NAME.1, .2, ...
BACK_PIECE_MIB, BACK_LIMIT_MIB, BACK_FILES = 15, 64, 8  # a file back from $OUT: 16 MiB; 64 MiB and 8 files a call


def files_of(work: Path, part: str) -> list[Path]:
    """The files of ``part`` under ``work``, relative to it, in path order."""
    for name in REQUIRED:
        if not (work / name).is_file():
            raise SystemExit(f"device_carry: {work / name} is missing: run the CPU part of the experiment first")
    out = []
    for rel in PARTS[part]:
        path = work / rel
        if path.is_file():
            out.append(Path(rel))
        elif path.is_dir():
            out += [p.relative_to(work) for p in path.rglob("*") if p.is_file()]
    return sorted(out)


def tree_bytes(repo: Path) -> int:
    """The checkout as a device command sends it: tracked and untracked, not ignored files."""
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    return sum(in_transit(repo / f) for f in listed if f and (repo / f).is_file())


def in_transit(path: Path) -> int:
    return path.stat().st_size + PER_FILE


def folder_bytes(folder: Path) -> int:
    return sum(in_transit(p) for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def pack(sizes: dict[Path, int], budget: int) -> list[list[Path]]:
    """Files in path order, a new load whenever the next would not fit; a file over the budget fails."""
    loads: list[list[Path]] = [[]]
    used = 0
    for rel, size in sizes.items():
        if size > budget:
            raise SystemExit(f"device_carry: {rel} is {size / MIB:.1f} MiB, over the {budget / MIB:.1f} MiB "
                             "one call can carry beside the checkout and .whl/")
        if used + size > budget and loads[-1]:
            loads.append([])
            used = 0
        loads[-1].append(rel)
        used += size
    return loads


def split(work: Path, dest: Path, part: str, budget: int) -> list[Path]:
    """``dest``.1 .. ``dest``.N, the files of ``part`` in loads of at most ``budget`` bytes; returns them."""
    sizes = {rel: in_transit(work / rel) for rel in files_of(work, part)}
    loads = pack(sizes, budget)
    split_id = hashlib.sha256(json.dumps([[str(r), s] for r, s in sizes.items()]).encode()).hexdigest()[:12]
    for old in dest.parent.glob(f"{dest.name}.*"):
        if old.is_dir() and old.suffix[1:].isdigit():
            shutil.rmtree(old)
    folders = []
    for k, rels in enumerate(loads, 1):
        folder = dest.parent / f"{dest.name}.{k}"
        for rel in rels:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(work / rel, folder / rel)
            except OSError:
                shutil.copy2(work / rel, folder / rel)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / LOAD_FILE).write_text(json.dumps({"split": split_id, "load": k, "loads": len(loads)}))
        folders.append(folder)
    return folders


def join(dest: Path) -> None:
    """Link the loads ``dest``.k of the newest split into ``dest`` (a file there is replaced)."""
    loads = [json.loads(f.read_text()) | {"folder": f.parent}
             for f in dest.parent.glob(f"{dest.name}.*/{LOAD_FILE}")]
    if not loads:
        raise SystemExit(f"device_carry: no load {dest}.N here: carry them first")
    newest = max(loads, key=lambda d: d["folder"].stat().st_mtime)
    mine = {d["load"]: d["folder"] for d in loads if d["split"] == newest["split"]}
    missing = sorted(set(range(1, newest["loads"] + 1)) - set(mine))
    if missing:
        raise SystemExit(f"device_carry: loads {', '.join(f'{dest.name}.{k}' for k in missing)} of "
                         f"{newest['loads']} are not on this machine (given back between calls?): carry them again")
    for k in sorted(mine):
        for path in sorted(mine[k].rglob("*")):
            if not path.is_file() or path.name == LOAD_FILE:
                continue
            target = dest / path.relative_to(mine[k])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            os.link(path, target)
    for old in dest.parent.glob(f"{dest.name}.*"):  # joined (or of an older split): a later command of this
        if old.is_dir() and old.suffix[1:].isdigit():  # machine finds no load, joins nothing, and so keeps
            shutil.rmtree(old)  # what the commands before it wrote in DEST (the ledger above all)


def _returned(work: Path) -> dict[str, list[int]]:
    """Every file of ``RETURNED`` under ``work``: relative path -> [size, mtime_ns]."""
    out = {}
    for rel in RETURNED:
        path = work / rel
        for f in [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []:
            if f.is_file():
                st = f.stat()
                out[f.relative_to(work).as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def snapshot(work: Path) -> None:
    (work / SNAPSHOT).write_text(json.dumps(_returned(work)))


def to_return(work: Path) -> list[str]:
    """The files of ``RETURNED`` made or changed since ``snapshot`` (all of them without one), less ``NOT_RETURNED``."""
    before = json.loads((work / SNAPSHOT).read_text()) if (work / SNAPSHOT).is_file() else {}
    return [rel for rel, key in _returned(work).items()
            if before.get(rel) != key and not any(fnmatch.fnmatch(rel, p) for p in NOT_RETURNED)]


class _Pieces(io.RawIOBase):
    """A write-only stream cut into files ``<stem>.1``, ``<stem>.2``, ... of at most ``size`` bytes."""

    def __init__(self, stem: Path, size: int) -> None:
        self.stem, self.size, self.paths, self.left = stem, size, [], 0
        self.file: io.BufferedWriter | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            if self.left == 0:
                self._next()
            n = min(self.left, len(view))
            self.file.write(view[:n])
            view, self.left = view[n:], self.left - n
        return len(data)

    def _next(self) -> None:
        if self.file:
            self.file.close()
        self.paths.append(self.stem.parent / f"{self.stem.name}.{len(self.paths) + 1}")
        self.file, self.left = open(self.paths[-1], "wb"), self.size

    def close(self) -> None:
        if self.file:
            self.file.close()
        super().close()


def pack_back(work: Path, out: Path, piece: int = BACK_PIECE_MIB * MIB) -> list[Path]:
    """What the command made or changed in ``work`` as ``out``/work.tar.gz.1, .2, ...; fails when the pieces are
    more than one command brings back (``BACK_FILES`` files, ``BACK_LIMIT_MIB`` MiB), naming the largest files."""
    files = to_return(work)
    pieces = _Pieces(out / BACK_NAME, piece)
    with pieces, tarfile.open(fileobj=pieces, mode="w:gz") as tar:
        for rel in files:
            tar.add(work / rel, arcname=rel)
    total = sum(p.stat().st_size for p in pieces.paths)
    if len(pieces.paths) > BACK_FILES or total > BACK_LIMIT_MIB * MIB:
        largest = sorted(files, key=lambda r: -(work / r).stat().st_size)[:5]
        raise SystemExit(f"device_carry: what comes back is {total / MIB:.1f} MiB in {len(pieces.paths)} pieces, over "
                         f"{BACK_LIMIT_MIB} MiB / {BACK_FILES} files a command returns; largest: "
                         + ", ".join(f"{r} ({(work / r).stat().st_size / MIB:.1f} MiB)" for r in largest))
    return pieces.paths


def unpack(folder: Path, work: Path) -> list[str]:
    """The pieces ``folder``/work.tar.gz.1..N of one command, extracted into ``work``; the files, or a failure
    naming the pieces missing."""
    numbers = sorted(int(p.suffix[1:]) for p in folder.glob(f"{BACK_NAME}.*") if p.suffix[1:].isdigit())
    if not numbers:
        raise SystemExit(f"device_carry: no {BACK_NAME}.N in {folder}")
    missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if missing:
        raise SystemExit(f"device_carry: {folder} lacks {', '.join(f'{BACK_NAME}.{k}' for k in missing)}")
    data = b"".join((folder / f"{BACK_NAME}.{k}").read_bytes() for k in numbers)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(work, filter="data")
        return tar.getnames()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("split")
    s.add_argument("work", type=Path)
    s.add_argument("dest", type=Path, help="A git-ignored folder of the checkout (loads DEST.1, DEST.2, ...).")
    s.add_argument("part", choices=sorted(PARTS))
    s.add_argument("--budget-mib", type=float, default=None,
                   help="Bytes per load (default: 64 MiB less the checkout, .whl/ and a 1 MiB margin).")
    j = sub.add_parser("join")
    j.add_argument("dest", type=Path)
    sub.add_parser("snapshot").add_argument("work", type=Path)
    p = sub.add_parser("pack")
    p.add_argument("work", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--piece-mib", type=float, default=BACK_PIECE_MIB, help="Bytes per piece (tests: less).")
    u = sub.add_parser("unpack")
    u.add_argument("folder", type=Path, help="Where the command's files came back (the reply's files_at).")
    u.add_argument("work", type=Path)
    args = parser.parse_args()
    if args.what == "join":
        join(args.dest)
        return
    if args.what == "snapshot":
        snapshot(args.work)
        return
    if args.what == "pack":
        for path in pack_back(args.work, args.out, int(args.piece_mib * MIB)):
            print(f"{path} ({path.stat().st_size / MIB:.1f} MiB)")
        return
    if args.what == "unpack":
        print(f"{len(unpack(args.folder, args.work))} files into {args.work}")
        return
    repo = Path(__file__).resolve().parents[1]
    taken = tree_bytes(repo) + folder_bytes(repo / ".whl") + MARGIN_MIB * MIB
    budget = int(args.budget_mib * MIB) if args.budget_mib else LIMIT_MIB * MIB - taken
    if budget <= 0:
        sys.exit(f"device_carry: the checkout and .whl/ take {taken / MIB:.1f} of the {LIMIT_MIB} MiB already")
    folders = split(args.work, args.dest, args.part, budget)
    for k, folder in enumerate(folders, 1):
        carry = [str(folder)] + ([".whl"] if k == len(folders) else [])
        what = "scripts/device_experiment.sh ..." if k == len(folders) else "true (lands the load)"
        print(f"call {k}/{len(folders)}: carry {json.dumps(carry)} ({folder_bytes(folder) / MIB:.1f} MiB): {what}")


if __name__ == "__main__":
    main()
