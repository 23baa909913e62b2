"""The training sources that are not this interpreter's: fetched from the package registries, recorded.

`python -m model.train.sources` (or `make corpora`) downloads the Go and Rust standard libraries'
source packages from Debian (`apt-get download`, then `dpkg -x`), the TypeScript sources of three npm
packages (`npm pack`; the `.ts` files without the `.d.ts` declarations), and points at npm's own
JavaScript tree and the Python standard library already on the machine. It writes `sources.json`
beside them: each root's path, package, version, licence (from the package itself) and what the
corpus takes from it by suffix, and the licence filter's table for the site-packages folders. A second
run reuses what the first unpacked. These are the sources model/checkpoints/fillgap-small/README.md's
"Training" section names.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from model.train import licenses
from model.train.corpus import CODE_SUFFIXES, collect, stdlib_dir

DEBIAN = ("golang-1.19-src", "rust-src")
NPM = ("rxjs@7.8.2", "zod@4.6.7", "typescript-eslint@8.73.0")
NODE_MODULES = Path("/usr/lib/node_modules")
SITE_PACKAGES = (
    Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages",
    Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages",
)
# Where each Debian package keeps its sources, and the copyright stanza that covers them.
DEB_ROOTS = {"golang-1.19-src": ("usr/share/go-1.19/src", "*"), "rust-src": ("usr/src/rustc-*/library", "library/*")}


def default_dir() -> Path:
    return Path(os.environ.get("FILLGAP_CORPORA") or Path.home() / ".cache" / "fillgap" / "corpora")


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def candidate_version(package: str) -> str:
    """The version `apt-get download` fetches: apt-cache policy's candidate."""
    out = _run(["apt-cache", "policy", package], Path.cwd()).stdout
    found = re.search(r"Candidate:\s*(\S+)", out)
    if not found or found.group(1) == "(none)":
        raise SystemExit(f"{package}: no candidate in apt-cache policy; run apt-get update")
    return found.group(1)


def fetch_deb(package: str, out: Path) -> tuple[Path, str]:
    """The package unpacked under out/deb/<package> (once), and its version."""
    dest = out / "deb" / package
    stamp = dest / ".fillgap-version"
    if stamp.is_file():
        return dest, stamp.read_text().strip()
    version = candidate_version(package)
    debs = out / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    got = _run(["apt-get", "download", f"{package}={version}"], debs)
    if got.returncode != 0:  # a stale package list: refresh it once
        _run(["apt-get", "update"], debs)
        version = candidate_version(package)
        got = _run(["apt-get", "download", f"{package}={version}"], debs)
        if got.returncode != 0:
            raise SystemExit(f"apt-get download {package}: {got.stderr.strip()}")
    deb = max(debs.glob(f"{package}_*.deb"), key=lambda d: d.stat().st_mtime)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    subprocess.run(["dpkg", "-x", str(deb), str(dest)], check=True)
    stamp.write_text(version + "\n")
    return dest, version


def fetch_npm(spec: str, out: Path) -> tuple[Path, dict[str, Any]]:
    """The package's `.ts` sources (not `.d.ts`) copied under out/ts/<name> (once), and its package.json."""
    name, _, version = spec.rpartition("@")
    dest = out / "ts" / name
    meta_path = out / "npm" / f"{name}-{version}" / "package.json"
    if not meta_path.is_file():
        pack = out / "npm"
        pack.mkdir(parents=True, exist_ok=True)
        got = _run(["npm", "pack", spec, "--silent"], pack)
        if got.returncode != 0:
            raise SystemExit(f"npm pack {spec}: {got.stderr.strip()}")
        tgz = pack / got.stdout.strip().splitlines()[-1]
        with tempfile.TemporaryDirectory(dir=pack) as tmp, tarfile.open(tgz) as tar:
            tar.extractall(tmp, filter="data")
            src = Path(tmp) / "package"
            if dest.exists():
                shutil.rmtree(dest)
            for path in sorted(src.rglob("*.ts")):
                if path.name.endswith(".d.ts") or not path.is_file():
                    continue
                target = dest / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / "package.json", meta_path)
    return dest, json.loads(meta_path.read_text())


def copyright_licenses(copyright_file: Path, files_pattern: str) -> tuple[str, list[str]]:
    """A Debian machine-readable copyright file's licence for the stanza whose Files include
    `files_pattern`, and every licence the file names."""
    text = copyright_file.read_text(encoding="utf-8", errors="replace")
    main = "unknown"
    for stanza in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.M)
        lic = re.search(r"^License:\s*(.+)", stanza, re.M)
        if files and lic and main == "unknown" and files_pattern in files.group(1).split():
            main = " ".join(lic.group(1).split())
    every = sorted({" ".join(m.split()) for m in re.findall(r"^License:\s*(.+)", text, re.M)})
    return main, every


