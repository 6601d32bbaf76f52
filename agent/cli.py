"""Command line: the only place that exits the process and maps errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from agent import __version__
from agent.config import loader as configmod
from agent.config.errors import EX_CONFIG, ConfigError, SourceError
from agent.config.source import DEFAULT_CONFIG, DEFAULT_LABEL
from agent.engine.errors import InputStartFailed
from agent.system import log as logsetup
from agent.system import memory, stdio
from agent.system.worker import WorkerFailed

EX_SOFTWARE = 70  # a supervised worker gave up: let systemd restart us
EX_TEMPFAIL = 75  # a config URL that may answer later: let systemd restart us
EX_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away
log = logging.getLogger("agent")


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter imports shutil (and with it bz2 and lzma) on every start just
    to learn the terminal width; os tells it without the imports."""

    def __init__(self, prog: str) -> None:
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns - 2
        except (OSError, ValueError):
            width = 78
        super().__init__(prog, width=width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="agent", description="Telegraf-compatible metrics agent: RAM, PostgreSQL, serial "
        "sensors to line protocol or InfluxDB.")
    parser.add_argument("--version", action="version", version=f"agent {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="log debug messages")
    common.add_argument("--quiet", action="store_true", help="log errors only")
    with_config = _Parser(add_help=False, parents=[common])
    with_config.add_argument("--config", metavar="PATH|URL",
                             help="TOML config file or http(s) URL; default: the embedded "
                             "default (mem to stdout every 10s)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", parents=[with_config], help="run as a daemon (default)")
    run.add_argument("--once", action="store_true",
                     help="gather once, flush, exit (exit 75 when a metric was neither "
                     "delivered nor kept in the disk buffer)")
    run.add_argument("--test", action="store_true", help="gather once, print to stdout only")
    execd = commands.add_parser("execd", parents=[with_config],
                                help="run as a child of Telegraf's inputs.execd")
    execd.add_argument("--signal", default="STDIN",
                       choices=("none", "STDIN", "SIGHUP", "SIGUSR1", "SIGUSR2"),
                       help="what triggers a gather, as in the execd config (default STDIN)")
    write = commands.add_parser("write", parents=[with_config],
                                help="deliver line protocol from a file or stdin to the outputs")
    write.add_argument("source", nargs="?", default="-", metavar="FILE|-",
                       help="line protocol to send (default: stdin)")
    commands.add_parser("check", parents=[with_config], help="validate a config and exit")
    commands.add_parser("plugins", parents=[common], help="list inputs and outputs with options")
    commands.add_parser("sample-config", parents=[common], help="print a commented config")
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "run" and not hasattr(args, "once"):
        args = build_parser().parse_args(["run", *(argv if argv is not None else sys.argv[1:])])
    execd = command == "execd"
    if execd or command == "run":
        stdio.claim_stdout()
        memory.limit_malloc_arenas()  # before any thread starts
    logsetup.setup(logsetup.choose_dialect(execd), getattr(args, "debug", False),
                   getattr(args, "quiet", False))
    try:
        code = _dispatch(command, args)
    except KeyboardInterrupt:
        code = 0
    except BrokenPipeError:  # `agent plugins | head`: the reader has what it wanted
        _quiet_stdout()
        code = EX_BROKEN_PIPE
    except ImportError as err:  # an extra installed after `agent check`, or broken
        log.error("%s", _missing_module(err))
        code = EX_CONFIG
    except InputStartFailed as err:
        log.error("Error running agent: %s", err)
        code = 1
    except WorkerFailed as err:
        log.error("Exiting: a background worker cannot recover (%s)", err)
        code = EX_SOFTWARE
    except Exception as err:  # noqa: BLE001 - one line, never a traceback (use --debug)
        log.debug("traceback", exc_info=True)
        log.error("%s: %s", type(err).__name__, err)
        code = 1
    sys.exit(code)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's own flush at exit cannot fail
    again on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _dispatch(command: str, args: argparse.Namespace) -> int:
    if command == "plugins":
        from agent.commands.catalog import print_plugins

        return print_plugins()
    if command == "sample-config":
        from agent.commands.catalog import print_sample_config

        return print_sample_config()
    try:
        config = _load(args.config, require_inputs=command != "write",
                       with_outputs=command != "execd")
    except ConfigError as err:
        for problem in err.problems:
            log.error("%s", problem)
        return EX_CONFIG
    except SourceError as err:
        log.error("%s", err)
        return EX_TEMPFAIL if err.temporary else EX_CONFIG
    for warning in config.warnings:
        log.warning("%s", warning)
    if not (args.debug or args.quiet):
        logsetup.set_level(config.agent["debug"], config.agent["quiet"])
    return _run_command(command, args, config)


def _run_command(command: str, args: argparse.Namespace, config) -> int:
    if command == "check":
        if not config.outputs:
            log.warning("%s: no outputs: `agent run` refuses this config; `agent execd`, "
                        "`run --once` and `run --test` print line protocol to stdout",
                        config.source)
        aggregators = f", {len(config.aggregators)} aggregator(s)" if config.aggregators else ""
        print(f"{config.source}: OK ({len(config.inputs)} input(s), "
              f"{len(config.outputs)} output(s){aggregators})")
        return 0
    if command == "execd":
        from agent.commands.execd import run_execd

        return run_execd(config, args.signal)
    if command == "write":
        from agent.commands.write import run_write

        return run_write(config, args.source)
    from agent.commands import run as daemon

    if args.once or args.test:
        _default_output(config)
        return daemon.run_once(config, test=args.test)
    try:
        _require_outputs(config)
    except ConfigError as err:
        log.error("%s", err)
        return EX_CONFIG
    return daemon.serve(config, lambda: _require_outputs(_load(args.config)))


def _load(location: Optional[str], require_inputs: bool = True, with_outputs: bool = True):
    """Under execd, Telegraf's outputs deliver: ours are skipped unread (their ${VAR}s and
    credentials need not exist there)."""
    return configmod.load(location or None, os.environ, require_inputs, with_outputs)


def _default_output(config) -> None:
    """`run --once`/`--test` with a config without outputs print to stdout (someone is
    watching); the daemon refuses such a config instead (_require_outputs)."""
    if not config.outputs:
        config.outputs = configmod.parse(DEFAULT_CONFIG, DEFAULT_LABEL).outputs
        log.info("No outputs configured; writing line protocol to stdout")


def _require_outputs(config):
    """The daemon, like Telegraf, refuses a config without outputs: under systemd, metrics
    going to the journal instead of InfluxDB (a config cut short, a wrong file) would look
    healthy. Without --config the embedded default (stdout) has its [[outputs.file]]."""
    if not config.outputs:
        raise ConfigError([f"{config.source}: no outputs configured: `agent run` needs at "
                           f"least one [[outputs.X]] (add [[outputs.file]] with files = "
                           f"[\"stdout\"] for line protocol on stdout)"])
    return config


def _missing_module(err: ImportError) -> str:
    """One line naming the module and the extra that installs it."""
    from agent.plugin import extras, registry

    known = []
    for kind, plugins in registry.REGISTRIES.items():
        for name in plugins:
            try:
                known.extend(registry.load(kind, name).requires)
            except ImportError:  # that plugin's own module is what fails: skip it here
                continue
    module = err.name or str(err)
    extra = extras.extra_for(module, known)
    if not extra:
        return f"{type(err).__name__}: {err}"
    return f"cannot import {module}: {err}; {extras.install_hint(extra)}"
