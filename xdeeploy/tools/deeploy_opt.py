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
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from xdeeploy.errors import DeeployError


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


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    if isinstance(e, ParseError | DiagnosticException) and not isinstance(e, DeeployError):
        # xDSL diagnostics print the whole module; the first line says what is wrong.
        lines = [line for line in text.splitlines() if line.strip()]
        text = next(
            (line for line in lines if "rror" in line or "expected" in line),
            lines[0] if lines else text,
        )
    return " ".join(text.split())


def main(args: Sequence[str] | None = None) -> int:
    output: str | None = None
    try:
        tool = DeeployOptMain(args=args)
        output = tool.args.output_file
        tool.run()
    except (
        DeeployError,
        DiagnosticException,
        ParseError,
        ArgSpecParseError,
        ValueError,
        OSError,
    ) as e:
        if output and os.path.exists(output):
            os.remove(output)  # never leave a half-written result behind
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
