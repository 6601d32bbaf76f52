"""Where an aggregator's open window is kept between runs, and how it is written and read.

One JSON file per aggregator in the state directory (the disk buffer's: [agent]
buffer_directory, else $STATE_DIRECTORY, else ~/.local/state/agent/<config>), named by what
gives its state a meaning (plugin, options, period and filters): change those and a new
window starts beside the old file. Written atomically (temporary file, fsync, rename, fsync of
the directory): a crash leaves the previous file or the new one, never a mix. A file that
cannot be read back is moved aside as <name>.corrupt-<UTC time> and the agent carries on.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import time
from typing import Any, Dict, List, Optional

from agent.config.model import Config, PluginConfig
from agent.delivery.settings import buffer_directory

log = logging.getLogger("agent.engine.aggregation")
VERSION = 1
PREFIX = "aggregators."
_IDENTITY_KEYS = ("period", "namepass", "namedrop", "fieldinclude", "fieldexclude", "fieldpass",
                  "fielddrop", "taginclude", "tagexclude", "tagpass", "tagdrop")


def state_directory(config: Config) -> Optional[str]:
    """The disk buffer's directory, whatever buffer_strategy says (windows are kept even with
    the memory buffer); None when it cannot be written."""
    try:
        return buffer_directory({**config.agent, "buffer_strategy": "disk"}, config.source)
    except OSError as err:
        log.warning("Aggregator windows will not survive a restart: %s", err)
        return None


def identities(pconfs: List[PluginConfig]) -> List[str]:
    """A file name per aggregator: a digest of what its state means, numbered when equal."""
    names, seen = [], {}
    for pconf in pconfs:
        meaning = {"name": pconf.name, "options": pconf.options,
                   "common": {k: pconf.common.get(k) for k in _IDENTITY_KEYS}}
        digest = hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()[:12]
        seen[digest] = seen.get(digest, 0) + 1
        suffix = f"-{seen[digest]}" if seen[digest] > 1 else ""
        names.append(f"{PREFIX}{pconf.name}-{digest}{suffix}.json")
    return names


class StateFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._failing = False

    def load(self) -> Optional[Dict[str, Any]]:
        """The saved state, None when there is none; a file that does not parse as one is set
        aside (see set_aside)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            self.set_aside(f"{type(err).__name__}: {err}")
            return None
        problem = _shape_problem(data)
        if problem:
            self.set_aside(problem)
            return None
        return data

    def set_aside(self, reason: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = f"{self.path}.corrupt-{stamp}"
        try:
            os.replace(self.path, target)
        except OSError as err:
            log.error("Aggregator state %s is unreadable (%s) and cannot be moved: %s",
                      self.path, reason, err)
            return
        log.error("Aggregator state %s is unreadable (%s); moved to %s, starting a new window",
                  self.path, reason[:200], target)

    def save(self, text: str) -> bool:
        """Replace the file with text atomically; False (logged once per failing streak)."""
        temporary = f"{self.path}.tmp"
        try:
            _write_synced(temporary, text)
            os.replace(temporary, self.path)
            _sync_directory(os.path.dirname(self.path) or ".")
        except OSError as err:
            if not self._failing:
                log.error("Cannot save aggregator state %s: %s; the open window will not "
                          "survive a restart until this works again", self.path, err)
            self._failing = True
            _remove(temporary)
            return False
        if self._failing:
            log.info("Aggregator state %s saved again", self.path)
        self._failing = False
        return True


def orphans(directory: str, claimed: List[str]) -> List[str]:
    """State files in directory that no configured aggregator uses."""
    found = glob.glob(os.path.join(glob.escape(directory), f"{PREFIX}*.json"))
    return sorted(path for path in found if os.path.basename(path) not in claimed)


def _shape_problem(data: Any) -> str:
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return f"not a version {VERSION} state"
    window = data.get("window")
    if not (isinstance(window, list) and len(window) == 2
            and all(type(v) is int for v in window) and window[0] < window[1]):
        return f"bad window {str(window)[:60]}"
    for key in ("dropped", "filtered", "refused"):
        if type(data.get(key, 0)) is not int:
            return f"bad {key} count"
    return ""


def _write_synced(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
