"""pyproject.toml as pip sees it: a distribution name of our own, extras that name their
requirements (pip 20.3 looks a self-reference up on the index), no compiled dependency on
Linux, and a repository that names no package host."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# The name the install hints use; checked free on PyPI when chosen (its /simple/ page and JSON
# API answered 404); `agent` there is an unrelated project.
from agent import DISTRIBUTION

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def requirements(extra: str) -> set:
    return {str(Requirement(r)) for r in PROJECT["optional-dependencies"][extra]}


def test_the_distribution_is_ours_the_package_and_command_are_agent():
    assert PROJECT["name"] == DISTRIBUTION
    assert PROJECT["scripts"] == {"agent": "agent.cli:main"}
    installed = importlib.metadata.distribution(DISTRIBUTION)  # tests/run: pip install -e
    assert "agent" in {ep.name for ep in installed.entry_points if ep.group == "console_scripts"}


def test_no_extra_refers_to_the_project_itself():
    own = canonicalize_name(PROJECT["name"])
    for extra, reqs in PROJECT["optional-dependencies"].items():
        for req in reqs:
            assert canonicalize_name(Requirement(req).name) != own, (extra, req)


def test_all_is_every_runtime_extra():
    runtime = set(PROJECT["optional-dependencies"]) - {"all", "test"}
    assert {"postgres", "serial", "influx"} <= runtime
    assert requirements("all") == set().union(*(requirements(extra) for extra in runtime))


def test_psutil_only_where_there_is_no_proc():
    """On Linux the agent reads /proc (mem, internal); psutil has no armv7l wheel, so the
    core install would need a compiler on a 32-bit Pi."""
    (psutil,) = [Requirement(r) for r in PROJECT["dependencies"] if r.startswith("psutil")]
    assert psutil.marker is not None
    assert not psutil.marker.evaluate({"sys_platform": "linux"})
    assert psutil.marker.evaluate({"sys_platform": "darwin"})


def test_installer_rewrites_the_postgres_extra_it_finds():
    """install.sh turns "psycopg[binary]" into "psycopg" where there is no binary wheel and
    reads the version from it: both need the requirement spelled that way, in both extras."""
    script = (REPO / "systemd/install.sh").read_text()
    assert 's/"psycopg\\[binary\\]/"psycopg/' in script
    for extra in ("postgres", "all"):
        assert any(r.startswith("psycopg[binary]>=") for r in
                   PROJECT["optional-dependencies"][extra]), extra


# A URL whose host is a package registry or a Debian/Ubuntu/Raspberry Pi mirror.
PACKAGE_HOST = re.compile(r"(?:https?|ftp)://[^/\s\"'<>)]*"
                          r"(?:debian|ubuntu|raspbian|pypi|pythonhosted|piwheels)", re.I)
SKIP = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
        "build", "dist"}


def repository_texts():
    for path in REPO.rglob("*"):
        parts = set(path.relative_to(REPO).parts)
        if parts & SKIP or any(p.endswith(".egg-info") for p in parts) or not path.is_file():
            continue
        try:
            yield path.relative_to(REPO), path.read_text()
        except UnicodeDecodeError:
            continue


def test_the_repository_names_no_package_host():
    """Mirrors come from the machine's apt sources, indexes from pip's own configuration."""
    found = [f"{path}: {m.group(0)}" for path, text in repository_texts()
             for m in PACKAGE_HOST.finditer(text)]
    assert not found


# `pip install 'agent[...]'` fetches the unrelated `agent` from the index and runs its setup.py.
OTHER_PROJECT = re.compile(r"(?<![\w./-])agent\[(?:" + "|".join(PROJECT["optional-dependencies"])
                           + r")\]")


def test_no_install_hint_names_the_other_projects_distribution():
    found = [f"{path}: {m.group(0)}" for path, text in repository_texts()
             for m in OTHER_PROJECT.finditer(text)]
    assert not found