def node_licenses(root: Path) -> dict[str, int]:
    """How many packages in a node_modules tree declare each licence (package.json "license")."""
    count: Counter[str] = Counter()
    for meta in root.rglob("package.json"):
        home = meta.parent.parent
        if home.name != "node_modules" and not (home.name.startswith("@") and home.parent.name == "node_modules"):
            continue  # a package's inner package.json files (its own fixtures, its dist folders)
        try:
            lic = json.loads(meta.read_text()).get("license")
        except (OSError, ValueError, AttributeError):
            continue
        count[str(lic) if isinstance(lic, str) else json.dumps(lic)] += 1
    return dict(count.most_common())


def contents(root: Path, suffixes: tuple[str, ...] = CODE_SUFFIXES) -> dict[str, dict[str, int]]:
    """What the corpus takes from a root, by suffix: files and bytes (after its exclusions)."""
    out: dict[str, dict[str, int]] = {}
    for f in collect(root, suffixes=suffixes):
        row = out.setdefault(f.path.suffix, {"files": 0, "bytes": 0})
        row["files"] += 1
        row["bytes"] += f.path.stat().st_size
    return dict(sorted(out.items()))


def site_packages_record(site: Path) -> dict[str, Any]:
    """A site-packages folder through the licence filter: what is kept, by distribution and licence,
    and which distributions are left out and why."""
    files = collect(site, installed=True)
    by_dist: Counter[str] = Counter()
    for f in files:
        dist = licenses.owners(site).get(Path(os.path.normpath(f.path)))
        if dist is not None:
            by_dist[f"{dist.name}=={dist.version}"] += f.path.stat().st_size
    kept = {d.name for d in licenses.distributions(site) if d.verdict.permissive}
    return {
        "path": str(site),
        "files": len(files),
        "bytes": sum(by_dist.values()),
        "distributions_kept": len(kept),
        "biggest": dict(by_dist.most_common(15)),
        "by_license": licenses.summary(files),
        "excluded": licenses.excluded(site),
    }


def build(out: Path) -> dict[str, Any]:
    """Fetch what is missing under `out` and describe every root."""
    out.mkdir(parents=True, exist_ok=True)
    roots: dict[str, Any] = {}
    for package in DEBIAN:
        dest, version = fetch_deb(package, out)
        pattern, stanza = DEB_ROOTS[package]
        root = next(dest.glob(pattern))
        main, every = copyright_licenses(dest / "usr/share/doc" / package / "copyright", stanza)
        lang = "go" if package.startswith("golang") else "rust"
        roots[lang] = {"path": str(root), "package": f"debian:{package}", "version": version,
                       "license": main, "licenses_in_copyright": every, "suffixes": contents(root)}  # fmt: skip
    ts_root = out / "ts"
    packages = []
    for spec in NPM:
        dest, meta = fetch_npm(spec, out)
        packages.append({"package": f"npm:{meta['name']}", "version": meta["version"],
                         "license": meta.get("license", "unknown"), "suffixes": contents(dest)})  # fmt: skip
    roots["ts"] = {"path": str(ts_root), "packages": packages, "suffixes": contents(ts_root)}
    if NODE_MODULES.is_dir():
        npm_meta = json.loads((NODE_MODULES / "npm" / "package.json").read_text())
        roots["js"] = {"path": str(NODE_MODULES), "package": "npm (the system's own tree)",
                       "version": npm_meta["version"], "license": npm_meta.get("license", "unknown"),
                       "licenses_of_packages": node_licenses(NODE_MODULES),
                       "suffixes": contents(NODE_MODULES)}  # fmt: skip
    py = stdlib_dir()
    roots["python"] = {"path": str(py), "package": "CPython standard library", "version": sys.version.split()[0],
                       "license": "PSF-2.0", "suffixes": contents(py, (".py",))}  # fmt: skip
    sites = [s for s in dict.fromkeys(SITE_PACKAGES) if s.is_dir()]
    record = {"roots": roots, "site_packages": [site_packages_record(s) for s in sites]}
    (out / "sources.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def report(record: dict[str, Any]) -> str:
    lines = []
    for name, root in record["roots"].items():
        files = sum(v["files"] for v in root["suffixes"].values())
        size = sum(v["bytes"] for v in root["suffixes"].values())
        each = [f"{p['package']}@{p['version']} ({p['license']})" for p in root.get("packages", [])]
        what = f"{root['package']} {root['version']} ({root['license']})" if "package" in root else ", ".join(each)
        lines.append(f"{name:7} {files:6} files {_mb(size):>9}  {what}  {root['path']}")
    for site in record["site_packages"]:
        lines.append(f"site-packages {site['path']}: {site['files']} .py files, {_mb(site['bytes'])}, "
                     f"{site['distributions_kept']} permissive distributions")  # fmt: skip
        lines.append("  biggest: " + ", ".join(f"{k} {_mb(v)}" for k, v in list(site["biggest"].items())[:8]))
        lines.append("  excluded: " + ", ".join(f"{e['name']} ({e['license']})" for e in site["excluded"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m model.train.sources", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(default_dir()), help="where to unpack (default: $FILLGAP_CORPORA or ~/.cache)")
    ns = p.parse_args(argv)
    out = Path(ns.out)
    record = build(out)
    print(report(record))
    print(f"written: {out / 'sources.json'}")


if __name__ == "__main__":
    main()
