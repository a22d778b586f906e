import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainables.data import DatasetError, augment_batch, iterate_batches, load_dataset


def _reference_crop_flip(x, dy, dx, flip):
    # Per-sample slicing, the way torchvision's RandomCrop(32, padding=4) + flip does it.
    padded = F.pad(x, (4, 4, 4, 4))
    out = torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(len(x))])
    return torch.where(flip.view(-1, 1, 1, 1), out.flip(3), out)


def test_crop_flip_equals_per_sample_crops_and_flips():
    x = torch.randn(16, 3, 32, 32)
    gen = torch.Generator().manual_seed(3)
    out = augment_batch(x, "crop_flip", gen)
    # Replay the same draws the batched op consumed, in the same order.
    replay = torch.Generator().manual_seed(3)
    dy = torch.randint(0, 9, (16,), generator=replay)
    dx = torch.randint(0, 9, (16,), generator=replay)
    flip = torch.rand(16, generator=replay) < 0.5
    assert torch.equal(out, _reference_crop_flip(x, dy, dx, flip))
    assert out.shape == x.shape and not torch.equal(out, x)


def test_shift_is_a_per_sample_circular_roll():
    x = torch.arange(2 * 40, dtype=torch.float32).view(2, 1, 40)
    out = augment_batch(x, "shift", torch.Generator().manual_seed(0))
    shifts = torch.randint(-4, 5, (2, 1, 1), generator=torch.Generator().manual_seed(0)).flatten()
    for i in range(2):
        assert torch.equal(out[i], torch.roll(x[i], int(shifts[i]), dims=-1))


def test_batches_cover_the_epoch_keep_labels_and_change_pixels():
    data = load_dataset("synthetic")
    seen_x, seen_y = [], []
    for xb, yb in iterate_batches(data.x_train, data.y_train, batch_size=100, seed=1, epoch=0,
                                  drop_last=False, augmentation="shift"):
        seen_x.append(xb)
        seen_y.append(yb)
    assert [len(y) for y in seen_y] == [100] * 5 + [12]
    # Labels travel with their examples: each augmented input is a roll of a training input of that label.
    xb, yb = seen_x[0][0], seen_y[0][0]
    rolls = [torch.roll(x, s, -1) for x in data.x_train[data.y_train == yb] for s in range(-4, 5)]
    assert any(torch.equal(xb, r) for r in rolls)
    assert sorted(torch.cat(seen_y).tolist()) == sorted(data.y_train.tolist())
    un_augmented = torch.cat([b for b, _ in iterate_batches(data.x_train, data.y_train, batch_size=100, seed=1,
                                                            epoch=0, drop_last=False)])
    assert not torch.equal(torch.cat(seen_x), un_augmented)


def test_drop_last_and_epoch_seeding():
    data = load_dataset("synthetic")
    sizes = [len(y) for _, y in iterate_batches(data.x_train, data.y_train, batch_size=100, seed=0, epoch=0,
                                               drop_last=True)]
    assert sizes == [100] * 5
    first = lambda epoch: next(iterate_batches(data.x_train, data.y_train, batch_size=8, seed=0, epoch=epoch,  # noqa: E731
                                               drop_last=True))[1]
    assert torch.equal(first(0), first(0)) and not torch.equal(first(0), first(1))


def test_mnist1d_is_generated_without_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = np.random.get_state()[1].copy()
    data = load_dataset("mnist1d")
    assert data.x_train.shape == (4000, 1, 40) and data.x_test.shape == (1000, 1, 40)
    assert data.num_classes == 10 and set(data.y_train.unique().tolist()) == set(range(10))
    assert list(tmp_path.iterdir()) == []
    assert np.array_equal(np.random.get_state()[1], state)  # the caller's numpy RNG is untouched


def test_digits_is_bundled():
    data = load_dataset("digits")
    assert data.x_train.shape[1:] == (1, 8, 8) and len(data.y_train) + len(data.y_test) == 1797


