"""Platforms as data: each `<name>.toml` here describes one target (memory levels, cores,
engines), every number with its source. `load_platform` reads one; command-line
overrides (`--l1`, `--l2`, `--cores`) give a copy with those numbers replaced."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from xdeeploy.errors import DeeployError


@dataclass(frozen=True)
class MemoryLevel:
    name: str
    size: int
    source: str


@dataclass(frozen=True)
class Platform:
    name: str
    description: str
    cores: int
    cores_source: str
    memory: dict[str, MemoryLevel]
    extra: dict[str, Any] = field(default_factory=dict)
    """Sections other engines read (e.g. `npu`), as in the file."""

    @property
    def l1(self) -> int:
        return self.memory["L1"].size

    @property
    def l2(self) -> int:
        return self.memory["L2"].size

    def with_overrides(
        self, l1: int | None = None, l2: int | None = None, cores: int | None = None
    ) -> Platform:
        """A copy with the given numbers replaced; their source says so."""
        memory = dict(self.memory)
        for level, size in (("L1", l1), ("L2", l2)):
            if size is None:
                continue
            if size <= 0:
                raise DeeployError(
                    f"--{level.lower()} must be a positive number of bytes, got {size}"
                )
            memory[level] = MemoryLevel(level, size, "command line")
        platform = replace(self, memory=memory)
        if cores is not None:
            if not 1 <= cores <= 8:
                raise DeeployError(f"--cores must be between 1 and 8, got {cores}")
            platform = replace(platform, cores=cores, cores_source="command line")
        return platform


def platform_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml")
        for p in resources.files("xdeeploy.platforms").iterdir()
        if p.name.endswith(".toml")
    )


def load_platform(name: str) -> Platform:
    path = resources.files("xdeeploy.platforms") / f"{name}.toml"
    if not path.is_file():
        raise DeeployError(f"unknown platform '{name}' (known: {', '.join(platform_names())})")
    data = tomllib.loads(path.read_text())
    memory = {
        level: MemoryLevel(level, int(spec["size"]), str(spec["source"]))
        for level, spec in data.pop("memory").items()
    }
    return Platform(
        name=data.pop("name"),
        description=data.pop("description"),
        cores=int(data.pop("cores")),
        cores_source=data.pop("cores_source"),
        memory=memory,
        extra=data,
    )
