"""The Debian mirror this machine's apt uses, for debootstrap in the tests.

The repository names no package host: the mirror comes from /etc/apt/sources.list (one-line
format) and /etc/apt/sources.list.d/*.list / *.sources (deb822), the entry of type `deb` with
component `main` that carries this machine's release (VERSION_CODENAME in /etc/os-release), so
the Debian archive itself, not -security, a backports or a third-party repository. The same
mirror carries the other releases the tests debootstrap (bullseye, bookworm).
AGENT_TEST_DEBIAN_MIRROR overrides it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional


class Source(NamedTuple):
    uri: str
    suites: List[str]
    components: List[str]


def one_line_sources(text: str) -> Iterator[Source]:
    """`deb [options] uri suite component...` lines (sources.list(5), one-line style)."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        line = re.sub(r"\[[^\]]*\]", " ", line)  # [arch=amd64 signed-by=...]
        words = line.split()
        if len(words) >= 3 and words[0] == "deb":
            yield Source(words[1], [words[2]], words[3:])


def deb822_sources(text: str) -> Iterator[Source]:
    """Stanzas of Types/URIs/Suites/Components (sources.list(5), deb822 style)."""
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
            for uri in fields.get("uris", []):
                yield Source(uri, fields.get("suites", []), fields.get("components", []))


def machine_sources(etc: Path = Path("/etc/apt")) -> Iterator[Source]:
    if (etc / "sources.list").is_file():
        yield from one_line_sources((etc / "sources.list").read_text())
    for path in sorted((etc / "sources.list.d").glob("*")):
        if path.suffix == ".list":
            yield from one_line_sources(path.read_text())
        elif path.suffix == ".sources":
            yield from deb822_sources(path.read_text())


def codename(os_release: Path = Path("/etc/os-release")) -> str:
    for line in os_release.read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


def debian_mirror(sources: Optional[List[Source]] = None, release: Optional[str] = None) -> str:
    """The archive mirror's URI; LookupError when the machine's apt sources have none."""
    if os.environ.get("AGENT_TEST_DEBIAN_MIRROR"):
        return os.environ["AGENT_TEST_DEBIAN_MIRROR"]
    sources = list(machine_sources()) if sources is None else sources
    release = codename() if release is None else release
    for source in sources:
        if release in source.suites and "main" in source.components:
            return source.uri.rstrip("/")
    raise LookupError(f"no 'deb ... {release or '<release>'} main' entry in the apt sources "
                      "(/etc/apt/sources.list, /etc/apt/sources.list.d); set "
                      "AGENT_TEST_DEBIAN_MIRROR")
