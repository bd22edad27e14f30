"""The one exception type for problems a user can fix.

The tools print it as a single line (``error: ...``) and exit 1; anything else that
escapes is a bug in xdeeploy and keeps its traceback.
"""

from xdsl.utils.exceptions import PassFailedException


class DeeployError(PassFailedException):
    """A user-facing problem: bad input, unsupported op, infeasible budget, bad option.

    The message names the ONNX node or op and says what to do, on one line.
    """
