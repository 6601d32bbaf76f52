"""Telegraf's metric filters: namepass/namedrop, fieldinclude/fieldexclude, tagpass/tagdrop,
taginclude/tagexclude, each a list of glob patterns."""

from __future__ import annotations

import fnmatch
import re
from typing import Dict, List, Optional, Pattern

from agent.lineprotocol.metric import Metric


def _compile(globs: Optional[List[str]]) -> Optional[Pattern]:
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))


class Filter:
    """Built from a plugin's common options; select() says keep or drop, modify() prunes."""

    def __init__(self, options: Dict[str, object]) -> None:
        self.namepass = _compile(options.get("namepass"))
        self.namedrop = _compile(options.get("namedrop"))
        self.fieldinclude = _compile(options.get("fieldinclude") or options.get("fieldpass"))
        self.fieldexclude = _compile(options.get("fieldexclude") or options.get("fielddrop"))
        self.taginclude = _compile(options.get("taginclude"))
        self.tagexclude = _compile(options.get("tagexclude"))
        self.tagpass = {k: _compile(v) for k, v in (options.get("tagpass") or {}).items()}
        self.tagdrop = {k: _compile(v) for k, v in (options.get("tagdrop") or {}).items()}
        self.active = any((
            self.namepass, self.namedrop, self.fieldinclude, self.fieldexclude,
            self.taginclude, self.tagexclude, self.tagpass, self.tagdrop,
        ))

    def apply(self, metric: Metric) -> bool:
        """Prune the metric in place; False when it is to be dropped."""
        return self.select(metric) and self.modify(metric)

    def select(self, metric: Metric) -> bool:
        if self.namepass and not self.namepass.match(metric.name):
            return False
        if self.namedrop and self.namedrop.match(metric.name):
            return False
        if self.tagpass and not _any_tag_matches(metric, self.tagpass):
            return False
        return not (self.tagdrop and _any_tag_matches(metric, self.tagdrop))

    def modify(self, metric: Metric) -> bool:
        if self.fieldinclude or self.fieldexclude:
            metric.fields = {k: v for k, v in metric.fields.items() if self._keep_field(k)}
        if self.taginclude:
            metric.tags = {k: v for k, v in metric.tags.items() if self.taginclude.match(k)}
        if self.tagexclude:
            metric.tags = {k: v for k, v in metric.tags.items() if not self.tagexclude.match(k)}
        return bool(metric.fields)

    def _keep_field(self, key: str) -> bool:
        if self.fieldinclude and not self.fieldinclude.match(key):
            return False
        return not (self.fieldexclude and self.fieldexclude.match(key))


def _any_tag_matches(metric: Metric, table: Dict[str, Pattern]) -> bool:
    return any(
        key in metric.tags and pattern is not None and pattern.match(metric.tags[key])
        for key, pattern in table.items()
    )
