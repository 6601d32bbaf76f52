"""The Debian mirror for debootstrap, read from apt's sources in both formats."""

from __future__ import annotations

import pytest

from tests import apt_sources

DEB822 = """\
Types: deb
# a comment inside the stanza
URIs: http://mirror.example/archive
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/archive.gpg

Types: deb
URIs: http://mirror.example/archive-security
Suites: bookworm-security
Components: main

Types: deb
URIs: https://vendor.example/apt
Suites: nodistro
Components: main
"""

ONE_LINE = """\
# deb http://commented.example/archive bookworm main
deb-src http://src.example/archive bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://one.example/archive/ bookworm main
deb http://one.example/security bookworm-security main
"""


def test_deb822_stanzas():
    sources = list(apt_sources.deb822_sources(DEB822))
    assert sources[0] == apt_sources.Source("http://mirror.example/archive",
                                            ["bookworm", "bookworm-updates"], ["main", "contrib"])
    assert apt_sources.debian_mirror(sources, "bookworm") == "http://mirror.example/archive"


def test_disabled_stanza_and_other_types_are_ignored():
    text = "Types: deb-src\nURIs: http://a.example/\nSuites: bookworm\nComponents: main\n\n" \
           "Enabled: no\nTypes: deb\nURIs: http://b.example/\nSuites: bookworm\nComponents: main\n"
    assert list(apt_sources.deb822_sources(text)) == []


def test_one_line_format_with_options():
    sources = list(apt_sources.one_line_sources(ONE_LINE))
    assert [s.uri for s in sources] == ["http://one.example/archive/",
                                        "http://one.example/security"]
    assert apt_sources.debian_mirror(sources, "bookworm") == "http://one.example/archive"


def test_no_archive_entry_is_an_error_naming_the_override(monkeypatch):
    monkeypatch.delenv("AGENT_TEST_DEBIAN_MIRROR", raising=False)
    sources = list(apt_sources.deb822_sources(DEB822))
    with pytest.raises(LookupError, match="AGENT_TEST_DEBIAN_MIRROR"):
        apt_sources.debian_mirror(sources, "trixie")


def test_files_under_an_apt_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENT_TEST_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d/debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d/other.list.disabled").write_text(ONE_LINE)
    sources = list(apt_sources.machine_sources(tmp_path))
    assert {s.uri for s in sources} == {"http://mirror.example/archive",
                                        "http://mirror.example/archive-security",
                                        "https://vendor.example/apt"}
    (tmp_path / "os-release").write_text('NAME="Debian GNU/Linux"\nVERSION_CODENAME=bookworm\n')
    assert apt_sources.codename(tmp_path / "os-release") == "bookworm"
