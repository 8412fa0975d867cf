"""The four studies, and user-defined tasks, as data (DESIGN.md section 1).

Why data and not code branches: the trainer, the evaluator and the dashboard read a :class:`Task` and do the
same thing for every study; a new study is a new entry here (or a generic task whose labels come from the
user's manifest), never a new ``if study == ...`` somewhere else. A study of your own is registered without
editing this file: :func:`register_task` from Python, or a task file named by ``SONODASH_TASKS`` (a JSON file
of task objects, or a Python file that calls :func:`register_task` and may add its model family with
``@register_model``), which the command line and the dashboard read on their first task lookup.

>>> get_task("miscarriage").positive_label
'miscarriage'
>>> get_task("classification", labels=["cat", "dog"]).labels
('cat', 'dog')
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Iterable

from core.errors import InputError

KINDS = ("classification", "segmentation", "multitask", "instance")
GENERIC_KINDS = ("classification", "segmentation", "instance")


# Augmentation recipes that crop the input size from a crop_ratio larger picture (core.data.augment).
CROP_AUGMENTS = ("crop_flip",)


@dataclass(frozen=True)
class Recipe:
    """How a study trains its network (optimiser, schedule, augmentation, loss)."""

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 16
    epochs: int = 20
    input_size: int = 224
    in_channels: int = 1
    warmup_epochs: int = 0
    schedule: str = "constant"          # "constant" | "cosine" (after warm-up)
    early_stopping_metric: str = "val_loss"
    patience: int = 5
    # Which weights a fold keeps: "best" = the best-on-validation epoch (the papers' protocols); "last" = the
    # final weights of the whole schedule (no early stopping). With a small validation set (40 patients in a
    # 5-fold split of 200) the best-on-validation pick is mostly noise and lands on early, unannealed epochs.
    keep: str = "best"
    class_weighting: str = "none"       # "none" | "inverse_frequency": w_i = N / (K * n_i)
    balanced_sampling: bool = False     # 50:50 class-balanced sampling (preterm)
    augment: str = "basic"              # name of an augmentation recipe in core.data.augment
    loss: str = "cross_entropy"         # "cross_entropy" | "bce_dice" | "joint" | "maskrcnn"
    seg_alpha: float = 0.5              # L_seg = a*BCE + (1-a)*Dice
    cls_beta: float = 0.8               # L = L_seg + b*weighted BCE
    # Multitask networks: the share of the class loss's gradient that reaches the shared encoder (unet_cls's
    # cls_encoder_grad; 1 = fully joint). Below 1 the few positive patients' class term stops reshaping the
    # features the mask needs, while the head still learns from them.
    cls_encoder_grad: float = 1.0
    normalization: str = "unit"         # "unit" (0..1) | "imagenet"
    roi: str = "image"                  # what the classifier sees: "image" | "sac" (core.segmentation.roi)
    # Crop recipes (augment "crop_flip"): pictures are resized to input_size * crop_ratio, then cropped to
    # input_size (random in training, centre in evaluation; bundles record resize_mode "center_crop").
    crop_ratio: float = 1.0             # > 1 only with an augment in CROP_AUGMENTS (checked by _check_task)
    # How pictures become the square input: "stretch", or "letterbox" (aspect kept, zero padding) for real
    # scans of any shape (core.models.transforms.letterbox; masks map back through the same geometry).
    resize: str = "stretch"
    # Training arithmetic: "fp32", or "bf16" (bfloat16 autocast where the CPU has native bf16, fp32 elsewhere;
    # core.training.trainer.FitConfig). Prediction always runs in fp32.
    precision: str = "fp32"
    # Train with the network in channels-last memory order (NHWC), where oneDNN's CPU convolutions are faster
    # (scripts/bench_train_step.py, U-Net at 160x240 px, bf16: 56 -> 31 ms per image per step); the results
    # are the same up to rounding.
    channels_last: bool = False
    # Overrides used when the network trains from scratch (no ImageNet weights in the local cache): the
    # papers fine-tune pretrained networks at lr 1e-4..5e-4, which barely moves a randomly initialised one.
    scratch: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Protocol:
    """How a study is evaluated."""

    cv: str = "holdout"                 # "kfold:K" | "lopo" | "holdout" | "repeated:N"
    split_fractions: tuple = (0.6, 0.2, 0.2)   # train / val / test for holdout
    aggregation: str = "mean"           # image scores -> patient score: mean | max | majority
    metrics: tuple = ("auc",)
    subgroups: tuple = ()
    frame_step: int = 80                # cine: keep one frame every N
    # Mask post-processing for closed structures (core.segmentation.postprocess): none | largest | fill |
    # ellipse. Recorded in a segmentation bundle's model.json; open structures (the cervix) must not be filled.
    postprocess: str = "none"


@dataclass(frozen=True)
class Task:
    name: str
    kind: str
    title: str
    labels: tuple = ()
    positive_label: str | None = None
    image_kind: str = "image"
    default_arch: str = "resnet18"
    recipe: Recipe = field(default_factory=Recipe)
    protocol: Protocol = field(default_factory=Protocol)
    structures: tuple = ()              # instance tasks: structure names (class 1..K)
    views: dict = field(default_factory=dict)   # instance tasks: view category -> structures
    uses_rules: bool = False            # CRL/FHR rules apply (miscarriage): the page shows their inputs and panel
    # The segmenter the Analyze page preselects ("levelset" = the classical pipeline; None = none, or the
    # bundle's own mask head for a multitask model).
    default_segmenter: str | None = None
    # The mask's centre-line length reported next to the probability, by name (preterm: "cervical length");
    # None = the mask is measured by its fitted ellipse only.
    length_measure: str | None = None
    paper: dict = field(default_factory=dict)   # the paper's reported figures, for reference on pages

    @property
    def num_classes(self) -> int:
        return len(self.structures) if self.kind == "instance" else len(self.labels)

    @property
    def is_binary(self) -> bool:
        return len(self.labels) == 2


def positive_index(class_names, positive_label=None) -> int | None:
    """Column of the positive class of a two-class model: ``positive_label``'s, else the second class (1).

    Why one function: the fold tables' ``score``, the run's AUC, the Predictor's ``probability`` and a stored
    evaluation's statistics must call the same class "positive" (a drifted copy turns AUC 0.8 into 0.2).
    None unless there are exactly two classes.

    >>> positive_index(["live_birth", "miscarriage"], "live_birth"), positive_index(["a", "b"])
    (0, 1)
    """
    names = [str(c) for c in class_names]
    if len(names) != 2:
        return None
    return names.index(str(positive_label)) if positive_label is not None and str(positive_label) in names else 1


FIRST_TRIMESTER_VIEWS = {
    "head": ("cranium", "choroid_plexus", "midline_falx"),
    "neck": ("nasal_bone", "nuchal_translucency", "palate"),
    "thorax": ("thoracic_circumference", "heart"),
    "abdomen": ("abdominal_circumference", "stomach"),
    "extremity": ("upper_arm", "forearm", "hand", "thigh", "calf", "foot"),
    "spine": ("spine",),
}
FIRST_TRIMESTER_STRUCTURES = tuple(s for group in FIRST_TRIMESTER_VIEWS.values() for s in group)
CNS_ANOMALIES = ("anencephaly", "encephalocele", "holoprosencephaly", "rachischisis")

_STUDIES = {
    "miscarriage": Task(
        name="miscarriage",
        kind="classification",
        title="Miscarriage risk from the early gestational sac (6-8 weeks)",
        labels=("live_birth", "miscarriage"),
        positive_label="miscarriage",
        image_kind="gestational_sac",
        default_arch="vgg19",
        recipe=Recipe(optimizer="adam", lr=1e-4, weight_decay=0.0, batch_size=16, epochs=50, input_size=224,
                      augment="affine_fill", early_stopping_metric="val_auc", patience=10, roi="sac",
                      scratch={"lr": 1e-3, "weight_decay": 1e-4, "augment": "basic", "warmup_epochs": 1,
                               "schedule": "cosine", "keep": "last"}),
        protocol=Protocol(cv="kfold:10", aggregation="mean",
                          metrics=("accuracy", "sensitivity", "specificity", "ppv", "npv", "auc"),
                          subgroups=("ga_week", "plane")),
        uses_rules=True,
        default_segmenter="levelset",
        paper={"auc_retrospective": (0.857, 0.793, 0.922), "auc_prospective": (0.885, 0.846, 0.925),
               "levelset_dice": 0.9069, "levelset_recall": 0.9456, "levelset_precision": 0.8786},
    ),
    "preterm": Task(
        name="preterm",
        kind="multitask",
        title="Preterm birth from transvaginal cervix images",
        labels=("term", "preterm"),
        positive_label="preterm",
        image_kind="cervix",
        default_arch="unet_cls",
        recipe=Recipe(optimizer="adam", lr=1e-4, weight_decay=5e-4, batch_size=4, epochs=500, input_size=256,
                      augment="crop_jitter", loss="joint", seg_alpha=0.5, cls_beta=0.8,
                      class_weighting="inverse_frequency", balanced_sampling=True,
                      # The kept epoch is the best on validation Dice: the joint loss is dominated by the
                      # class term of a few preterm patients, so its best epoch was not the mask's (issue 19
                      # item 4: multitask Dice 0.80 vs 0.85 for the U-Net alone on the same split).
                      early_stopping_metric="val_dice", patience=50, scratch={"lr": 1e-3},
                      # Issue 19 item 4, 200 synthetic patients, 20 epochs at 64 px, 4 seeds (holdout, 40 test
                      # patients each): test Dice 0.903 for the U-Net alone, 0.881 fully joint (share 1), 0.905
                      # at 0.1 (patient AUC 0.81 vs 0.89 at 1; 0.67 with the encoder detached, share 0).
                      cls_encoder_grad=0.1),
        protocol=Protocol(cv="holdout", split_fractions=(0.6, 0.2, 0.2),
                          metrics=("iou", "sensitivity", "specificity", "auc"), postprocess="largest"),
        length_measure="cervical length",
        paper={"iou_unet": 0.913, "iou_fcn": 0.755, "iou_deeplabv3": 0.756, "iou_multitask": (0.923, 0.081),
               "sensitivity": 0.677, "specificity": 0.951, "auc": 0.723},
    ),
    "cns": Task(
        name="cns",
        kind="classification",
        title="Fetal CNS anomalies (five-class: normal + four anomalies)",
        labels=("normal",) + CNS_ANOMALIES,
        positive_label=None,
        image_kind="fetal_cns",
        default_arch="resnet34",
        recipe=Recipe(optimizer="adamw", lr=5e-4, weight_decay=0.05, batch_size=32, epochs=30, input_size=224,
                      in_channels=3, warmup_epochs=1, schedule="cosine", early_stopping_metric="val_accuracy",
                      patience=5, class_weighting="inverse_frequency", augment="crop_flip", crop_ratio=256 / 224,
                      normalization="imagenet", scratch={"lr": 1e-3, "warmup_epochs": 0}),
        protocol=Protocol(cv="lopo", aggregation="mean",
                          metrics=("accuracy", "precision", "recall", "f1", "auroc"),
                          subgroups=("trimester", "before_20_weeks"), frame_step=80),
        paper={"image_accuracy": 0.73, "image_auroc": 0.874, "patient_accuracy": 0.945,
               "patient_auroc": 0.993, "five_class_accuracy": 0.9825, "micro_auc": 0.97, "macro_auc": 0.95,
               "mann_whitney_p": 0.1432},
    ),
    "first_trimester": Task(
        name="first_trimester",
        kind="instance",
        title="First-trimester fetal anatomy (17 structures, 11-13+6 weeks)",
        labels=tuple(FIRST_TRIMESTER_VIEWS),
        image_kind="first_trimester",
        default_arch="maskrcnn_mobilenet",
        structures=FIRST_TRIMESTER_STRUCTURES,
        views=FIRST_TRIMESTER_VIEWS,
        recipe=Recipe(optimizer="sgd", lr=5e-3, weight_decay=1e-4, batch_size=4, epochs=20, input_size=256,
                      in_channels=3, loss="maskrcnn", augment="instance", early_stopping_metric="val_loss"),
        protocol=Protocol(cv="repeated:5", metrics=("mask_map50", "box_map50", "view_accuracy")),
        paper={"mask_map": (0.622, 0.010), "box_map": (0.662, 0.011), "category_accuracy": 0.984,
               "maskrcnn_map": 0.722, "yolact_fps": 25.4, "maskrcnn_fps": 11.4},
    ),
}
# The paper's four-class CNS variant (anomalies only).
_STUDIES["cns4"] = replace(_STUDIES["cns"], name="cns4", labels=CNS_ANOMALIES,
                           title="Fetal CNS anomalies (four anomaly classes)")

_GENERIC = {
    "classification": Task(name="classification", kind="classification", title="Image classification (your labels)",
                           default_arch="resnet18", protocol=Protocol(cv="holdout")),
    "segmentation": Task(name="segmentation", kind="segmentation", title="Binary segmentation (your masks)",
                         default_arch="unet",
                         recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=8, epochs=30, input_size=128,
                                       loss="bce_dice", augment="segmentation", patience=8, resize="letterbox",
                                       schedule="cosine", precision="bf16", channels_last=True),
                         protocol=Protocol(cv="holdout", metrics=("dice", "iou"), postprocess="fill")),
    "instance": Task(name="instance", kind="instance", title="Instance segmentation (your structures)",
                     default_arch="maskrcnn_mobilenet",
                     recipe=Recipe(optimizer="sgd", lr=5e-3, batch_size=4, epochs=20, input_size=256,
                                   in_channels=3, loss="maskrcnn", augment="instance"),
                     protocol=Protocol(cv="holdout", metrics=("mask_map50",))),
}


# Tasks registered at run time (register_task, SONODASH_TASKS files), by name.
_USER: dict[str, Task] = {}
_TASK_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
TASKS_ENV = "SONODASH_TASKS"
_loaded_files: set = set()
_loading = False


def register_task(task: Task, *, replace_existing: bool = False) -> Task:
    """Add a study of your own; afterwards ``--task NAME``, the Train page and every lookup know it.

    The name is lower-case (``[a-z][a-z0-9_]*``) and may not shadow a study or a generic kind; registering the
    same name twice needs ``replace_existing=True`` unless the task is identical. Returns the task.
    """
    if not isinstance(task, Task):
        raise InputError(f"register_task expects a core.tasks.Task, got {type(task).__name__}")
    _check_task(task)
    if task.name in _STUDIES or task.name in _GENERIC:
        raise InputError(f"task {task.name!r}: the name of a built-in task; choose another")
    if task.name in _USER and _USER[task.name] != task and not replace_existing:
        raise InputError(f"task {task.name!r} is already registered")
    _USER[task.name] = task
    return task


def _check_task(task: Task) -> None:
    name = task.name
    if not isinstance(name, str) or not _TASK_NAME_RE.fullmatch(name):
        raise InputError(f"task name {name!r}: use 1-40 lower-case letters, digits or _ (starting with a letter)")
    if task.kind not in KINDS:
        raise InputError(f"task {name!r}: kind {task.kind!r}; choose one of: {', '.join(KINDS)}")
    if task.kind in ("classification", "multitask"):
        if len(task.labels) < 2 or len(set(task.labels)) != len(task.labels):
            raise InputError(f"task {name!r}: a {task.kind} task needs at least two distinct labels")
        if task.positive_label is not None and task.positive_label not in task.labels:
            raise InputError(f"task {name!r}: positive_label {task.positive_label!r} is not one of its labels")
    if task.kind == "instance" and not task.structures:
        raise InputError(f"task {name!r}: an instance task needs its structures")
    share = task.recipe.cls_encoder_grad
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise InputError(f"task {name!r}: recipe cls_encoder_grad {share!r:.40} must be a number in [0, 1]")
    ratio = task.recipe.crop_ratio
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio >= 1:
        raise InputError(f"task {name!r}: recipe crop_ratio {ratio!r:.40} must be a number >= 1")
    if ratio > 1 and task.recipe.augment not in CROP_AUGMENTS:
        # The bundle records resize_mode "center_crop" (prediction crops the centre); only a crop recipe's
        # evaluation crops the same way, any other would resize the whole larger picture.
        raise InputError(f"task {name!r}: crop_ratio {ratio:g} needs a crop augmentation "
                         f"({', '.join(CROP_AUGMENTS)}); use crop_ratio 1 with augment {task.recipe.augment!r}")


def load_user_tasks() -> None:
    """Read the task files named by ``SONODASH_TASKS`` (paths separated by the OS path separator), once each.

    Called by every task lookup and by the model registry, so the command line and the dashboard see user
    tasks (and the model families their Python files add) without anyone importing them.
    """
    global _loading
    if _loading:
        return
    paths = [x for x in os.environ.get(TASKS_ENV, "").split(os.pathsep) if x.strip()]
    todo = [p for p in paths if p not in _loaded_files]
    if not todo:
        return
    from core.task_files import load_task_file   # task_files builds Tasks from files: it imports this module

    _loading = True
    try:
        for p in todo:
            load_task_file(p)
            _loaded_files.add(p)
    finally:
        _loading = False


def user_task_names() -> set[str]:
    """Names of the tasks registered at run time (not the studies or the generic kinds)."""
    return set(_USER)


def list_tasks() -> list[str]:
    """Names accepted by ``--task``: the studies, the registered tasks, then the generic kinds."""
    load_user_tasks()
    return list(_STUDIES) + list(_USER) + list(_GENERIC)


def get_task(name: str, *, labels: Iterable[str] | None = None, structures: Iterable[str] | None = None) -> Task:
    """The task called ``name``.

    For the generic kinds the label set (or instance structures) comes from the user's manifest: pass
    ``labels`` / ``structures``; they are sorted so the class index never depends on row order.
    """
    if name in _STUDIES:
        return _STUDIES[name]
    load_user_tasks()
    if name in _USER:
        return _USER[name]
    if name in _GENERIC:
        task = _GENERIC[name]
        if labels is not None:
            uniq = tuple(sorted({str(x) for x in labels}))
            pos = positive_index(uniq)
            task = replace(task, labels=uniq, positive_label=None if pos is None else uniq[pos])
        if structures is not None:
            task = replace(task, structures=tuple(sorted({str(x) for x in structures})))
        return task
    raise InputError(f"unknown task {name!r}; choose one of: {', '.join(list_tasks())}")
