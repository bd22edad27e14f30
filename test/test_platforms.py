"""Platforms as data: every number has a source; command-line overrides say so."""

from __future__ import annotations

import pytest

from xdeeploy.errors import DeeployError
from xdeeploy.platforms import load_platform, platform_names


def test_the_three_platforms_exist_with_sourced_numbers() -> None:
    assert {"generic", "rv32-virt", "siracusa"} <= set(platform_names())
    for name in platform_names():
        p = load_platform(name)
        assert p.name == name and p.cores >= 1 and p.cores_source
        assert {"L1", "L2"} <= set(p.memory)
        for level in p.memory.values():
            assert level.size > 0
            assert level.source.split(":")[0] in {"published", "assumed", "measured"}, level


def test_generic_budgets_follow_deeploys_test_runners() -> None:
    p = load_platform("generic")
    assert (p.l1, p.l2) == (64000, 1024000)


def test_overrides_replace_numbers_and_their_source() -> None:
    p = load_platform("siracusa").with_overrides(l1=16000, cores=4)
    assert p.l1 == 16000 and p.memory["L1"].source == "command line"
    assert p.cores == 4 and p.l2 == load_platform("siracusa").l2


@pytest.mark.parametrize(
    ("kwargs", "flag"), [({"l1": 0}, "--l1"), ({"l2": -1}, "--l2"), ({"cores": 9}, "--cores")]
)
def test_bad_overrides_are_errors(kwargs: dict[str, int], flag: str) -> None:
    with pytest.raises(DeeployError, match=flag):
        load_platform("generic").with_overrides(**kwargs)


def test_unknown_platform_names_the_known_ones() -> None:
    with pytest.raises(DeeployError, match="generic"):
        load_platform("nonesuch")


@pytest.mark.parametrize("cores", ["0", "9"])
def test_cores_outside_the_cluster_are_one_line(
    cores: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from xdeeploy.tools import deeploy

    assert deeploy.main(["run", "x.onnx", "--platform", "generic", "--cores", cores]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"got {cores}" in err and "between 1 and 8" in err
