"""The YAML files users edit (allocation rules, rate card, budgets): one loader, one kind of error.

Each file is validated whole when loaded against a strict pydantic model; nothing runs on a file with an
error, and the error names the file, the key (`shared_pools[1].percentages`) and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigFileError(ValueError):
    """A settings file (or a file it references) that cannot be used; names the file, the key and the problem."""

    def __init__(self, file: Path | str, key: str, problem: str):
        self.file, self.key, self.problem = str(file), key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo must not silently switch a rule off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyProblem(ValueError):
    """Raise inside a validator to name the exact key (relative to the model being validated)."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


Model = TypeVar("Model", bound=BaseModel)


def load_yaml_model(path: Path | str, model: type[Model]) -> Model:
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(path, "", "file not found") from None
    except yaml.YAMLError as error:
        raise ConfigFileError(path, "", f"not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise ConfigFileError(path, "", "expected a mapping of settings at the top level")
    try:
        return model.model_validate(document)
    except ValidationError as error:
        errors = error.errors()
        # A misspelt key shows up twice (unknown key, required key missing): name the misspelling.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        outer = _key_path(first["loc"])
        inner = first.get("ctx", {}).get("error")
        if isinstance(inner, KeyProblem):
            raise ConfigFileError(path, f"{outer}.{inner.key}" if outer else inner.key, inner.problem) from None
        raise ConfigFileError(path, outer, _problem(first)) from None


def _key_path(loc: tuple) -> str:
    parts = ""
    for part in loc:
        if isinstance(part, int):
            parts += f"[{part}]"
        elif str(part).startswith("function-"):
            continue
        else:
            parts += f".{part}" if parts else str(part)
    return parts


def _problem(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("literal_error", "missing"):
        return message if error["type"] == "missing" else f"{message}, got {error.get('input')!r}"
    return message
