"""Choose the tile sizes of one operator so that its operand tiles fit in L1.

The tiling pass describes an operator as a `Problem`: the dims of its iteration space and,
for every operand, how its axes follow those dims. `solve` picks a tile size per dim and a
loop order that minimise the DMA traffic between L2 and the L1 scratchpad. The module does
not depend on xDSL, so it can be tested, and reasoned about, on its own.

What a tiling costs, for tile sizes t_d (divisors of the dim sizes) and tile counts
n_d = size_d / t_d:

* An operand axis that follows dim d with stride s and window w spans s*(t_d-1)+w
  elements of a tile (w > s is a halo: neighbouring tiles overlap); a fixed axis spans its
  `extent`. A tile's bytes are the product of its axis spans times `elem_bytes`.
* L1 footprint: every operand tile, twice if the operand has more than one distinct tile
  (some dim it follows is split) and `double_buffer` is set, so that the next tile can
  arrive while the kernel works on this one; plus `extra_bytes`.
* Traffic, for the loop order d_1 (outermost) ... d_n: a loop of one iteration does not
  exist, so an operand is moved once per iteration of the loops d_1 ... d_k, where d_k is
  the innermost *split* dim it follows; deeper loops leave its tile alone, so it stays
  resident. It moves (tile bytes) * n_d_1 * ... * n_d_k bytes in n_d_1 * ... * n_d_k
  transfers. Outputs are written back the same way: a dim an output does not follow is a
  reduction, which `validate` requires to be unsplittable, so an output tile is final
  after one visit.

The CP-SAT model, one per candidate loop order (`_OrderModel`):

* Per splittable dim: t_d, whose domain is the divisors of size_d; n_d, linked to it by
  n_d * t_d = size_d; split_d <=> n_d >= 2; and r_d, the rank of t_d among the divisors
  from the largest (t_d = divisors_descending[r_d], an element constraint). Other dims are
  constants: t_d = size_d, n_d = 1.
* What dim d contributes to an operand is a table indexed by r_d: the product of the spans
  of the operand's axes that follow d, and that times n_d for the bytes it moves (constant
  without halos, since the tiles then add up to the whole axis). An operand's tile bytes,
  visits and moved bytes are chains of pairwise products (AddMultiplicationEquality) of
  these, of n_d, and of its repeats: each loop the operand does not follow multiplies its
  visits by n_d if some deeper dim it follows is split, else by 1 (a reified choice).
* Budget: sum of tile bytes + sum of double-buffer copies + extra_bytes <= budget, where a
  copy equals the tile bytes if any dim the operand follows is split and 0 otherwise.

The objective is lexicographic, from most to least important:

  1. traffic_bytes;
  2. transfers;
  3. the number of splittable dims whose tile is not a multiple of their `align`;
  4. the tile sizes from the innermost loop outwards, larger first (the rank r_d of the
     innermost dim, then of the next one out, ...): big inner tiles mean fewer kernel calls.

The levels are packed into weighted sums sum_i weight_i * level_i with
weight_i = prod(hi_j - lo_j + 1 for the later levels j of the pack), where [lo_j, hi_j]
bounds level j: all later levels together can never outweigh one unit of an earlier one,
so the sum orders solutions exactly lexicographically. A pack ends where its largest value
would pass 2**60; each next pack is minimised with the earlier ones pinned to their optimum
(and the previous solution as a hint). Usually everything fits in one pack: for a 64x64x64
matmul in 4000 bytes, loops M, N, K, the levels traffic in [0, 282624], transfers in
[3, 8256], rank_N and rank_M in [0, 6] (misalignment is constant there, so left out) get
the weights 49 * 8254 = 404446, 7 * 7 = 49, 7 and 1.

Across loop orders the same key is compared -- (traffic, transfers, misaligned dims, tile
sizes innermost first, larger first) -- and a tie keeps the order listed first. Once an
order has a solution, the later orders are solved with traffic capped at its traffic: an
order that cannot match it is proven out quickly. The key orders all (tiles, order) pairs
strictly, so the optimum is unique and independent of how the solver found it.

CP-SAT runs single-threaded, with a fixed seed and a *deterministic* time limit (never a
wall-clock one), so with a given OR-Tools version the same Problem always gives the same
Solution, on any machine however loaded. If no solution turns up within that limit, a
greedy fallback answers: start whole, then repeatedly move the splittable dim whose next
smaller divisor saves the most L1 bytes to that divisor, until the tiles fit (or, if even
tiles of 1 do not, which only halos can cause, take a minimum-footprint tiling).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod

from ortools.sat.python import cp_model

_LIMIT = 1 << 60
"""Every variable bound and packed objective stays below this, clear of int64 overflow."""


@dataclass(frozen=True)
class Dim:
    """One dimension of the operator's iteration space."""

    name: str
    size: int
    splittable: bool = True
    """False: the kernel needs the whole dim (softmax row, matmul K, conv input channels)."""
    align: int = 1
    """Kernel-friendly tile multiple (SIMD width, e.g. 4 or 8): a soft preference."""


