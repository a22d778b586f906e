"""What only the driver can check in a config: names that must exist here, and checks that need torch.

Named plug-ins, torchvision and timm models and datasets must exist in this environment; some
checks build the model or read the dataset's labels (torch, imported where needed).

Each check raises one ConfigError (or returns problem lines) worded `file: dotted.key: what is
wrong; what to write`, like every other config problem (`study.config.load`).
"""

from __future__ import annotations

from typing import Any

from contract.config import StudyConfig
from contract.names import DATASET_GROUP, MODEL_GROUP, MODELS, DatasetError, PluginError, find_plugin
from study.config.errors import ConfigError
from study.config.proxy import proxy_changes


def proxy_changes_checked(config: StudyConfig, where: str) -> dict[str, Any]:
    """Return the proxy's changes (`study.config.proxy`); a width that leaves a layer without channels is refused."""
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


def check_alpha(config: StudyConfig, where: str) -> None:
    """Refuse AlphaPruning on a model with fewer than two prunable layers (nothing to spread the target over)."""
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


def check_milestones(raw: dict, config: StudyConfig, where: str) -> None:
    """Refuse milestones the user wrote at or past the end of their schedule (they never drop the learning rate)."""
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


def check_validation(config: StudyConfig, where: str) -> None:
    """Refuse a training subset or validation split the dataset's labels cannot give (read where cheap)."""
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


def check_intrinsic_dim(config: StudyConfig, where: str) -> None:
    """Refuse a data.intrinsic_dim above the dataset's input features."""
    k = config.data.intrinsic_dim
    if k is None:
        return
    from trainables.data.dimension import input_features

    features = input_features(config.data.name, config.data.root)
    if features is not None and k > features:
        raise ConfigError([f"{where}: data.intrinsic_dim: {k} is more than the {features} input features of "
                           f"{config.data.name}; use 1 to {features}"])


def name_problems(raw: dict) -> list[str]:
    """Return a problem line per model or dataset name (torchvision/, timm/, package/name) missing here."""
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
