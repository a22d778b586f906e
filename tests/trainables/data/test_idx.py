"""MNIST's IDX files, raw and gzip-compressed, written by the test in the real format."""

import gzip

import numpy as np
import pytest
import torch

from trainables.data import DatasetError, load_dataset
from trainables.data.catalog import check_dataset_files, training_labels
from trainables.data.idx import read_idx


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The IDX encoding of `array`, built from the format's definition: 0, 0, type, ndim, sizes, values."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(dtype).tobytes()


def write_mnist(root, *, n_train=30, n_test=10, compress=False, cls="MNIST", seed=0):
    """Write the four MNIST IDX files under root/<cls>/raw/ (as .gz when `compress`); return the arrays."""
    raw = root / cls / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": (np.arange(n_test) * 3) % 10}
    for stem, array in arrays.items():
        content = idx_bytes(array)
        if compress:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(content))
        else:
            (raw / stem).write_bytes(content)
    return arrays


def test_the_header_is_read_by_its_definition_whatever_the_type_and_compression(tmp_path):
    # 0x0803: unsigned bytes, 3 dimensions; 0x0C: big-endian int32, whose bytes a little-endian read would scramble.
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    (tmp_path / "u8").write_bytes(idx_bytes(images))
    assert idx_bytes(images)[:4] == bytes.fromhex("00000803")
    assert read_idx(tmp_path / "u8").tolist() == images.tolist()
    counts = np.array([1, 256, 70000, -5])
    (tmp_path / "i32.gz").write_bytes(gzip.compress(idx_bytes(counts, 0x0C)))
    assert read_idx(tmp_path / "i32.gz").tolist() == [1, 256, 70000, -5]
    (tmp_path / "f32").write_bytes(idx_bytes(np.array([[0.5, -2.0]]), 0x0D))
    assert read_idx(tmp_path / "f32").tolist() == [[0.5, -2.0]]


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_mnist_reads_from_its_idx_files_raw_or_gzip_standardised_on_the_training_split(tmp_path, compress):
    arrays = write_mnist(tmp_path, compress=compress)
    data = load_dataset("torchvision/MNIST", tmp_path)
    assert data.x_train.shape == (30, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28) and data.num_classes == 10
    assert data.y_train.tolist() == [k % 10 for k in range(30)] and data.y_test.tolist() == [3 * k % 10 for k in range(10)]
    pixels = arrays["train-images-idx3-ubyte"] / 255.0
    mean, std = pixels.mean(), pixels.std(ddof=1)  # torch's std is the unbiased one
    assert data.stats[0][0] == pytest.approx(mean, abs=1e-6) and data.stats[1][0] == pytest.approx(std, abs=1e-6)
    expected = (arrays["t10k-images-idx3-ubyte"][2, 5, 7] / 255.0 - mean) / std
    assert float(data.x_test[2, 0, 5, 7]) == pytest.approx(expected, abs=1e-5)
    assert torch.equal(training_labels("torchvision/MNIST", tmp_path)[0], data.y_train)


def test_the_idx_path_gives_torchvisions_values(tmp_path):
    # The same files through torchvision's own MNIST class (one PIL image each): equal pixels and labels.
    from torchvision.datasets import MNIST

    arrays = write_mnist(tmp_path)
    data = load_dataset("torchvision/MNIST", tmp_path)
    theirs = MNIST(str(tmp_path), train=True, download=False)
    assert torch.equal(theirs.targets, data.y_train)
    mean, std = data.stats[0][0], data.stats[1][0]
    ours = data.x_train[:, 0].double() * std + mean
    assert torch.allclose(ours, theirs.data.double() / 255.0, atol=1e-6)
    assert theirs.data.tolist() == arrays["train-images-idx3-ubyte"].tolist()


def test_fashion_mnist_and_kmnist_take_the_same_path_and_missing_files_are_one_line(tmp_path):
    write_mnist(tmp_path, cls="FashionMNIST", compress=True)
    assert load_dataset("torchvision/FashionMNIST", tmp_path).x_train.shape == (30, 1, 28, 28)
    with pytest.raises(DatasetError) as err:
        check_dataset_files("torchvision/KMNIST", tmp_path)
    assert str(err.value) == (f"torchvision/KMNIST: no train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                              f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (or .gz) in {tmp_path / 'KMNIST' / 'raw'}; "
                              "put the original IDX files there, or set data.download: true on a machine with "
                              "network access")
    # Other torchvision classes go through torchvision, with its own reason in the line.
    with pytest.raises(DatasetError, match="torchvision/SVHN: cannot read it from .*data.download: true"):
        check_dataset_files("torchvision/SVHN", tmp_path)


def test_damaged_files_are_one_line_naming_the_file(tmp_path):
    write_mnist(tmp_path)
    images = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(DatasetError, match=f"{images}: 23526 bytes where its header \\(30, 28, 28\\) needs 23536; "
                                           "the file is truncated or damaged"):
        load_dataset("torchvision/MNIST", tmp_path)
    images.write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetError, match=f"{images}: not an IDX file \\(its magic number is 3c68746d\\)"):
        load_dataset("torchvision/MNIST", tmp_path)
    images.write_bytes(gzip.compress(idx_bytes(np.zeros((29, 28, 28)))))  # 29 images for 30 labels
    with pytest.raises(DatasetError, match="the train files hold images of shape \\(29, 28, 28\\) and labels of "
                                           "shape \\(30,\\)"):
        load_dataset("torchvision/MNIST", tmp_path)
    images.write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    with pytest.raises(DatasetError, match="a damaged gzip file"):
        load_dataset("torchvision/MNIST", tmp_path)
