"""The typed study configuration: one model per YAML section, defaults from the paper.

Part of the contract: `study.config` reads YAML into it and words its errors, the trial rebuilds
it from Tune's config dict, the analysis reads a study's saved config back into it
(`contract.saved.read_saved_config`, lenient with studies written by other versions). Every
model forbids unknown keys and checks types strictly, so a typo never runs silently. Names are checked here by
their form (a built-in name, `torchvision/<name>`, `timm/<name>`, `package/name`); whether such a
model or dataset exists in this environment is checked by `study.config` before Ray starts, since
that needs torchvision, timm or the plug-in's package.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from contract.knobs import KnobName
from contract.proxy import ProxySection
from contract.resources import ResourcesSection
from contract.seeds import SeedsSection, check_seeds
from contract.method import ControlsSection, DenseSection, MetricsSection, PruningSection, RetrainSection
from contract.section import Density, PositiveFloat, PositiveInt, Section, Seed, listed_once
from contract.names import DATASETS, MODELS

MAX_GRID_TRIALS = 10_000  # a grid Tune enumerates in seconds; 100,000 took minutes and memory before a cell


class StudySection(Section):
    """What the study varies, how it searches, and where it is stored.

    search "grid" trains every temperature; "regimes" lets the three-regime rule choose which
    (`analysis.search`, DESIGN.md 6.2), up to max_trials temperatures (each with every dense
    seed), for the target densities (default: every density of pruning.densities); "random"
    and "optuna" (TPE) choose among the same temperatures with the same budget
    (`study.search.baselines`), from search_seed; optuna maximises validation accuracy, so it needs
    data.validation.
    """

    # One folder name: letters, digits, _ . - (not "." or ".."), short enough for any file system.
    name: str = Field("study", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    knob: KnobName = "epochs"
    temperatures: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: [float(e) for e in range(10, 161, 10)], min_length=1)
    dense_seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    storage: str = Field("studies", min_length=1)
    # A local storage path that every node of the cluster sees (NFS, or one machine with several
    # Ray nodes): Ray Tune writes each trial's results from the node it runs on.
    shared_storage: bool = False
    search: Literal["grid", "regimes", "random", "optuna"] = "grid"
    search_seed: int = 0
    max_trials: Optional[PositiveInt] = None
    target_densities: Optional[list[Density]] = None
    # A screened grid (`study.run.screen`): every cell first retrained for screen_epochs, then only
    # the cells the screen cannot rule out at the full retrain.epochs; None: no screen.
    screen_epochs: Optional[PositiveInt] = None
    # The criterion the screen rules out by (`analysis.advice.CRITERIA`); None: val when the study
    # has a validation split, else regime.
    criterion: Optional[Literal["regime", "val", "regime+val"]] = None

    @field_validator("temperatures", mode="before")
    @classmethod
    def _ints_are_floats(cls, value):
        # YAML writes 10 for an epoch count; the field holds floats (SAM rho, lr are fractional).
        if isinstance(value, list):
            return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("name")
    @classmethod
    def _one_folder(cls, value: str) -> str:
        if value in (".", ".."):
            raise ValueError(f"got {value!r}, which is not a folder of its own; name the study, e.g. lr_sweep")
        return value

    @field_validator("temperatures", "dense_seeds", "target_densities")
    @classmethod
    def _each_once(cls, value, info):
        return listed_once(value, {"temperatures": "temperature", "dense_seeds": "seed"}.get(info.field_name,
                                                                                            "density"))


class DataSection(Section):
    """The dataset and where its files are.

    npz: root is one .npz file (x_train, y_train, x_test, y_test); imagefolder: root holds
    train/<class>/ and test/<class>/ (or val/) image folders, resized to image_size pixels;
    torchvision/<Class>: a torchvision.datasets class read from root (download: false by
    default); package/name: a dataset an installed package registers (`contract.names`).
    """

    name: str = "cifar10"
    root: Optional[str] = None
    download: bool = False
    augment: bool = True
    image_size: Optional[PositiveInt] = None
    # Data dimension as a controlled factor: inputs projected on the top-k principal components of
    # the training split and mapped back to their shape (`trainables.data.dimension`); None: the data as is.
    intrinsic_dim: Optional[PositiveInt] = None
    # A validation split held out of the training split, stratified by class (`trainables.data.split`):
    # a fraction in (0, 1) or a whole number of examples; 0, the paper's protocol, holds out none.
    # Validation accuracy lets a study answer without reading the test set (`--by val`).
    validation: float = 0
    validation_seed: int = 0
    # A smaller training split: this many training examples, stratified by class, drawn by
    # train_subset_seed (`trainables.data.split`), before the validation split is held out of
    # them; None: the whole training split. The test split is always whole. Rows record it.
    train_subset: Optional[PositiveInt] = None
    train_subset_seed: int = 0

    @field_validator("validation", mode="before")
    @classmethod
    def _fraction_or_count(cls, value):
        # One message for both forms; a count stays a whole number (`validation_counts` tells them
        # apart by size). A count comes back as a float (500.0) from the saved, dumped config a trial reads.
        whole = (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
            isinstance(value, float) and value >= 1 and value.is_integer())
        if whole or (isinstance(value, float) and 0 < value < 1) or value == 0:
            return value
        raise ValueError(f"got {value!r}; write a fraction of the training split in (0, 1), e.g. 0.1, or a whole "
                         "number of examples, e.g. 500 (0: no validation split)")

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value in DATASETS or "/" in value:  # torchvision/<Class> and package/name: study.config checks them
            return value
        raise ValueError(f"got {value!r}; use one of {', '.join(DATASETS)}, torchvision/<Class> for a "
                         "torchvision dataset, or package/name for a dataset an installed package registers "
                         "(docs/running.md: Your own model and data)")


class ModelSection(Section):
    """The network family and size, a torchvision model by name, or an installed plug-in.

    `torchvision/<name>` is any `torchvision.models.get_model` name, built untrained with
    num_classes from the data and `kwargs` passed through (how it takes the input's shape is the
    config's choice, e.g. a ViT's image_size, not guessed); `timm/<name>` is the same through
    `timm.create_model` (timm is an optional extra); `package/name` is a model an
    installed package registers (`contract.names`), also given `kwargs`. Depth and width
    then do not apply.
    """

    name: str = "preresnet"
    depth: PositiveInt = 20
    width: PositiveFloat = 1.0  # every hidden layer's channels times this (below 1: a proxy, contract.proxy)
    kwargs: dict[str, Union[bool, int, float, str]] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value in MODELS or "/" in value:  # torchvision/, timm/ and package/name: study.config checks them
            return value
        raise ValueError(f"got {value!r}; use one of {', '.join(MODELS)}, torchvision/<name> or timm/<name>, "
                         "or package/name for a model an installed package registers")


class FaultsSection(Section):
    """Fault injection for reliability tests, once per trial (a resumed trial does not repeat it).

    crash_after_densities raises inside the trial; kill_after_densities kills its worker process
    with SIGKILL, as an out-of-memory kill or a lost node would; hang_after_densities makes the
    model's next forward block forever, as a dead data loader or a deadlocked collective would
    (resources.trial_timeout_s ends it). out_of_memory_after_densities is not once per trial:
    from that many densities on, every attempt runs under an address-space limit 256 MB above what
    it holds (setrlimit RLIMIT_AS: a real limit) and its next forward asks for 1 GB more, as a
    batch too large for the card would.
    """

    crash_after_densities: Optional[PositiveInt] = None
    kill_after_densities: Optional[PositiveInt] = None
    hang_after_densities: Optional[PositiveInt] = None
    out_of_memory_after_densities: Optional[PositiveInt] = None


class MlflowSection(Section):
    """Where Ray Tune's MLflow callback sends every cell row (as metrics) and the config (as params)."""

    tracking_uri: str = Field(min_length=1)
    experiment: str = Field("three-regime", min_length=1)


