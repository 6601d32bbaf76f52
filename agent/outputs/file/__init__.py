"""outputs.file: line protocol to stdout and/or files, flushed after every write."""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Dict, Iterator, List, Sequence, Tuple

from agent.lineprotocol.metric import Metric
from agent.lineprotocol.serializer import Serializer
from agent.plugin.base import Output
from agent.plugin.options import Option
from agent.system import stdio


class FileOutput(Output):
    name = "file"
    description = "Line protocol to stdout or files (Telegraf's outputs.file, data_format influx)"
    options = (
        Option("files", "str_list", ["stdout"], 'where to write: "stdout" and/or file paths; '
               'empty = stdout', empty_is_default=True),
        Option("data_format", "str", "influx", "only influx is supported", choices=("influx",)),
        Option("influx_uint_support", "bool", False, "write unsigned integers with a u suffix"),
        Option("influx_sort_fields", "bool", False, "sort fields by key"),
        Option("influx_max_line_bytes", "int", 0, "split longer lines; 0 = no limit", minimum=0),
    )
    sample_config = """\
# Line protocol to stdout or files.
[[outputs.file]]
  ## "stdout" and/or paths; files are appended to.
  files = ["stdout"]
  data_format = "influx"
  # influx_uint_support = false
"""

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> Iterator[Tuple[str, str]]:
        for target in options["files"]:
            if not target:
                yield "files", 'an empty path (use "stdout" or a file path)'
            elif target != "stdout" and os.path.isdir(target):
                yield "files", f"{target} is a directory; name a file in it"
            elif target != "stdout" and not os.path.isdir(os.path.dirname(target) or "."):
                yield "files", f"{target}: no directory {os.path.dirname(target)}"

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.serializer = Serializer(
            uint_support=self.influx_uint_support,
            sort_fields=self.influx_sort_fields,
            max_line_bytes=self.influx_max_line_bytes,
        )
        self._streams: List[BinaryIO] = []
        self._owned: List[BinaryIO] = []

    def connect(self) -> None:
        for target in self.files:
            if target == "stdout":
                self._streams.append(stdio.metrics_stdout())
            else:
                try:
                    stream = open(target, "ab")  # noqa: SIM115 - kept open until close()
                except OSError as err:
                    raise OSError(f"outputs.file: cannot open {target}: {err.strerror}") from None
                self._owned.append(stream)
                self._streams.append(stream)

    def write(self, metrics: Sequence[Metric]) -> None:
        data = self.serializer.serialize_many(metrics).encode("utf-8")
        if not data:
            return
        for stream in self._streams:
            stream.write(data)
            stream.flush()

    def close(self) -> None:
        for stream in self._owned:
            stream.close()
        self._owned.clear()
        self._streams.clear()
