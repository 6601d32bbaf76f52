"""Optional dependencies: a plugin names the modules it imports when it runs and the extra of
the distribution that installs them, so that `agent check` (and `agent run`, which checks the
same way) can say what to install instead of failing later with ModuleNotFoundError."""

from __future__ import annotations

import importlib.util
from typing import Iterable, List, Tuple

from agent import DISTRIBUTION

# (module, extra): e.g. ("influxdb_client", "influx").
Requirement = Tuple[str, str]


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]' (or systemd/install.sh --extras {extra})"


def missing_message(module: str, extra: str) -> str:
    return (f"needs the Python module {module}, which is not installed: add the {extra!r} "
            f"extra, {install_hint(extra)}")


def is_installed(module: str) -> bool:
    """Whether the module can be found, without importing it (start-up stays light)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or half-imported module
        return False


def missing(requires: Iterable[Requirement]) -> List[Requirement]:
    return [(module, extra) for module, extra in requires if not is_installed(module)]


def extra_for(module: str, known: Iterable[Requirement]) -> str:
    """The extra that installs a module (or a submodule of it); "" when none is known."""
    top = module.split(".")[0]
    return next((extra for name, extra in known if name == top), "")
