"""`deeploy-opt`: xDSL's `xdsl-opt` with our dialects, passes and an `.onnx` frontend.

Every xDSL dialect, pass and target stays available (they come from the same
`xdsl.universe` multiverse that stock `xdsl-opt` reads); we add `.onnx` input and turn
user errors into one line on stderr with exit code 1.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import ArgSpecParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from xdeeploy.errors import DeeployError
from xdeeploy.tools.diagnostics import USER_ERRORS, describe, one_line


def _parse_dims(values: Sequence[str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name or not value.lstrip("-").isdigit() or int(value) < 1:
            raise DeeployError(f"--dim expects NAME=N with a positive integer N, got '{item}'")
        dims[name] = int(value)
    return dims


class _Buffer(io.StringIO):
    """xDSLOptMain closes its output stream even on failure; we keep the text until
    the run succeeded and then write the file in one step."""

    def close(self) -> None:
        pass


def write_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".deeploy-opt-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class DeeployOptMain(xDSLOptMain):
    version_format = "deeploy-opt (xdeeploy) built on xdsl {xdsl_version}"
    _buffer: _Buffer | None = None

    def setup_pipeline(self) -> None:
        try:
            super().setup_pipeline()
        except (ValueError, ArgSpecParseError) as e:
            # ArgSpecParseError's text ends with the caret line and the message.
            reason = str(e).strip().splitlines()[-1].strip().lstrip("^ ")
            raise DeeployError(f"bad pass pipeline '{self.args.passes}': {reason}") from None

    def prepare_output(self) -> IO[str]:
        if self.args.output_file is None:
            return sys.stdout
        self._buffer = _Buffer()
        return self._buffer

    def commit_output(self) -> None:
        if self._buffer is not None and self.args.output_file is not None:
            write_atomically(self.args.output_file, self._buffer.getvalue())

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--dim",
            action="append",
            default=[],
            metavar="NAME=N",
            help="value of a symbolic ONNX input dimension (repeatable)",
        )

    def register_all_frontends(self) -> None:
        super().register_all_frontends()

        def parse_onnx(io: IO[bytes]) -> ModuleOp:
            from xdeeploy.frontend.onnx import import_model, load_model_bytes

            return import_model(
                load_model_bytes(io.read(), self.get_input_name()), _parse_dims(self.args.dim)
            )

        self.available_frontends["onnx"] = parse_onnx


def main(args: Sequence[str] | None = None) -> int:
    try:
        tool = DeeployOptMain(args=args)
        tool.run()
        tool.commit_output()
    except (*USER_ERRORS, ValueError) as e:
        # A bare ValueError is xDSLOptMain's "unknown pass / file extension / option".
        message = one_line(str(e)) if type(e) is ValueError else describe(e)
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
