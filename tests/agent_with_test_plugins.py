"""The real `agent` command line with the test inputs of tests/fake_plugins.py registered:
    python -m tests.agent_with_test_plugins run --config agent.toml
(run from the repository root, so that `tests` is importable)."""

from agent.cli import main
from agent.plugin import registry

registry.INPUTS["dropbox"] = "tests.fake_plugins:DropboxInput"

if __name__ == "__main__":
    main()
