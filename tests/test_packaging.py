"""What a new user installs: the distribution's name, its license, and every
message that tells people what to install, read from the files themselves."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import leakwatch
from leakwatch._native import memray_stacks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# "leakwatch" on the package index is an unrelated project (a website tracker scanner).
TAKEN = {"leakwatch"}


def _installs(text: str) -> set[str]:
    """The distribution names in ``pip install NAME`` / ``pip install 'NAME[extra]'``."""
    found = re.findall(r"pip install '?([A-Za-z0-9_.-]+)(?:\[|'|`|\s|$)", text)
    return {name for name in found if name not in {"-e", "--quiet", "--upgrade"}}


def test_the_distribution_name_is_not_the_taken_one_and_the_import_name_stays() -> None:
    assert PROJECT["name"] not in TAKEN
    assert leakwatch.__name__ == "leakwatch"
    assert PROJECT["scripts"] == {"leakwatch": "leakwatch._cli:main"}


def test_every_install_hint_names_the_distribution() -> None:
    readme = (ROOT / "README.md").read_text()
    named = _installs(readme) | _installs(memray_stacks.HOW_TO)
    assert PROJECT["name"] in named
    assert named <= {PROJECT["name"], "pytest-memray", "memray"}, named


def test_the_license_is_an_spdx_expression_with_its_file() -> None:
    # A TOML table here makes setuptools warn at every install.
    assert PROJECT["license"] == "MIT"
    for name in PROJECT["license-files"]:
        assert (ROOT / name).read_text().startswith("MIT License")
