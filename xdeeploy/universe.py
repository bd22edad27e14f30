"""The `xdsl.universe` entry point: stock `xdsl-opt` sees our dialects, passes and targets.

Everything is imported lazily, so that loading the universe costs nothing until a
dialect or pass is used.
"""

from collections.abc import Callable

from xdsl.ir import Dialect
from xdsl.passes import ModulePass
from xdsl.universe import Universe


def _dnn() -> Dialect:
    from xdeeploy.dialects.dnn import DNN

    return DNN


def _dnn_canonicalize() -> type[ModulePass]:
    from xdeeploy.passes.dnn_canonicalize import DnnCanonicalize

    return DnnCanonicalize


DIALECTS: dict[str, Callable[[], Dialect]] = {"dnn": _dnn}
PASSES: dict[str, Callable[[], type[ModulePass]]] = {"dnn-canonicalize": _dnn_canonicalize}

XDEEPLOY_UNIVERSE = Universe(all_dialects=DIALECTS, all_passes=PASSES)
