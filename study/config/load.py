"""Study config files: YAML -> a validated StudyConfig, or one ConfigError naming every problem.

The section models (defaults, types, ranges) are defined in `contract.config` so that the trial
and the analysis can rebuild them; this module reads YAML safely, applies `--set key=value`
overrides, checks what only the driver can check (that a torchvision, timm or plug-in name exists
here, paths, the dataset's files), and words every problem as
`file: dotted.key: what is wrong; what to write`.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from contract.config import StudyConfig
from contract.names import DatasetError
from contract.store import is_uri
from study.config.errors import ConfigError
from study.config.problems import (check_alpha, check_intrinsic_dim, check_milestones, check_validation, name_problems,
                                   proxy_changes_checked)
from study.config.proxy import with_changes

MAX_PROBLEM_LINES = 20  # a config with more problems shows the first ones and how many more


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Return {"section.key": value} from `--set section.key=value` strings; values are read as YAML."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"--set {pair}: expected section.key=value, e.g. --set retrain.epochs=20"])
        if not value.strip():  # YAML reads "" as null, which then failed as "got None"
            raise ConfigError([f"--set {pair}: no value after '='; give one, or write {key.strip()}=null for none"])
        try:
            overrides[key.strip()] = yaml.load(value, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError:
            raise ConfigError([f"--set {pair}: not valid YAML; quote strings, write lists as [1, 2]"]) from None
    return overrides


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, and 1e-05 a number.

    PyYAML follows YAML 1.1, which reads an exponent without a dot as a string: `lr: 1e-3` failed
    as "got '1e-3'; input should be a valid number".
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice in one section; "
                                                        "keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def load_config(path: str | Path, overrides: dict[str, Any] | None = None, *, check_paths: bool = True) -> StudyConfig:
    """Return the validated config of YAML file `path` with `overrides` applied and paths made absolute.

    Args:
        path: the study YAML file.
        overrides: {"section.key": value} replacing values of the file.
        check_paths: also check the files: data.root exists and holds the dataset's files (off when
            only building a param space). Cheap, so that bad data stops here, before Ray starts.

    Raises:
        ConfigError: with every problem found, each naming the file and the dotted key.
    """
    path = Path(path)
    where = str(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except OSError as err:
        raise ConfigError([f"{where}: cannot read the file ({err.strerror}); check the path"]) from None
    except UnicodeDecodeError as err:
        raise ConfigError([f"{where}: not a UTF-8 text file (byte {err.start} is {err.object[err.start]:#04x}); "
                           "give the study's YAML file"]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(err, yaml.constructor.ConstructorError) and "given twice" in str(err.problem):
            raise ConfigError([f"{where}{line}: {err.problem}"]) from None
        raise ConfigError([f"{where}: not valid YAML{line}: {getattr(err, 'problem', err)}; fix the syntax"]) from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError([f"{where}: the top level must be a mapping of sections (study:, data:, ...)"])
    problems = _apply_overrides(raw, overrides or {}, where)
    if problems:
        raise ConfigError(problems)
    config = validate(raw, where)
    changes = proxy_changes_checked(config, where)
    if changes:  # a proxy (contract.proxy): its values written in, then every check again on them
        raw = with_changes(raw, changes)
        config = validate(raw, where)
    check_milestones(raw, config, where)
    config = resolve_paths(config, base=Path.cwd())
    if config.study.search == "optuna":
        try:
            import optuna  # noqa: F401  (the searcher asks it on the driver)
        except ImportError:
            raise ConfigError([f"{where}: study.search: optuna needs optuna, an optional extra: pip install "
                               "'three-regime-pruning[optuna]' (or pip install optuna)"]) from None
    if config.tracking.mlflow is not None:
        try:
            import mlflow  # noqa: F401  (the callback needs it on the driver)
        except ImportError:
            raise ConfigError([f"{where}: tracking.mlflow: needs mlflow, an optional extra: pip install "
                               "'three-regime-pruning[mlflow]' (or remove the section)"]) from None
    if check_paths and config.data.root is not None and config.data.name != "npz" and \
            not Path(config.data.root).is_dir():
        raise ConfigError([f"{where}: data.root: folder {config.data.root!r} does not exist; "
                           "create it or point data.root at the folder holding the dataset"])
    if check_paths:
        from trainables.data.catalog import check_dataset_files  # torch: only where files are checked

        try:
            check_dataset_files(config.data.name, config.data.root, download=config.data.download,
                                image_size=config.data.image_size)
        except DatasetError as err:
            raise ConfigError([f"{where}: data.root: {err}"]) from None
        check_intrinsic_dim(config, where)
        check_validation(config, where)
        check_alpha(config, where)
    return config


def validate(raw: dict, where: str = "config") -> StudyConfig:
    """Return StudyConfig for the plain dict `raw`, or raise ConfigError listing every problem."""
    problems = [f"{where}: {problem}" for problem in name_problems(raw)]
    try:
        config = StudyConfig.model_validate(raw)
    except ValidationError as err:
        problems += [_explain(e, where) for e in err.errors()]
    if len(problems) > MAX_PROBLEM_LINES:  # a long list with one bad kind of entry: not a screenful each
        problems = problems[:MAX_PROBLEM_LINES] + [f"{where}: ... and {len(problems) - MAX_PROBLEM_LINES} more "
                                                   "problems (fix these first)"]
    if problems:
        raise ConfigError(problems)
    return config


def resolve_paths(config: StudyConfig, *, base: Path) -> StudyConfig:
    """Return `config` with study.storage and data.root absolute (trials run in another directory)."""
    storage = config.study.storage
    if not is_uri(storage):
        storage = str((base / Path(storage).expanduser()).resolve())
    root = config.data.root
    if root is not None:
        root = str((base / Path(root).expanduser()).resolve())
    return config.model_copy(update={"study": config.study.model_copy(update={"storage": storage}),
                                     "data": config.data.model_copy(update={"root": root})})


def _apply_overrides(raw: dict, overrides: dict[str, Any], where: str) -> list[str]:
    problems = []
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if not key or "." in key:
            problems.append(f"--set {dotted}: name a section and a key, e.g. retrain.epochs")
            continue
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            problems.append(f"{where}: {section}: must be a mapping to take --set {dotted}")
            continue
        target[key] = value
    return problems


def _explain(error: dict, where: str) -> str:
    loc = [str(p) for p in error["loc"]]
    key = ".".join(loc) or "(top level)"
    kind, given = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return f"{where}: {key}: unknown key{_did_you_mean(loc)}; remove it or fix its spelling"
    if kind == "value_error":
        message = error["msg"].removeprefix("Value error, ")
        return f"{where}: {message}" if message.startswith(tuple(StudyConfig.model_fields)) else \
            f"{where}: {key}: {message}"
    expected = error["msg"][0].lower() + error["msg"][1:]
    return f"{where}: {key}: got {given!r}; {expected}"


def _did_you_mean(loc: list[str]) -> str:
    model: type[BaseModel] = StudyConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return ""
        model = field.annotation
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
    return f" (did you mean {'.'.join(loc[:-1] + close)}?)" if close else ""