@dataclass(frozen=True)
class Axis:
    """One axis of an operand, in terms of the iteration dims."""

    dim: str | None
    """The iteration dim this axis follows; None: a fixed axis of `extent` elements."""
    extent: int = 1
    """The axis length when `dim` is None."""
    stride: int = 1
    """Sliding windows (conv/pool): a tile of t outputs reads stride*(t-1)+window inputs."""
    window: int = 1


@dataclass(frozen=True)
class Operand:
    """One input or output tensor of the operator.

    An operand whose axes do not follow an inner loop's dim stays in L1 while that loop
    runs.
    """

    name: str
    axes: tuple[Axis, ...]
    elem_bytes: int
    is_output: bool = False
    scratch: bool = False
    """A per-tile work buffer of the kernel (e.g. an operand widened to 32 bits): it takes
    L1 once (never double-buffered: it is rewritten in place each tile) and no DMA."""


@dataclass(frozen=True)
class Problem:
    """Everything `solve` needs to tile one operator."""

    node: str
    """The operator's name, for messages."""
    dims: tuple[Dim, ...]
    operands: tuple[Operand, ...]
    budget: int
    """L1 bytes available for this operator's tiles."""
    double_buffer: bool = True
    orders: tuple[tuple[str, ...], ...] = ()
    """Candidate loop orders, outermost first; () means the order of `dims`."""
    extra_bytes: int = 0
    """Fixed L1 scratch the kernel needs besides its operand tiles."""


@dataclass(frozen=True)
class Solution:
    """The chosen tiling and what it costs."""

    tiles: dict[str, int]
    """Tile size per dim, a divisor of the dim's size."""
    order: tuple[str, ...]
    """Loop order, outermost first."""
    l1_bytes: int
    """L1 footprint of the chosen tiles, counting double buffers and extra_bytes."""
    traffic_bytes: int
    """DMA bytes moved between L2 and L1 for the whole operator."""
    compulsory_bytes: int
    """Every input byte read once plus every output byte written once. Halos make the
    traffic larger; a window narrower than its stride can make it smaller, since tiles
    skip the rows between them."""
    transfers: int
    """Number of DMA transfers (tile copies)."""
    status: str
    """'untiled' (everything fits whole), 'optimal', 'feasible' (CP-SAT found solutions but
    did not prove the best one optimal within its time limit) or 'fallback' (greedy)."""


class TilingInfeasible(Exception):
    """Not even the smallest tiles of an operator fit in its L1 budget."""

    def __init__(self, node: str, budget: int, min_bytes: int) -> None:
        super().__init__(node, budget, min_bytes)
        self.node = node
        self.budget = budget
        self.min_bytes = min_bytes
        """The smallest L1 footprint of any tiling of the operator."""

    def __str__(self) -> str:
        return (
            f"node {self.node!r}: needs at least {self.min_bytes} bytes of L1 for one tile "
            f"(budget {self.budget}); raise --l1 to at least {self.min_bytes}"
        )


