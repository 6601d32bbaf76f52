"""The documentation holds together: the top-level README is a front door (short, linking to
every registered plugin's README), and every relative link in every README.md points at a
file that exists and, with a #fragment, at a heading it has (GitHub's anchors)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Set, Tuple

import pytest

from agent.commands.catalog import registered

REPO = Path(__file__).resolve().parents[1]
# What a build or a tool leaves behind (as .gitignore) is not documentation.
LEFT_BEHIND = {"build", "dist", "__pycache__"}
READMES = sorted(p for p in REPO.rglob("README.md")
                 if not any(part.startswith(".") or part in LEFT_BEHIND
                            or part.endswith(".egg-info") for part in p.relative_to(REPO).parts))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def without_code(text: str) -> str:
    """The text with fenced blocks and inline code blanked out (links there are not links)."""
    text = re.sub(r"^\s*```.*?^\s*```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(text: str) -> Set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2...
    for repeats."""
    seen: Set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", re.sub(r"^\s*```.*?^\s*```", "", text,
                                                          flags=re.S | re.M), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in seen:
            n += 1
            candidate = f"{slug}-{n}"
        seen.add(candidate)
    return seen


def relative_links(text: str) -> List[Tuple[str, str]]:
    """(file, fragment) of every link that is not a URL."""
    links = []
    for target in LINK.findall(without_code(text)):
        if not re.match(r"[a-z]+:", target):
            file, _, fragment = target.partition("#")
            links.append((file, fragment))
    return links


def test_the_readmes_are_found():
    names = {str(p.relative_to(REPO)) for p in READMES}
    assert {"README.md", "agent/inputs/mem/README.md", "systemd/README.md"} <= names


@pytest.mark.parametrize("path", READMES, ids=[str(p.relative_to(REPO)) for p in READMES])
def test_relative_links_resolve(path):
    broken = []
    for file, fragment in relative_links(path.read_text(encoding="utf-8")):
        target = (path.parent / file).resolve() if file else path
        if not target.exists():
            broken.append(f"{file}: no such file")
        elif fragment and fragment not in anchors(target.read_text(encoding="utf-8")):
            broken.append(f"{file}#{fragment}: no such heading")
    assert not broken, broken


def test_the_front_door_is_short_and_links_every_plugin():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400
    links = {file for file, _ in relative_links(text)}
    for kind, name in registered():
        assert f"agent/{kind}/{name}/README.md" in links, f"{kind}.{name} is not linked"


def test_the_anchor_rules():
    text = "# A b\n## `agent write`\n## protocol = \"lines\": text\n## A b\n```\n# not one\n```\n"
    assert anchors(text) == {"a-b", "agent-write", "protocol--lines-text", "a-b-1"}
    links = "[a](b/README.md#c) [u](https://x/y) `[no](code.md)` [here](#d)\n```\n[no](x)\n```\n"
    assert relative_links(links) == [("b/README.md", "c"), ("", "d")]