def _write_fake_cifar10(root, n_per_batch=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        entry = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 "labels": [(k + i) % 10 for i in range(n_per_batch)], "batch_label": name}
        with open(folder / name, "wb") as fh:
            pickle.dump(entry, fh)
    return folder


def test_cifar10_reads_a_user_supplied_folder_in_the_real_format(tmp_path):
    folder = _write_fake_cifar10(tmp_path)
    data = load_dataset("cifar10", tmp_path)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    with open(folder / "data_batch_1", "rb") as fh:
        raw = pickle.load(fh)
    pixel = raw["data"][0].reshape(3, 32, 32)[1, 5, 7] / 255.0  # channel-major rows, as CIFAR stores them
    assert data.x_train[0, 1, 5, 7].item() == pytest.approx((pixel - 0.4822) / 0.1994, abs=1e-5)
    assert data.y_train[:4].tolist() == raw["labels"]
    assert data.augmentation == "crop_flip"


def test_cifar10_missing_folder_names_it(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", tmp_path / "nowhere")
    message = str(err.value)
    assert "cifar-10-batches-py" in message and "nowhere" in message and "\n" not in message


def test_channels_last_data_gives_the_same_batches_in_channels_last_layout():
    x = torch.randn(20, 3, 32, 32)
    y = torch.arange(20)
    plain = list(iterate_batches(x, y, batch_size=8, seed=0, epoch=0, drop_last=False, augmentation="crop_flip"))
    cl = list(iterate_batches(x.contiguous(memory_format=torch.channels_last), y, batch_size=8, seed=0, epoch=0,
                              drop_last=False, augmentation="crop_flip"))
    for (xa, ya), (xb, yb) in zip(plain, cl, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert xb.is_contiguous(memory_format=torch.channels_last) and not xb.is_contiguous()


def test_the_crops_border_is_black_in_the_raw_image_as_in_the_papers_code(tmp_path):
    # The paper pads the raw image with black, then normalises: the border of a crop is
    # (0 - mean) / std per channel, not 0 (which is the mean colour after normalisation).
    _write_fake_cifar10(tmp_path)
    data = load_dataset("cifar10", tmp_path)
    black = [(0.0 - m) / s for m, s in zip((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))]
    assert data.pad_value == pytest.approx(black)
    x = data.x_train[:8]
    gen = torch.Generator().manual_seed(0)
    out = augment_batch(x, "crop_flip", gen, pad_value=data.pad_value)
    replay = torch.Generator().manual_seed(0)
    dy = torch.randint(0, 9, (8,), generator=replay)
    dx = torch.randint(0, 9, (8,), generator=replay)
    flip = torch.rand(8, generator=replay) < 0.5
    raw = x * torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1) + torch.tensor([0.4914, 0.4822, 0.4465]).view(
        1, 3, 1, 1)  # back to [0, 1] pixels
    expected = _reference_crop_flip(raw, dy, dx, flip)  # zero padding of the raw image = black
    expected = (expected - torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)) / torch.tensor(
        [0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)
    assert torch.allclose(out, expected, atol=1e-5)
    shifted = int(torch.argmax((dy != 4).int()))  # a crop that shows some border rows
    row = 0 if dy[shifted] < 4 else 31
    for c in range(3):
        assert torch.allclose(out[shifted, c, row], torch.full((32,), black[c]), atol=1e-5)


def test_an_empty_cifar_root_is_one_line_naming_the_folder_and_the_file(tmp_path):
    from trainables.data import check_dataset_files

    with pytest.raises(DatasetError) as err:
        check_dataset_files("cifar10", tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert f"{tmp_path / 'cifar-10-batches-py'} has no readable data_batch_1 (and 5 more of its 6 files)" in message
    folder = _write_fake_cifar10(tmp_path)
    check_dataset_files("cifar10", tmp_path)  # all present: passes
    (folder / "test_batch").write_bytes(b"")  # present but empty
    with pytest.raises(DatasetError, match="has no readable test_batch;"):
        check_dataset_files("cifar10", tmp_path)
    check_dataset_files("mnist1d", None)  # generated: nothing to check
