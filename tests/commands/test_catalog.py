"""`agent plugins` and `agent sample-config` as a user pipes them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agent.cli import EX_BROKEN_PIPE


@pytest.mark.parametrize("command", ["plugins", "sample-config"])
def test_a_reader_that_stops_early_gets_no_error_on_stderr(command):
    """`agent plugins | head -1`: no BrokenPipeError line, 141 as a shell reports SIGPIPE.
    The pipe's reader is gone before the agent writes (head exits after its line)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "agent", command], stdout=write_end,
                                stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert result.returncode == EX_BROKEN_PIPE, result.stderr
    assert result.stderr == b""


def test_sample_config_enables_only_the_embedded_default():
    """Everything else is shown commented out, so the output runs on a core install."""
    text = subprocess.run([sys.executable, "-m", "agent", "sample-config"], capture_output=True,
                          text=True, check=True).stdout
    enabled = [line.strip() for line in text.splitlines() if line.startswith("[[")]
    assert enabled == ["[[inputs.mem]]", "[[outputs.file]]"]
    assert "# [[inputs.postgresql]]" in text and "# [[outputs.influxdb_v2]]" in text