class TrackingSection(Section):
    """Results sent elsewhere as well as to the study directory; nothing when absent."""

    mlflow: Optional[MlflowSection] = None
    # TensorBoard event files in every trial folder (Ray Tune's TBXLoggerCallback): each cell row
    # a step (its density's place in the trial), the per-density columns (test_acc_d0.05, ...) as
    # their own tags; `tensorboard --logdir STUDY` while the study runs. Off: it dominated the
    # driver's time on small studies.
    tensorboard: bool = False


class StudyConfig(Section):
    """A whole study: every section, each with its defaults."""

    # what is studied, on what
    study: StudySection = StudySection()
    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    # the method, in the order of a trial (contract.method)
    dense: DenseSection = DenseSection()
    pruning: PruningSection = PruningSection()
    retrain: RetrainSection = RetrainSection()
    metrics: MetricsSection = MetricsSection()
    controls: ControlsSection = ControlsSection()
    # how trials run, fail on purpose, and are tracked
    resources: ResourcesSection = ResourcesSection()
    faults: FaultsSection = FaultsSection()
    tracking: TrackingSection = TrackingSection()
    # the levers that save compute: a smaller study first, seeds only where a call is uncertain
    proxy: ProxySection = ProxySection()
    seeds: SeedsSection = SeedsSection()

    def _screen_settings(self) -> None:
        study = self.study
        if study.criterion in ("val", "regime+val") and not self.data.validation:
            raise ValueError(f"study.criterion: {study.criterion} reads validation accuracy and data.validation is 0; "
                             "set data.validation (e.g. 0.1), or use regime")
        if study.screen_epochs is None:
            return
        if study.screen_epochs >= self.retrain.epochs:
            raise ValueError(f"study.screen_epochs: {study.screen_epochs} is not shorter than the full retraining "
                             f"budget (retrain.epochs = {self.retrain.epochs}); a screen must be cheaper: use fewer "
                             "epochs, or remove it")
        if not (self.metrics.lmc and self.metrics.cka):
            raise ValueError("study.screen_epochs: the screen tells the regimes apart by mc and CKA; set metrics.lmc "
                             "and metrics.cka to true, or remove the screen")

    @property
    def criterion(self) -> str:
        """Return the criterion the study answers its screen by: study.criterion, else val with a split, else regime."""
        return self.study.criterion or ("val" if self.data.validation else "regime")

    @property
    def chooses_trials(self) -> bool:
        """Whether a searcher chooses the trials (a search, or seeds added where calls are uncertain)."""
        return self.study.search != "grid" or self.seeds.max_seeds is not None

    @property
    def targets(self) -> list[float]:
        """Return the densities a search answers for (fractions kept): study.target_densities, else every density."""
        return list(self.study.target_densities or self.pruning.densities)

    @model_validator(mode="after")
    def _consistent(self) -> "StudyConfig":
        knob, temps = self.study.knob, self.study.temperatures
        if knob in ("epochs", "batch_size") and any(t != int(t) or t < 1 for t in temps):
            raise ValueError(f"study.temperatures: knob {knob} needs whole numbers >= 1, got {temps}")
        if knob == "epochs" and max(temps) > self.dense.epochs:
            raise ValueError(f"study.temperatures: {max(temps):g} epochs is past the end of the dense schedule "
                             f"(dense.epochs = {self.dense.epochs}); raise dense.epochs or drop it")
        if knob == "lr" and min(temps) <= 0:
            raise ValueError(f"study.temperatures: learning rates must be > 0, got {temps}")
        trials = len(temps) * len(self.study.dense_seeds)
        if self.study.search == "grid" and trials > MAX_GRID_TRIALS:
            seeds = len(self.study.dense_seeds)
            raise ValueError(f"study.temperatures: the grid is {len(temps):,} temperatures x {seeds} dense "
                             f"seed{'s' * (seeds > 1)} = {trials:,} trials, more than Tune can enumerate "
                             f"({MAX_GRID_TRIALS:,}); search among them instead (study.search: regimes, random or "
                             "optuna, with study.max_trials)")
        self._search_settings()
        check_seeds(self)
        if (self.metrics.lmc or self.metrics.cka) and self.retrain.copies < 2:
            raise ValueError(f"retrain.copies: LMC and CKA compare copies, so 2 or more are needed, got "
                             f"{self.retrain.copies}; raise it or set metrics.lmc and metrics.cka to false")
        return self

    def _search_settings(self) -> None:
        study = self.study
        if study.search == "grid" and (study.max_trials is not None or study.target_densities is not None):
            given = "study.max_trials" if study.max_trials is not None else "study.target_densities"
            raise ValueError(f"{given}: only a search chooses trials; set study.search: regimes, random or optuna, "
                             "or remove it")
        if study.search == "regimes" and not (self.metrics.lmc and self.metrics.cka):
            raise ValueError("study.search: regimes reads mc and CKA; set metrics.lmc and metrics.cka to true")
        if study.search == "optuna" and not self.data.validation:
            raise ValueError("study.search: optuna maximises validation accuracy and data.validation is 0; set "
                             "data.validation (e.g. 0.1), or search with random or regimes")
        self._screen_settings()
        if study.search != "grid":
            extra = [d for d in study.target_densities or [] if d not in self.pruning.densities]
            if extra:
                raise ValueError(f"study.target_densities: {extra} not in pruning.densities "
                                 f"{self.pruning.densities}; add them there or drop them")
