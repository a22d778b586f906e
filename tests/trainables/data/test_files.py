"""The user's own data: .npz arrays and image folders, written by the tests in the real formats."""

import numpy as np
import pytest
import torch
from PIL import Image

from contract.names import MODELS
from trainables.data import DatasetError, check_dataset_files, load_dataset
from trainables.models import build_model


def write_npz(path, *, n_train=40, n_test=20, shape=(3, 8, 8), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y_train, y_test = np.arange(n_train) % classes, np.arange(n_test) % classes
    templates = rng.normal(size=(classes, *shape))
    np.savez(path, x_train=templates[y_train] + 0.3 * rng.normal(size=(n_train, *shape)), y_train=y_train,
             x_test=templates[y_test] + 0.3 * rng.normal(size=(n_test, *shape)), y_test=y_test)
    return path


def write_image_folder(root, *, classes=("cat", "dog"), per_class=(6, 3), size=(12, 10), test_name="test"):
    # Class c's images are bright in channel c: a learnable task with real PNG files.
    gen = torch.Generator().manual_seed(0)
    for split, n in zip(("train", test_name), per_class, strict=True):
        for c, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                image = (torch.rand(*size, 3, generator=gen) * 100).to(torch.uint8)
                image[..., c % 3] += 120
                Image.fromarray(image.numpy()).save(root / split / name / f"{i}.png")
    return root


def test_npz_arrays_are_standardised_on_the_training_split(tmp_path):
    path = write_npz(tmp_path / "d.npz")
    data = load_dataset("npz", path)
    raw = np.load(path)
    assert data.input_shape == (3, 8, 8) and data.num_classes == 4 and data.augmentation == "none"
    mean = raw["x_train"].mean(axis=(0, 2, 3))
    std = raw["x_train"].std(axis=(0, 2, 3), ddof=1)
    assert data.stats[0] == pytest.approx(mean.tolist(), abs=1e-5) and data.stats[1] == pytest.approx(std.tolist(),
                                                                                                      rel=1e-4)
    expected = (raw["x_test"][3, 1] - mean[1]) / std[1]  # the test split uses the training statistics
    assert torch.allclose(data.x_test[3, 1], torch.as_tensor(expected, dtype=torch.float32), atol=1e-4)
    assert data.y_train.dtype == torch.int64 and data.y_test.tolist()[:5] == [0, 1, 2, 3, 0]


def test_npz_feature_vectors_get_one_channel(tmp_path):
    data = load_dataset("npz", write_npz(tmp_path / "f.npz", shape=(7,)))
    assert data.input_shape == (1, 7)


@pytest.mark.parametrize("arrays,fragment", [
    ({"x_train": np.zeros((4, 3)), "y_train": np.zeros(4, int), "x_test": np.zeros((2, 3))}, "has no y_test"),
    ({"x_train": np.zeros((4, 3)), "y_train": np.zeros(3, int), "x_test": np.zeros((2, 3)), "y_test": np.zeros(2, int)},
     "y_train has shape (3,); expected (4,)"),
    ({"x_train": np.zeros((4, 3)), "y_train": np.zeros(4), "x_test": np.zeros((2, 3)), "y_test": np.zeros(2, int)},
     "y_train must hold integer class labels"),
    ({"x_train": np.zeros((4, 3)), "y_train": np.zeros(4, int), "x_test": np.zeros((2, 5)), "y_test": np.zeros(2, int)},
     "they must match"),
])
def test_a_malformed_npz_is_one_line_naming_the_problem(tmp_path, arrays, fragment):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match="npz: ") as err:
        check_dataset_files("npz", tmp_path / "bad.npz")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_image_folder_decodes_resizes_and_labels_by_sorted_class_folder(tmp_path):
    root = write_image_folder(tmp_path, test_name="val")
    data = load_dataset("imagefolder", root, image_size=8)
    assert data.x_train.shape == (12, 3, 8, 8)  # from 10 x 12 pixel PNGs and data.x_test.shape == (6, 3, 8, 8) and data.num_classes == 2
    assert data.y_train.tolist() == [0] * 6 + [1] * 6  # "cat" before "dog"
    # Class 0 ("cat") is bright in channel 0, class 1 in channel 1, after resizing and standardising too.
    assert data.x_train[:6, 0].mean() > data.x_train[6:, 0].mean()
    assert data.x_train[6:, 1].mean() > data.x_train[:6, 1].mean()
    assert abs(float(data.x_train.mean())) < 1e-4  # standardised on the training split


@pytest.mark.parametrize("setup,fragment", [
    (lambda root: (root / "train" / "a").mkdir(parents=True), "needs train/ and test/ (or val/) folders"),
    (lambda root: write_image_folder(root, classes=("a",)), "has 1 class folders"),
    (lambda root: (write_image_folder(root), (root / "test" / "zebra").mkdir()), "classes that train/ lacks: zebra"),
])
def test_a_malformed_image_folder_is_one_line(tmp_path, setup, fragment):
    setup(tmp_path)
    with pytest.raises(DatasetError, match="imagefolder: ") as err:
        check_dataset_files("imagefolder", tmp_path, image_size=8)
    assert fragment in str(err.value)


def test_torchvision_models_by_name_take_the_datas_classes_and_the_configs_kwargs():
    model = build_model("torchvision/resnet18", input_shape=(3, 16, 16), num_classes=5)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 5)
    vit = build_model("torchvision/vit_b_32", input_shape=(3, 32, 32), num_classes=3, kwargs={"image_size": 32})
    assert vit(torch.randn(1, 3, 32, 32)).shape == (1, 3)


@pytest.mark.parametrize("name", MODELS)
def test_every_built_in_model_name_the_config_accepts_builds(name):
    shape = (1, 40) if name in ("cnn1d", "mlp", "lenet300") else (3, 16, 16)
    model = build_model(name, input_shape=shape, num_classes=7, depth={"preresnet": 8, "vgg": 11}.get(name, 20))
    assert model.eval()(torch.randn(2, *shape)).shape == (2, 7)


def test_timm_models_by_name_and_one_line_naming_the_extra_without_timm():
    import subprocess
    import sys

    from tests.conftest import ROOT

    model = build_model("timm/resnet18", input_shape=(3, 16, 16), num_classes=3)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 3)
    # Without timm (hidden from the import system), a config naming a timm model says which extra to install.
    code = ("import sys; sys.modules['timm'] = None\nfrom study.config import load_config\n"
            f"load_config({str(ROOT / 'configs/tiny.yaml')!r}, {{'model.name': 'timm/resnet18'}}, check_paths=False)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "model.name: 'timm/resnet18' needs timm, an optional extra: pip install 'three-regime-pruning[timm]'" \
        in result.stderr
