"""Run configurations: frozen dataclasses whose defaults are the only defaults.

A config file (TOML or YAML) holds overrides only, in sections that mirror the nested dataclasses;
command-line ``key=value`` pairs use the same dotted names (``run.max_steps=100``). Unknown keys and
ill-typed values are :class:`~blip_diffusion.errors.InputError` naming the key, what was given and
what is expected. The resolved config is written beside every checkpoint (:func:`to_dict`).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

import tomllib

from blip_diffusion.errors import InputError

T = TypeVar("T")
MIXED_PRECISION = ("no", "fp16", "bf16")
LR_SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine")
TRACKERS = ("tensorboard", "none")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The training loop's settings, shared by every stage (one section per trained part)."""

    max_steps: int = 1000  # optimizer steps
    batch_size: int = 16  # per process and per micro-batch
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    lr_schedule: str = "constant_with_warmup"  # one of LR_SCHEDULES
    warmup_steps: int = 0
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0  # 0 disables clipping
    mixed_precision: str = "no"  # one of MIXED_PRECISION
    gradient_checkpointing: bool = False
    ema_decay: float = 0.0  # 0 = no EMA; else the EMA of the trained weights is what gets exported
    checkpoint_every: int = 500  # optimizer steps between checkpoints (and at the end); 0 = none at all
    checkpoints_kept: int = 2
    log_every: int = 10
    log_with: str = "tensorboard"  # one of TRACKERS; skipped with a warning when tensorboard is absent
    num_workers: int = 0  # data-loading processes
    seed: int = 0

    def __post_init__(self) -> None:
        _check_choice("mixed_precision", self.mixed_precision, MIXED_PRECISION)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("log_with", self.log_with, TRACKERS)
        for name in ("max_steps", "batch_size", "gradient_accumulation_steps", "checkpoints_kept", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"run.{name} must be at least 1, got {getattr(self, name)}")
        if self.checkpoint_every < 0:
            raise InputError(f"run.checkpoint_every must be 0 (no checkpoints) or more, got {self.checkpoint_every}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise InputError(f"run.ema_decay must be in [0, 1), got {self.ema_decay}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def read_file(path: str | Path) -> dict[str, Any]:
    """The overrides in a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text) or {}
        if path.suffix == ".json":
            return json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as error:
        raise InputError(f"cannot parse config file {path}: {error}") from error
    raise InputError(f"config file {path} must end in .toml, .yaml, .yml or .json")


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["run.max_steps=10", "out=x"]`` -> nested dict of strings (converted by type later)."""
    nested: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"override {pair!r} must look like key=value (e.g. run.max_steps=100)")
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"override {pair!r}: {part} is set both as a value and as a section")
        node[leaf] = _Text(value)
    return nested


class _Text(str):
    """A value typed on the command line: converted to the field's type."""


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Nested dict update: ``extra`` wins."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def build(cls: type[T], values: dict[str, Any], prefix: str = "", default: T | None = None) -> T:
    """An instance of dataclass ``cls`` from nested overrides, every key and type checked.

    Overrides apply on top of ``default`` (for a nested section: the enclosing field's default
    instance, so ``run.max_steps=5`` keeps that section's other non-class defaults).
    """
    if not isinstance(values, dict):
        raise InputError(f"{prefix.rstrip('.') or 'config'} must be a section (a table of keys), got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        where = prefix.rstrip(".") or "the config"
        raise InputError(f"unknown key(s) {', '.join(prefix + k for k in unknown)} in {where}; "
                         f"valid keys: {', '.join(fields)}")
    kwargs = {}
    for name, value in values.items():
        inner = getattr(default, name) if default is not None else _field_default(fields[name])
        kwargs[name] = _convert(hints[name], value, prefix + name, inner)
    return dataclasses.replace(default, **kwargs) if default is not None else cls(**kwargs)


def _field_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _convert(kind: Any, value: Any, key: str, default: Any = None) -> Any:
    if dataclasses.is_dataclass(kind):
        return build(kind, value, key + ".", default)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        items = value.split(",") if isinstance(value, _Text) else value
        if not isinstance(items, (list, tuple)):
            raise InputError(f"{key} must be a list of {args[0].__name__}, got {value!r}")
        return tuple(_convert(args[0], _Text(i) if isinstance(value, _Text) else i, key) for i in items)
    return _scalar(kind, value, key)


def _scalar(kind: type, value: Any, key: str) -> Any:
    if isinstance(value, _Text):
        value = _from_text(kind, str(value), key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise InputError(f"{key} must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _from_text(kind: type, text: str, key: str) -> Any:
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        return kind(text)
    except ValueError as error:
        raise InputError(f"{key} must be {kind.__name__}, got {text!r}") from error


def load(cls: type[T], path: str | Path | None = None, overrides: list[str] = ()) -> T:
    """Defaults of ``cls`` <- the file's overrides <- ``key=value`` overrides."""
    values = read_file(path) if path else {}
    return build(cls, merge(values, parse_overrides(list(overrides))))


def to_dict(config: Any) -> dict[str, Any]:
    """The resolved config as plain data (tuples become lists), for JSON beside checkpoints."""
    return json.loads(json.dumps(dataclasses.asdict(config)))