def solve(problem: Problem, *, max_deterministic_time: float = 2.0) -> Solution:
    """The best tiling of `problem` (see the module docstring for what "best" means).

    `max_deterministic_time` bounds the CP-SAT work for the whole operator, summed over
    its loop orders, in the solver's deterministic time units (about seconds, but the same
    on every run); if CP-SAT finds nothing within it, the greedy fallback answers. Raises
    TilingInfeasible when no tiling fits the budget, ValueError for a malformed problem.
    """
    validate(problem)
    if max_deterministic_time < 0:
        raise ValueError(f"max_deterministic_time {max_deterministic_time} is negative")
    orders = _orders(problem)
    whole = {d.name: d.size for d in problem.dims}
    if _footprint(problem, whole) <= problem.budget:
        return _solution(problem, whole, orders[0], "untiled")

    min_bytes, smallest = _min_footprint(problem)
    if min_bytes > problem.budget:
        raise TilingInfeasible(problem.node, problem.budget, min_bytes)

    best: tuple[_Key, dict[str, int], tuple[str, ...]] | None = None
    proven = True
    time_left = max_deterministic_time
    for order in orders:
        cap = None if best is None else best[0][0]
        result = _solve_order(problem, order, cap, time_left)
        time_left -= result.used_time
        proven = proven and result.proven
        if result.tiles is None:
            continue
        key = _objective(problem, result.tiles, order)
        if best is None or key < best[0]:  # strict: a tie keeps the order listed first
            best = (key, result.tiles, order)
    if best is not None:
        return _solution(problem, best[1], best[2], "optimal" if proven else "feasible")

    tiles = _greedy(problem, smallest)
    order = min(orders, key=lambda o: _traffic(problem, tiles, o))
    return _solution(problem, tiles, order, "fallback")


def footprint(problem: Problem, tiles: Mapping[str, int]) -> int:
    """L1 bytes that `tiles` need: operand tiles (doubled where they change) + extra_bytes."""
    validate(problem)
    _check_tiles(problem, tiles)
    return _footprint(problem, tiles)


def traffic(problem: Problem, tiles: Mapping[str, int], order: Sequence[str]) -> tuple[int, int]:
    """(DMA bytes, DMA transfers) of the whole operator for `tiles` and loop `order`."""
    validate(problem)
    _check_tiles(problem, tiles)
    if sorted(order) != sorted(d.name for d in problem.dims):
        raise ValueError(
            f"node {problem.node!r}: order {tuple(order)} is not a permutation of the dims"
        )
    return _traffic(problem, tiles, order)


def validate(problem: Problem) -> None:
    """Raise ValueError, naming the node, if `problem` is malformed."""
    where = f"node {problem.node!r}"
    names = [d.name for d in problem.dims]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: duplicate dim names in {names}")
    for d in problem.dims:
        if d.size < 1:
            raise ValueError(f"{where}: dim {d.name!r} has size {d.size}, must be >= 1")
        if d.align < 1:
            raise ValueError(f"{where}: dim {d.name!r} has align {d.align}, must be >= 1")
    if problem.budget < 0:
        raise ValueError(f"{where}: budget {problem.budget} is negative")
    if problem.extra_bytes < 0:
        raise ValueError(f"{where}: extra_bytes {problem.extra_bytes} is negative")
    for op in problem.operands:
        if op.elem_bytes < 1:
            raise ValueError(f"{where}: operand {op.name!r} has elem_bytes {op.elem_bytes}")
        for axis in op.axes:
            if axis.dim is not None and axis.dim not in names:
                raise ValueError(f"{where}: operand {op.name!r} follows unknown dim {axis.dim!r}")
            if min(axis.extent, axis.stride, axis.window) < 1:
                raise ValueError(
                    f"{where}: operand {op.name!r} has an axis with extent, stride or window < 1"
                )
        if op.scratch and op.is_output:
            raise ValueError(f"{where}: operand {op.name!r} cannot be both scratch and an output")
        if op.is_output:
            for d in problem.dims:
                # A split reduction would need partial sums kept across visits, which
                # neither the kernels nor the traffic model provide.
                if _is_free(d) and d.name not in _dims(op):
                    raise ValueError(
                        f"{where}: dim {d.name!r} is a reduction of output {op.name!r} "
                        "(the output does not follow it), so it must be splittable=False"
                    )
    for order in problem.orders:
        if sorted(order) != sorted(names):
            raise ValueError(f"{where}: order {order} is not a permutation of the dims {names}")


# --- plain arithmetic, shared by the public functions, the checks and the fallback --------

_Key = tuple[int, int, int, tuple[int, ...]]


def _moved(problem: Problem) -> list[Operand]:
    """The operands the DMA moves (all but the kernel's scratch buffers)."""
    return [op for op in problem.operands if not op.scratch]


def _is_free(dim: Dim) -> bool:
    """Whether the solver chooses this dim's tile (else the tile is the whole dim)."""
    return dim.splittable and dim.size > 1


