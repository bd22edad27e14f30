"""The `cluster` dialect: fork-join parallelism over the cores of a compute cluster.

    cluster.fork cores(8) {
    ^bb0(%core: index):
      …                       (every core runs the region, %core = 0 … 7)
      cluster.barrier         (no core goes on before all have arrived)
      …
      cluster.join
    }

The fork returns when every core has reached `cluster.join` (an implicit barrier), so
what the region writes is visible after it. `cluster.num_cores` gives the fork's core
count inside the region, for splitting work by core id.
"""

from __future__ import annotations

from xdsl.dialects.builtin import I64, IndexType, IntegerAttr
from xdsl.ir import Dialect, Operation, Region
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    prop_def,
    region_def,
    result_def,
    traits_def,
)
from xdsl.traits import HasParent, IsTerminator, NoTerminator
from xdsl.utils.exceptions import VerifyException

MAX_CORES = 8
"""The paper's cluster (Siracusa) and our rv32-virt machine have 8 cores."""


@irdl_op_definition
class ForkOp(IRDLOperation):
    """Runs its region once on each of `cores` cores, the block argument being the core
    id; returns when all have reached `cluster.join`."""

    name = "cluster.fork"

    cores = prop_def(IntegerAttr[I64])
    body = region_def("single_block")

    assembly_format = "`cores` `(` $cores `)` $body attr-dict"

    def __init__(self, cores: int, body: Region):
        super().__init__(properties={"cores": IntegerAttr(cores, 64)}, regions=[body])

    def verify_(self) -> None:
        cores = self.cores.value.data
        if not 1 <= cores <= MAX_CORES:
            raise VerifyException(f"cluster.fork: {cores} cores, expected 1 to {MAX_CORES}")
        block = self.body.block
        if len(block.args) != 1 or not isinstance(block.args[0].type, IndexType):
            raise VerifyException(
                "cluster.fork: the region takes one argument, the core id (index)"
            )
        if not isinstance(block.last_op, JoinOp):
            raise VerifyException("cluster.fork: the region must end with cluster.join")
        for op in self.body.walk():
            if isinstance(op, ForkOp) and op is not self:
                raise VerifyException("cluster.fork: forks do not nest (one cluster)")


def _enclosing_fork(op: Operation) -> ForkOp | None:
    parent = op.parent_op()
    while parent is not None and not isinstance(parent, ForkOp):
        parent = parent.parent_op()
    return parent


@irdl_op_definition
class JoinOp(IRDLOperation):
    """Ends a core's share of the fork."""

    name = "cluster.join"

    traits = traits_def(IsTerminator(), HasParent(ForkOp))

    assembly_format = "attr-dict"


@irdl_op_definition
class BarrierOp(IRDLOperation):
    """No core of the enclosing fork proceeds until every one has arrived here.

    Every core must reach the same barriers in the same order: a barrier under a
    condition that depends on the core id would deadlock on the chip.
    """

    name = "cluster.barrier"

    traits = traits_def(NoTerminator())

    assembly_format = "attr-dict"

    def verify_(self) -> None:
        if _enclosing_fork(self) is None:
            raise VerifyException("cluster.barrier: only inside cluster.fork")


@irdl_op_definition
class NumCoresOp(IRDLOperation):
    """The number of cores of the enclosing fork."""

    name = "cluster.num_cores"

    result = result_def(IndexType())

    assembly_format = "attr-dict"

    def __init__(self) -> None:
        super().__init__(result_types=[IndexType()])

    def verify_(self) -> None:
        if _enclosing_fork(self) is None:
            raise VerifyException("cluster.num_cores: only inside cluster.fork")


CLUSTER = Dialect("cluster", [ForkOp, JoinOp, BarrierOp, NumCoresOp])
