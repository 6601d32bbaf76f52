"""What can go wrong with a config, and the exit code for it."""

from __future__ import annotations

from typing import List

EX_CONFIG = 78  # sysexits.h EX_CONFIG: systemd's RestartPreventExitStatus in agent@.service


class ConfigError(Exception):
    """Every problem found in a config, one line each."""

    def __init__(self, problems: List[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class SourceError(Exception):
    """The config could not be read. temporary=True when retrying later may help."""

    def __init__(self, message: str, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary
