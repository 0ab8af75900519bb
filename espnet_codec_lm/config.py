"""Typed configuration: one dataclass per component, loaded from YAML with ``key=value`` overrides.

Every entry point reads exactly one YAML file into a (possibly nested) dataclass. Unknown keys are
errors that name the key and the file, so a typo never silently falls back to a default::

    cfg = load_config(CodecTrainConfig, "conf/codec_debug.yaml", ["optim.lr=1e-3", "max_steps=10"])

Overrides use dotted paths into nested dataclasses; values are parsed as YAML scalars
(``1e-3`` -> float, ``true`` -> bool, ``[1,2]`` -> list) and then checked against the field type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from espnet_codec_lm.utils.fileio import atomic_write_text

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration problem, reported on one line naming the file and the key."""


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (converting ints to floats and the like)."""
    tp, optional = _unwrap_optional(tp)
    if value is None:
        if optional or tp is Any:
            return None
        raise ConfigError(f"{where}: null is not allowed (expected {_type_name(tp)})")
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return _build(tp, value, where)
    origin = typing.get_origin(tp)
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        args = typing.get_args(tp)
        val_tp = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "2e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _build(cls: type[T], data: dict, where: str) -> T:
    types_ = _field_types(cls)
    for k in data:
        if k not in types_:
            full = f"{where}.{k}" if where else k
            known = ", ".join(sorted(types_))
            raise ConfigError(f"unknown key '{full}' for {cls.__name__} (known: {known})")
    kwargs = {k: _coerce(v, types_[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted}: '{k}' is not a section")
    node[keys[-1]] = value


def parse_overrides(overrides: Sequence[str]) -> dict:
    """Turn ``["a.b=1", "c=x"]`` into a nested dict, values parsed as YAML scalars."""
    out: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(out, key.strip(), value)
    return out


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _check_unique(node: yaml.Node, where: str, source: str) -> None:
    """A ConfigError naming file, line and dotted key for a key given twice in one mapping
    (PyYAML keeps the last silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            full = f"{where}.{key}" if where and key is not None else key
            if key is not None and key != "<<":
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise ConfigError(
                        f"{source}: line {line} duplicate key '{full}' (first on line {seen[key]})"
                    )
                seen[key] = line
            _check_unique(value_node, full or where, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_unique(item, f"{where}[{i}]", source)


def _load_unique(text: str, source: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_unique(node, "", source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a syntax error or a duplicate key becomes a one-line ConfigError
    naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = _load_unique(path.read_text(encoding="utf-8"), str(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}:{line} malformed YAML: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def config_from_dict(cls: type[T], data: dict, source: str = "<dict>") -> T:
    """Build ``cls`` from a plain dict; ``source`` names where it came from in errors."""
    try:
        return _build(cls, data, "")
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Load ``cls`` from the YAML at ``path`` (optional) with ``key=value`` overrides applied."""
    data = read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "<defaults>"
    if overrides:
        data = apply_overrides(data, overrides, source)
        source += " (+ command-line overrides)"
    return config_from_dict(cls, data, source)


def apply_overrides(data: dict, overrides: Sequence[str], source: str = "<dict>") -> dict:
    """``data`` with ``key=value`` overrides merged in; errors name ``source``."""
    try:
        return _merge(data, parse_overrides(overrides))
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def to_dict(cfg: Any) -> dict:
    """A dataclass config as plain YAML-serialisable data."""
    return dataclasses.asdict(cfg)


def dump_config(cfg: Any, path: str | Path) -> None:
    """Write a config next to an experiment's outputs (atomically)."""
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


_ABSENT = "<absent>"


def config_changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf that differs (``<absent>`` where a
    key is only on one side), sorted by key."""
    a, b = _flatten(old), _flatten(new)
    keys = sorted(k for k in set(a) | set(b) if a.get(k, _ABSENT) != b.get(k, _ABSENT))
    return [(k, a.get(k, _ABSENT), b.get(k, _ABSENT)) for k in keys]


def check_resume_config(
    saved: str | Path,
    cfg: Any,
    may_change: Sequence[str],
    allow_change: bool,
    log: Any,
    flag: str = "--allow_config_change",
) -> list[tuple[str, Any, Any]]:
    """Compare the config a run is resumed with to the one its experiment saved (``saved``).

    Keys under ``may_change`` (dotted keys or section prefixes: the stopping rule, logging and
    checkpoint cadence, which do not change what a step computes) may differ: each change is
    logged. Any other difference is a one-line ConfigError naming the file and the keys,
    unless ``allow_change`` (the ``flag`` of the entry point), which logs each one as a warning.
    A missing ``saved`` file (an experiment of an older version) is not checked. Returns the
    changes."""
    saved = Path(saved)
    if not saved.is_file():
        return []
    current = yaml.safe_load(yaml.safe_dump(to_dict(cfg), allow_unicode=True))
    changes = config_changes(read_yaml(saved), current)

    def free(key: str) -> bool:
        return any(key == m or key.startswith(m + ".") for m in may_change)

    refused = [c for c in changes if not free(c[0])]
    if refused and not allow_change:
        shown = "; ".join(f"{k}: {o!r} -> {n!r}" for k, o, n in refused[:4])
        more = f"; and {len(refused) - 4} more" if len(refused) > 4 else ""
        raise ConfigError(
            f"{saved}: resuming with a changed config ({shown}{more}); rerun with the saved "
            f"config, pass {flag} to continue with the new one, or use another exp_dir"
        )
    for k, o, n in changes:
        if free(k):
            log.info("config change on resume (allowed): %s: %r -> %r", k, o, n)
        else:
            log.warning("config change on resume (%s): %s: %r -> %r", flag, k, o, n)
    return changes
