"""The training corpus: source files under folders, deduplicated, split into train and held-out by file.

The default folder is this interpreter's standard library (PSF license) without its test suites;
other languages' files are taken by suffix (`CODE_SUFFIXES`), each folder optionally capped in bytes.
The split is a hash of each file's relative path, so it is stable across machines and runs.
Installed packages (site-packages) are taken only when asked, and then only the files of distributions
that declare a permissive licence (model.train.licenses).
"""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from model.train import licenses

EXCLUDED_DIRS = {"test", "tests", "idle_test", "__pycache__", "testdata", "vendor"}
INSTALLED_DIRS = {"site-packages", "dist-packages"}  # left out unless asked for: other licenses
MAX_FILE_BYTES = 400_000  # generated tables (e.g. unicode data) teach nothing about code
# The languages the server knows (lsp/fill/syntax.py); `.d.ts` declarations and minified bundles are skipped.
CODE_SUFFIXES = (".py", ".js", ".mjs", ".ts", ".go", ".rs")
SKIPPED_NAMES = (".d.ts", ".min.js", "_test.go")
PROJECT_DIR = Path(__file__).resolve().parents[2]  # this repository: never its own training data


@dataclass(frozen=True)
class SourceFile:
    path: Path
    rel: str
    text: str


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _wanted(path: Path, suffixes: tuple[str, ...]) -> bool:
    return path.suffix in suffixes and not path.name.endswith(SKIPPED_NAMES)


def collect(
    root: Path,
    installed: bool = False,
    seen: set[str] | None = None,
    suffixes: tuple[str, ...] = (".py",),
    cap_bytes: int = 0,
) -> list[SourceFile]:
    """Source files under root with one of `suffixes`, without test suites, huge files or
    duplicates (by content); installed packages (site-packages) only when `installed`, and then only
    the Python files a permissive distribution owns (model.train.licenses.why_excluded). With
    `cap_bytes`, files are taken in a stable pseudo-random order until the cap, so a big tree
    (the Go standard library) does not drown the others."""
    seen = set() if seen is None else seen
    out: list[SourceFile] = []
    # A root that holds a site-packages (the stdlib holds pyenv's) does not pull it in: installed
    # packages come only from roots that are, or lie in, one, and only with `installed`, so that
    # each can have its own cap.
    skip = EXCLUDED_DIRS | INSTALLED_DIRS
    paths = sorted(p for p in root.rglob("*") if _wanted(p, suffixes) and p.is_file())
    if cap_bytes:
        paths.sort(key=lambda p: hashlib.sha256(p.relative_to(root).as_posix().encode()).hexdigest())
    total = 0
    for path in paths:
        rel = path.relative_to(root)
        if any(part in skip for part in rel.parts[:-1]):
            continue
        # Installed files are always licence-filtered, whether the root is a site-packages folder,
        # lies in one, or holds one (then only with `installed`); only their Python is taken.
        in_site = licenses.site_packages_of(path) is not None
        if in_site and (path.suffix != ".py" or not installed):
            continue
        if installed and not in_site and path.resolve().is_relative_to(PROJECT_DIR):
            continue
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        if not raw.strip() or len(raw) > MAX_FILE_BYTES:
            continue
        if in_site and licenses.why_excluded(path, raw):
            continue
        digest = hashlib.sha256(raw).hexdigest()
        if digest in seen:
            continue
        if cap_bytes and total + len(raw) > cap_bytes:
            continue
        seen.add(digest)
        total += len(raw)
        out.append(SourceFile(path, rel.as_posix(), raw.decode("utf-8", errors="replace")))
    return out


def collect_all(
    roots: list[Path],
    installed: bool = False,
    suffixes: tuple[str, ...] = (".py",),
    cap_bytes: int | list[int] = 0,
) -> list[SourceFile]:
    """Several folders as one corpus, deduplicated across them, each capped at `cap_bytes` (one
    cap for all, or one per root)."""
    caps = cap_bytes if isinstance(cap_bytes, list) else [cap_bytes] * len(roots)
    if len(caps) != len(roots):
        raise ValueError(f"{len(caps)} caps for {len(roots)} data folders")
    seen: set[str] = set()
    return [f for root, cap in zip(roots, caps, strict=True) for f in collect(root, installed, seen, suffixes, cap)]


def is_held_out(rel: str, percent: int = 3) -> bool:
    return int(hashlib.sha256(rel.encode()).hexdigest(), 16) % 100 < percent


def split(files: list[SourceFile], percent: int = 3) -> tuple[list[SourceFile], list[SourceFile]]:
    train = [f for f in files if not is_held_out(f.rel, percent)]
    held = [f for f in files if is_held_out(f.rel, percent)]
    if not held and len(train) > 1:  # a small folder still gets a held-out file
        held = [train.pop()]
    return train, held


def main(argv: list[str] | None = None) -> None:
    """Print the paths of one split, one a line (for `fillgap measure $(python -m model.train.corpus)`),
    or copy a capped sample of a folder (`--copy-to`), as the multi-language fine-tune's data was made."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m model.train.corpus", description=main.__doc__)
    p.add_argument("--data", default=str(stdlib_dir()))
    p.add_argument("--split", choices=("train", "held-out"), default="held-out")
    p.add_argument("--suffixes", default=".py", help="comma-separated, e.g. .go or .js,.mjs")
    p.add_argument("--cap-mb", type=float, default=0.0, help="at most this many MB of files")
    p.add_argument("--copy-to", default=None, help="copy the (capped) files, all splits, into this folder")
    ns = p.parse_args(argv)
    files = collect(Path(ns.data), suffixes=tuple(ns.suffixes.split(",")), cap_bytes=int(ns.cap_mb * 1e6))
    if ns.copy_to:
        for f in files:
            out = Path(ns.copy_to) / f.rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(f.text)
        return
    train, held = split(files)
    for f in held if ns.split == "held-out" else train:
        print(f.path)


if __name__ == "__main__":
    main()