def _dims(op: Operand) -> list[str]:
    return [a.dim for a in op.axes if a.dim is not None]


def _divisors(n: int) -> list[int]:
    """Divisors of n, ascending."""
    small = [k for k in range(1, int(n**0.5) + 1) if n % k == 0]
    return sorted({*small, *(n // k for k in small)})


def _orders(problem: Problem) -> tuple[tuple[str, ...], ...]:
    return problem.orders or (tuple(d.name for d in problem.dims),)


def _check_tiles(problem: Problem, tiles: Mapping[str, int]) -> None:
    where = f"node {problem.node!r}"
    if sorted(tiles) != sorted(d.name for d in problem.dims):
        raise ValueError(f"{where}: tiles {dict(tiles)} must name every dim exactly once")
    for d in problem.dims:
        t = tiles[d.name]
        if t < 1 or d.size % t:
            raise ValueError(f"{where}: tile {t} of dim {d.name!r} does not divide {d.size}")
        if not d.splittable and t != d.size:
            raise ValueError(
                f"{where}: dim {d.name!r} is not splittable, its tile must be {d.size}"
            )


def _span(axis: Axis, tiles: Mapping[str, int]) -> int:
    """Elements of one operand axis in a tile."""
    if axis.dim is None:
        return axis.extent
    return axis.stride * (tiles[axis.dim] - 1) + axis.window


def _tile_bytes(op: Operand, tiles: Mapping[str, int]) -> int:
    return op.elem_bytes * prod(_span(a, tiles) for a in op.axes)


def _footprint(problem: Problem, tiles: Mapping[str, int]) -> int:
    sizes = {d.name: d.size for d in problem.dims}
    total = problem.extra_bytes
    for op in problem.operands:
        changes = any(tiles[name] < sizes[name] for name in _dims(op)) and not op.scratch
        total += _tile_bytes(op, tiles) * (2 if changes and problem.double_buffer else 1)
    return total


def _traffic(problem: Problem, tiles: Mapping[str, int], order: Sequence[str]) -> tuple[int, int]:
    counts = {d.name: d.size // tiles[d.name] for d in problem.dims}
    total_bytes = transfers = 0
    for op in _moved(problem):
        follows = _dims(op)
        split = [i for i, name in enumerate(order) if name in follows and counts[name] > 1]
        visits = prod(counts[name] for name in order[: split[-1] + 1]) if split else 1
        total_bytes += visits * _tile_bytes(op, tiles)
        transfers += visits
    return total_bytes, transfers


def _objective(problem: Problem, tiles: Mapping[str, int], order: Sequence[str]) -> _Key:
    """The lexicographic key that `solve` minimises (see the module docstring)."""
    moved, transfers = _traffic(problem, tiles, order)
    misaligned = sum(1 for d in problem.dims if _is_free(d) and tiles[d.name] % d.align)
    return moved, transfers, misaligned, tuple(-tiles[name] for name in reversed(order))


def _solution(
    problem: Problem, tiles: Mapping[str, int], order: Sequence[str], status: str
) -> Solution:
    whole = {d.name: d.size for d in problem.dims}
    moved, transfers = _traffic(problem, tiles, order)
    return Solution(
        tiles=dict(tiles),
        order=tuple(order),
        l1_bytes=_footprint(problem, tiles),
        traffic_bytes=moved,
        compulsory_bytes=sum(_tile_bytes(op, whole) for op in _moved(problem)),
        transfers=transfers,
        status=status,
    )


def _min_footprint(problem: Problem) -> tuple[int, dict[str, int]]:
    """The smallest footprint of any tiling, and tiles that reach it.

    Shrinking a split dim's tile to 1 never grows the footprint (spans only shrink, the
    double-buffer factor stays), so per dim only "whole" or "1" matters. Cutting a dim
    from whole to 1 divides every plain axis (window 1) that follows it by its size >= 2,
    which pays for the doubling, so such dims go to 1. A halo may shrink by less than
    half -- a 3-wide window over 2 outputs reads 4 rows whole but 2 x 3 rows double
    buffered -- so dims with windows try both; there are rarely more than two.
    """
    tiles = {d.name: 1 if _is_free(d) else d.size for d in problem.dims}
    windowed = [
        d
        for d in problem.dims
        if _is_free(d)
        and any(a.dim == d.name and a.window > 1 for op in problem.operands for a in op.axes)
    ]
    best: tuple[int, dict[str, int]] | None = None
    for choice in itertools.product(*((1, d.size) for d in windowed)):
        trial = tiles | {d.name: t for d, t in zip(windowed, choice, strict=True)}
        candidate = (_footprint(problem, trial), trial)
        if best is None or candidate[0] < best[0]:
            best = candidate
    assert best is not None  # the product of no ranges still yields one (empty) choice
    return best


def _greedy(problem: Problem, smallest: dict[str, int]) -> dict[str, int]:
    """Tiles that fit: from whole, shrink the dim that saves the most L1 bytes, step by step.

    Each step moves one splittable dim to its next smaller divisor; a tie goes to the dim
    listed first. If every dim reaches 1 and the tiles still do not fit (only halos can do
    that), `smallest`, a minimum-footprint tiling, is the answer.
    """
    divisors = {d.name: _divisors(d.size) for d in problem.dims if _is_free(d)}
    tiles = {d.name: d.size for d in problem.dims}
    while _footprint(problem, tiles) > problem.budget:
        moves = []
        for name, divs in divisors.items():
            i = divs.index(tiles[name])
            if i > 0:
                trial = tiles | {name: divs[i - 1]}
                moves.append((_footprint(problem, trial), trial))
        if not moves:
            return smallest
        tiles = min(moves, key=lambda move: move[0])[1]
    return tiles


# --- the CP-SAT model ----------------------------------------------------------------------


class _TooLarge(Exception):
    """A bound of the model would leave the safe 64-bit range: the fallback answers."""


@dataclass(frozen=True)
class _Term:
    """A non-negative affine expression of the model, with bounds on its value."""

    expr: cp_model.LinearExprT
    lo: int
    hi: int


def _const(value: int) -> _Term:
    return _Term(value, value, value)


def _scaled(term: _Term, k: int) -> _Term:
    if term.hi * k > _LIMIT:
        raise _TooLarge("scaled term")
    return _Term(k * term.expr, k * term.lo, k * term.hi)


@dataclass(frozen=True)
class _OrderResult:
    """What CP-SAT made of one loop order."""

    tiles: dict[str, int] | None
    """None: no solution under the cap (if proven), or none found in time."""
    proven: bool
    """The tiles are optimal for this order, or it is proven that none beat the cap."""
    used_time: float
    """Deterministic time CP-SAT spent."""


def _solve_order(
    problem: Problem, order: Sequence[str], cap: int | None, time_limit: float
) -> _OrderResult:
    """The best tiles for one loop order, moving at most `cap` bytes if given."""
    try:
        model = _OrderModel(problem, order, cap)
    except _TooLarge:
        return _OrderResult(None, False, 0.0)
    return model.solve(time_limit)


class _OrderModel:
    """The CP-SAT model of `problem` for one loop order (see the module docstring).

    Raises _TooLarge when a bound would leave the safe integer range.
    """

    def __init__(self, problem: Problem, order: Sequence[str], cap: int | None) -> None:
        self.problem = problem
        self.model = cp_model.CpModel()
        self.variables: list[cp_model.IntVar] = []
        """Every variable, so that a solution can seed (hint) the solve of the next pack."""
        # Per dim the solver chooses; the other dims are constants (tile = size, count = 1).
        self.tile: dict[str, cp_model.IntVar] = {}
        self.count: dict[str, _Term] = {}
        self.split: dict[str, cp_model.IntVar] = {}
        self.rank: dict[str, _Term] = {}
        self.descending: dict[str, list[int]] = {}
        misaligned: list[cp_model.IntVar] = []
        for d in problem.dims:
            if _is_free(d):
                misaligned += self._add_dim(d)

        whole = {d.name: d.size for d in problem.dims}
        l1: list[_Term] = []
        moved: list[_Term] = []
        visits: list[_Term] = []
        for op in problem.operands:
            follows = [name for name in self.split if name in _dims(op)]
            # Fixed axes and axes of unsplittable dims span the same in every tile.
            fixed = op.elem_bytes * prod(_span(a, whole) for a in op.axes if a.dim not in follows)
            spans = [self._lookup(op, name, per_visit=False) for name in follows]
            tile_bytes = _scaled(self._product(spans, f"{op.name}_elems"), fixed)
            l1.append(tile_bytes)
            if op.scratch:
                continue
            if problem.double_buffer and follows:
                changes = self._any([self.split[name] for name in follows], f"{op.name}_changes")
                copy = self._var(0, tile_bytes.hi, f"{op.name}_copy")
                self.model.add(copy == tile_bytes.expr).only_enforce_if(changes)
                self.model.add(copy == 0).only_enforce_if(~changes)
                l1.append(_Term(copy, 0, tile_bytes.hi))
            repeats = self._repeats(op.name, follows, order)
            counts = [self.count[name] for name in follows]
            visits.append(self._product([*counts, repeats], f"{op.name}_visits"))
            per_visit = [self._lookup(op, name, per_visit=True) for name in follows]
            moved.append(_scaled(self._product([*per_visit, repeats], f"{op.name}_moved"), fixed))
        if sum(t.hi for t in l1) > _LIMIT:
            raise _TooLarge("footprint")
        self.model.add(sum(t.expr for t in l1) + problem.extra_bytes <= problem.budget)

        self.levels = [
            _Term(sum(t.expr for t in moved), 0, sum(t.hi for t in moved)),
            _Term(sum(t.expr for t in visits), len(visits), sum(t.hi for t in visits)),
            _Term(sum(misaligned), 0, len(misaligned)),
            *(self.rank[name] for name in reversed(order) if name in self.rank),
        ]
        self.capped = cap is not None
        if cap is not None:
            self.model.add(self.levels[0].expr <= cap)

    def solve(self, time_limit: float) -> _OrderResult:
        """Minimise the packs of levels in turn."""
        tiles: dict[str, int] | None = None
        used = 0.0
        for pack in _packs(self.levels):
            weights = _weights(pack)
            objective = sum(w * level.expr for w, level in zip(weights, pack, strict=True))
            self.model.minimize(objective)
            solver = cp_model.CpSolver()
            # Single-threaded, seeded and bounded in deterministic time: reproducible.
            solver.parameters.num_workers = 1
            solver.parameters.random_seed = 0
            solver.parameters.max_deterministic_time = max(time_limit - used, 0.0)
            # These models are tiny: presolve, probing and the LP relaxation cost more
            # than the search itself (measured: they double the time to optimality).
            solver.parameters.cp_model_presolve = False
            solver.parameters.cp_model_probing_level = 0
            solver.parameters.linearization_level = 0
            status = solver.solve(self.model)
            used += solver.deterministic_time
            if status == cp_model.INFEASIBLE and self.capped and tiles is None:
                return _OrderResult(None, True, used)
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                if status != cp_model.UNKNOWN:
                    # The budget was checked against the minimum footprint beforehand.
                    raise AssertionError(
                        f"node {self.problem.node!r}: CP-SAT says {solver.status_name(status)}"
                    )
                return _OrderResult(tiles, False, used)
            tiles = {
                d.name: solver.value(self.tile[d.name]) if d.name in self.tile else d.size
                for d in self.problem.dims
            }
            if status != cp_model.OPTIMAL:
                return _OrderResult(tiles, False, used)
            # At the optimum, <= is the same as ==, and it propagates more cheaply.
            self.model.add(objective <= solver.value(objective))
            self.model.clear_hints()
            for var in self.variables:
                self.model.add_hint(var, solver.value(var))
        return _OrderResult(tiles, True, used)

    def _var(self, lo: int, hi: int, name: str, values: list[int] | None = None) -> cp_model.IntVar:
        """A new variable over [lo, hi], or over `values` if given (lo, hi: their bounds)."""
        if hi > _LIMIT:
            raise _TooLarge(name)
        domain = cp_model.Domain(lo, hi) if values is None else cp_model.Domain.from_values(values)
        var = self.model.new_int_var_from_domain(domain, name)
        self.variables.append(var)
        return var

    def _add_dim(self, d: Dim) -> list[cp_model.IntVar]:
        """Variables of a dim the solver chooses; returns its misalignment flag, if any."""
        divs = _divisors(d.size)
        t = self._var(1, d.size, f"t_{d.name}", divs)
        n = self._var(1, d.size, f"n_{d.name}", [d.size // x for x in divs])
        self.model.add_multiplication_equality(d.size, [n, t])
        split = self._var(0, 1, f"split_{d.name}")
        self.model.add(n >= 2).only_enforce_if(split)
        self.model.add(n == 1).only_enforce_if(~split)
        descending = divs[::-1]
        rank = self._var(0, len(divs) - 1, f"rank_{d.name}")
        self.model.add_element(rank, descending, t)
        self.tile[d.name] = t
        self.count[d.name] = _Term(n, 1, d.size)
        self.split[d.name] = split
        self.rank[d.name] = _Term(rank, 0, len(divs) - 1)
        self.descending[d.name] = descending

        flags = [int(x % d.align != 0) for x in descending]
        if not 0 < sum(flags) < len(flags):
            return []  # every divisor is aligned, or none is: nothing to prefer
        misaligned = self._var(0, 1, f"misaligned_{d.name}")
        self.model.add_element(rank, flags, misaligned)
        return [misaligned]

    def _lookup(self, op: Operand, name: str, *, per_visit: bool) -> _Term:
        """What dim `name` contributes to the operand's tile, as a table indexed by its rank.

        The product of the spans of the operand's axes that follow the dim, times n_d with
        `per_visit` (the dim's share of the moved bytes).
        """
        size = self.descending[name][0]  # the largest divisor
        axes = [a for a in op.axes if a.dim == name]
        values = [
            prod(a.stride * (x - 1) + a.window for a in axes) * (size // x if per_visit else 1)
            for x in self.descending[name]
        ]
        if min(values) == max(values):
            return _const(values[0])
        var = self._var(min(values), max(values), f"{op.name}_{name}", values)
        self.model.add_element(self.rank[name].expr, values, var)
        return _Term(var, min(values), max(values))

    def _product(self, factors: Sequence[_Term], name: str) -> _Term:
        """The product of `factors`, as a chain of pairwise multiplications."""
        const = prod(f.lo for f in factors if f.lo == f.hi)
        acc: _Term | None = None
        for f in factors:
            if f.lo == f.hi:
                continue
            if acc is None:
                acc = f
                continue
            lo, hi = acc.lo * f.lo, acc.hi * f.hi
            var = self._var(lo, hi, f"{name}_{len(self.variables)}")
            self.model.add_multiplication_equality(var, [acc.expr, f.expr])
            acc = _Term(var, lo, hi)
        return _const(const) if acc is None else _scaled(acc, const)

    def _any(self, flags: Sequence[cp_model.IntVar], name: str) -> cp_model.IntVar:
        """A flag that is 1 exactly when one of `flags` is."""
        if len(flags) == 1:
            return flags[0]
        var = self._var(0, 1, name)
        self.model.add_max_equality(var, flags)
        return var

    def _repeats(self, op: str, follows: Sequence[str], order: Sequence[str]) -> _Term:
        """The factor by which the loops the operand does not follow multiply its visits.

        Such a loop repeats the operand only if it encloses a split dim the operand
        follows (loops of the dims it follows count through their n_d directly).
        """
        if not follows:
            return _const(1)
        last = max(order.index(name) for name in follows)
        factors = []
        for j, name in enumerate(order[:last]):
            if name not in self.split or name in follows:
                continue
            deeper = [self.split[e] for e in order[j + 1 : last + 1] if e in follows]
            changes = self._any(deeper, f"{op}_changes_below_{name}")
            count = self.count[name]
            factor = self._var(1, count.hi, f"{op}_repeat_{name}")
            self.model.add(factor == count.expr).only_enforce_if(changes)
            self.model.add(factor == 1).only_enforce_if(~changes)
            factors.append(_Term(factor, 1, count.hi))
        return self._product(factors, f"{op}_repeats")


def _weights(pack: Sequence[_Term]) -> list[int]:
    """Weights that make the weighted sum of `pack` order its levels lexicographically."""
    weights: list[int] = []
    weight = 1
    for level in reversed(pack):
        weights.append(weight)
        weight *= level.hi - level.lo + 1
    return weights[::-1]


def _packs(levels: Sequence[_Term]) -> list[list[_Term]]:
    """Consecutive runs of the non-constant levels whose weighted sums stay below _LIMIT."""
    packs: list[list[_Term]] = []
    for level in levels:
        if level.lo == level.hi:
            continue
        if level.hi > _LIMIT:
            raise _TooLarge("objective level")
        trial = [*packs[-1], level] if packs else [level]
        largest = sum(w * lv.hi for w, lv in zip(_weights(trial), trial, strict=True))
        if packs and largest <= _LIMIT:
            packs[-1] = trial
        else:
            packs.append([level])
    return packs
