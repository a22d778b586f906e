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

from contract.store import is_uri
from contract.config import (
    ControlsSection,
    DataSection,
    DenseSection,
    FaultsSection,
    MetricsSection,
    ModelSection,
    PruningSection,
    ResourcesSection,
    RetrainSection,
    StudyConfig,
    StudySection,
    TrackingSection,
)
from contract.names import DATASET_GROUP, MODEL_GROUP, MODELS, DatasetError, PluginError, find_plugin
from study.proxy import proxy_changes, with_changes

__all__ = ["ConfigError", "StudyError", "StudyConfig", "StudySection", "DataSection", "ModelSection", "DenseSection",
           "PruningSection", "RetrainSection", "MetricsSection", "ResourcesSection", "ControlsSection", "FaultsSection",
           "TrackingSection", "load_config", "parse_overrides", "is_uri", "resolve_paths"]


class StudyError(RuntimeError):
    """A study cannot be launched as asked (existing study, cluster resources); the message says what to do."""


MAX_PROBLEM_LINES = 20  # a config with more problems shows the first ones and how many more


class ConfigError(ValueError):
    """A study config is invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


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
    changes = _proxy_changes(config, where)
    if changes:  # a proxy (contract.proxy): its values written in, then every check again on them
        raw = with_changes(raw, changes)
        config = validate(raw, where)
    _check_milestones(raw, config, where)
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
        _check_intrinsic_dim(config, where)
        _check_validation(config, where)
        _check_alpha(config, where)
    return config


def _proxy_changes(config: StudyConfig, where: str) -> dict[str, Any]:
    # The proxy's changes, and a width (given or made by the proxy) that leaves a layer without channels.
    from trainables.models.width import check_width

    try:
        changes = proxy_changes(config)
    except ValueError as err:
        raise ConfigError([f"{where}: {err}"]) from None
    try:
        if config.model.name in MODELS:
            check_width(config.model.name, config.model.width)
    except ValueError as err:
        raise ConfigError([f"{where}: model.width: {err}"]) from None
    return changes


def _check_alpha(config: StudyConfig, where: str) -> None:
    # AlphaPruning spreads the target over layers by their alphas: with one layer there is nothing to spread.
    if config.pruning.method != "alpha":
        return
    from trainables.cell.calibrate import planning_data
    from trainables.method.pruning import prunable_weights
    from trainables.models.catalog import build_model

    data, _ = planning_data(config)
    m = config.model
    model = build_model(m.name, input_shape=data.input_shape, num_classes=data.num_classes, depth=m.depth,
                        width=m.width, kwargs=m.kwargs)
    try:
        layers = prunable_weights(model, include_fc=config.pruning.include_fc, exclude=tuple(config.pruning.exclude))
    except ValueError as err:
        raise ConfigError([f"{where}: {err}"]) from None
    if len(layers) < 2:
        raise ConfigError([f"{where}: pruning.method: alpha spreads the target density over the prunable layers by "
                           f"their heavy-tail exponents, and {m.name} has {len(layers)} prunable layer here; use "
                           "uniform, or prune more layers (pruning.include_fc, pruning.exclude)"])


def _check_milestones(raw: dict, config: StudyConfig, where: str) -> None:
    # Milestones the user wrote at or past the end of their schedule never drop the learning rate:
    # a typo, not a schedule. Checked on what was written (the defaults [80, 120] with a short
    # schedule stay as they were); the knob batch_size does not use dense.milestones.
    for name, section in (("dense", config.dense), ("retrain", config.retrain)):
        given = isinstance(raw.get(name), dict) and "milestones" in raw[name]
        late = [m for m in section.milestones if m >= section.epochs]
        if given and late and not (name == "dense" and config.study.knob == "batch_size"):
            raise ConfigError([f"{where}: {name}.milestones: {late} at or past the end of the {section.epochs}-epoch "
                               f"schedule never drop the learning rate; use epochs below {section.epochs}, or raise "
                               f"{name}.epochs"])


def _check_validation(config: StudyConfig, where: str) -> None:
    # The training subset and the validation split held out of it, where the labels are cheap to read.
    d = config.data
    if not d.validation and d.train_subset is None:
        return
    from trainables.data.catalog import training_labels
    from trainables.data.split import subset_indices, validation_counts

    known = training_labels(d.name, d.root)
    if known is None:
        return
    labels, classes = known
    try:
        if d.train_subset is not None:
            labels = labels[subset_indices(labels, d.train_subset, num_classes=classes, seed=d.train_subset_seed)]
        if d.validation:
            validation_counts(labels, d.validation, num_classes=classes)
    except DatasetError as err:
        raise ConfigError([f"{where}: {err}"]) from None


def _check_intrinsic_dim(config: StudyConfig, where: str) -> None:
    k = config.data.intrinsic_dim
    if k is None:
        return
    from trainables.data.dimension import input_features

    features = input_features(config.data.name, config.data.root)
    if features is not None and k > features:
        raise ConfigError([f"{where}: data.intrinsic_dim: {k} is more than the {features} input features of "
                           f"{config.data.name}; use 1 to {features}"])


def validate(raw: dict, where: str = "config") -> StudyConfig:
    """Return StudyConfig for the plain dict `raw`, or raise ConfigError listing every problem."""
    problems = [f"{where}: {problem}" for problem in _name_problems(raw)]
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


def _name_problems(raw: dict) -> list[str]:
    # A model or dataset named torchvision/..., timm/... or package/name must exist in this
    # environment; the contract checks only the form of a name, as it needs no torch.
    problems = []
    for section, check in (("data", _dataset_problem), ("model", _model_problem)):
        name = raw.get(section, {}).get("name") if isinstance(raw.get(section), dict) else None
        if isinstance(name, str) and "/" in name:
            problem = check(name)
            if problem:
                problems.append(f"{section}.name: {problem}")
    return problems


def _dataset_problem(name: str) -> str | None:
    if name.startswith("torchvision/"):
        import torchvision.datasets

        if not isinstance(getattr(torchvision.datasets, name.split("/", 1)[1], None), type):
            return (f"torchvision.datasets has no dataset {name.split('/', 1)[1]!r} (names are case-sensitive: "
                    "FashionMNIST, SVHN, KMNIST, ...)")
        return None
    return _plugin_problem(DATASET_GROUP, name)


def _model_problem(name: str) -> str | None:
    wanted = name.split("/", 1)[1]
    if name.startswith("timm/"):
        try:
            import timm
        except ImportError:
            return (f"{name!r} needs timm, an optional extra: pip install 'three-regime-pruning[timm]' "
                    "(or pip install timm)")
        return None if timm.is_model(wanted) else f"timm has no model {wanted!r}; see timm.list_models()"
    if name.startswith("torchvision/"):
        from torchvision.models import list_models

        known = list_models()
        if wanted in known:
            return None
        close = [m for m in known if m.startswith(wanted[:4])][:5]
        hint = f" (close: {', '.join(close)})" if close else ""
        return f"torchvision has no model {wanted!r}{hint}; see torchvision.models.list_models()"
    return _plugin_problem(MODEL_GROUP, name)


def _plugin_problem(group: str, name: str) -> str | None:
    try:
        find_plugin(group, name)
    except PluginError as err:
        return str(err)
    return None


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
