"""Tests of bayes_zoo.data: every source, the splits, determinism, errors.

The real datasets are never needed: TFDS is mocked, and the directory
layouts are written by the tests in tmp_path.
"""

import gzip
import os
import pickle

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from bayes_zoo import data, zoo
from bayes_zoo.tasks import classification as classification_task


def _unique_images(num_examples, shape, offset=0):
    """uint8 images whose first two pixels encode their index (so each is unique)."""
    rng = np.random.default_rng(num_examples + offset)
    images = rng.integers(0, 256, size=(num_examples,) + shape, dtype=np.uint8)
    index = np.arange(num_examples) + offset
    images.reshape(num_examples, -1)[:, 0] = index % 256
    images.reshape(num_examples, -1)[:, 1] = index // 256
    return images


def _labels(num_examples, num_classes=10):
    return (np.arange(num_examples) * 7 % num_classes).astype(np.uint8)


def _write_mnist_npz(folder, num_train=40, num_test=12):
    arrays = {
        "x_train": _unique_images(num_train, (28, 28)),
        "y_train": _labels(num_train),
        "x_test": _unique_images(num_test, (28, 28), offset=1000),
        "y_test": _labels(num_test),
    }
    np.savez_compressed(os.path.join(folder, "mnist.npz"), **arrays)
    return arrays


def _idx_bytes(array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    return header + array.tobytes()


def _write_idx_files(folder, num_train=30, num_test=10):
    arrays = {
        "train-images-idx3-ubyte": _unique_images(num_train, (28, 28)),
        "train-labels-idx1-ubyte": _labels(num_train),
        "t10k-images-idx3-ubyte": _unique_images(num_test, (28, 28), offset=1000),
        "t10k-labels-idx1-ubyte": _labels(num_test),
    }
    os.makedirs(folder, exist_ok=True)
    for stem, array in arrays.items():
        with gzip.open(os.path.join(folder, stem + ".gz"), "wb") as file:
            file.write(_idx_bytes(array))
    return arrays


def _write_cifar10_pickles(folder, per_batch=4, num_test=6):
    root = os.path.join(folder, "cifar-10-batches-py")
    os.makedirs(root)
    written = {"train": [], "test": []}
    files = [(f"data_batch_{i}", "train") for i in range(1, 6)] + [("test_batch", "test")]
    for index, (filename, split) in enumerate(files):
        num = num_test if split == "test" else per_batch
        images = _unique_images(num, (32, 32, 3), offset=100 * index)
        labels = _labels(num)
        # The official layout: rows of 3072 bytes, the red, green and blue planes.
        batch = {b"data": images.transpose(0, 3, 1, 2).reshape(num, -1), b"labels": list(labels)}
        with open(os.path.join(root, filename), "wb") as file:
            pickle.dump(batch, file)
        written[split].append((images, labels))
    return {
        split: (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]))
        for split, parts in written.items()
    }


def _write_png_tree(folder, classes, per_class, shape):
    """`folder/{train,test}/<class>/<i>.png`; returns {split: (images, labels)} in sorted order."""
    written = {}
    for split, num in (("train", per_class), ("test", per_class // 2)):
        images, labels = [], []
        for label, class_name in sorted(classes.items(), key=lambda item: item[1]):
            class_folder = os.path.join(folder, split, class_name)
            os.makedirs(class_folder)
            class_images = _unique_images(num, shape, offset=label * 50 + len(split))
            for i, image in enumerate(class_images):
                png = tf.io.encode_png(image).numpy()
                with open(os.path.join(class_folder, f"{i:04d}.png"), "wb") as file:
                    file.write(png)
            images.append(class_images)
            labels.append(np.full(num, label))
        written[split] = np.concatenate(images), np.concatenate(labels)
    return written


def _as_arrays(dataset):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(images), np.concatenate(labels)


# ---------------------------------------------------------------------------
# Sources.


@pytest.mark.parametrize(
    "name, image_shape", [("mnist", (32, 32, 1)), ("cifar10", (32, 32, 3))]
)
def test_tfds_source_through_mock_data(tmp_path, name, image_shape):
    with tfds.testing.mock_data(num_examples=20):
        splits = data.load_splits(name, data_dir=tmp_path, batch_size=8, validation_fraction=0.25)
        train_images, train_labels = _as_arrays(splits.train)
        test_images, _ = _as_arrays(splits.test)
    assert splits.source.startswith("TFDS")
    assert (splits.num_train_examples, splits.num_validation_examples) == (15, 5)
    assert splits.num_test_examples == 20
    assert splits.info.image_shape == image_shape
    assert train_images.shape == (15,) + image_shape and test_images.shape == (20,) + image_shape
    assert train_images.dtype == np.float32 and train_labels.dtype == np.int32
    assert 0.0 <= train_images.min() and train_images.max() <= 1.0
    assert train_images.max() > 0.5  # scaled from uint8, not left in 0..255 nor all zero
    assert set(train_labels) <= set(range(10))
    first_batch, _ = next(iter(splits.train))
    assert first_batch.shape == (8,) + image_shape


def test_mnist_npz_in_data_dir(tmp_path):
    written = _write_mnist_npz(tmp_path)
    images, labels = data.load_arrays("mnist", "test", data_dir=tmp_path, image_size=(28, 28))
    np.testing.assert_array_equal(images[..., 0], written["x_test"] / np.float32(255))
    np.testing.assert_array_equal(labels, written["y_test"])
    splits = data.load_splits("mnist", data_dir=tmp_path, batch_size=16)
    assert splits.source == os.path.join(tmp_path, "mnist.npz")
    assert (splits.num_train_examples, splits.num_validation_examples) == (36, 4)
    assert splits.num_test_examples == 12


def test_fashion_mnist_idx_files_in_a_subfolder(tmp_path):
    written = _write_idx_files(tmp_path / "fashion-mnist")
    images, labels = data.load_arrays(
        "fashion_mnist", "train", data_dir=tmp_path, validation_fraction=0.0, image_size=(28, 28)
    )
    expected = written["train-images-idx3-ubyte"] / np.float32(255)
    np.testing.assert_array_equal(images[..., 0], expected)
    np.testing.assert_array_equal(labels, written["train-labels-idx1-ubyte"])
    _, test_labels = data.load_arrays("fashion_mnist", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(test_labels, written["t10k-labels-idx1-ubyte"])


def test_cifar10_python_pickles(tmp_path):
    written = _write_cifar10_pickles(tmp_path)
    for split in ("train", "test"):
        images, labels = data.load_arrays(
            "cifar10", split, data_dir=tmp_path, validation_fraction=0.0
        )
        np.testing.assert_array_equal(images, written[split][0] / np.float32(255))
        np.testing.assert_array_equal(labels, written[split][1])
    assert len(written["train"][1]) == 20


def test_cifar100_python_pickles_use_the_fine_labels(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    written = {}
    for split, num in (("train", 12), ("test", 5)):
        images = _unique_images(num, (32, 32, 3), offset=len(split))
        fine_labels = np.arange(num) * 13 % 100
        batch = {
            b"data": images.transpose(0, 3, 1, 2).reshape(num, -1),
            b"fine_labels": list(fine_labels),
            b"coarse_labels": list(fine_labels // 5),
        }
        (root / split).write_bytes(pickle.dumps(batch))
        written[split] = images, fine_labels
    images, labels = data.load_arrays("cifar100", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(images, written["test"][0] / np.float32(255))
    np.testing.assert_array_equal(labels, written["test"][1])
    assert data.dataset_info("cifar100").num_classes == 100


def test_svhn_mat_files_map_label_10_to_digit_0(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    written = {}
    for split, num in (("train", 10), ("test", 4)):
        images = _unique_images(num, (32, 32, 3), offset=len(split))
        digits = np.arange(num) % 10
        # SVHN's layout: X is [32, 32, 3, n], y is [n, 1] with the digit 0 as 10.
        scipy_io.savemat(
            tmp_path / f"{split}_32x32.mat",
            {"X": images.transpose(1, 2, 3, 0), "y": np.where(digits == 0, 10, digits)[:, None]},
        )
        written[split] = images, digits
    images, labels = data.load_arrays("svhn_cropped", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(images, written["test"][0] / np.float32(255))
    np.testing.assert_array_equal(labels, written["test"][1])


def test_class_folder_tree_maps_labels_by_class_name(tmp_path):
    # Only three of CIFAR-10's classes: sorted folder order (airplane, cat,
    # truck) must still give the official ids 0, 3 and 9.
    written = _write_png_tree(tmp_path, {0: "airplane", 3: "cat", 9: "truck"}, 4, (32, 32, 3))
    for split in ("train", "test"):
        images, labels = data.load_arrays(
            "cifar10", split, data_dir=tmp_path, validation_fraction=0.0
        )
        np.testing.assert_array_equal(images, written[split][0] / np.float32(255))
        np.testing.assert_array_equal(labels, written[split][1])
    assert set(labels) == {0, 3, 9}


def test_bundled_digits():
    splits = data.load_splits("digits", batch_size=500)
    total = splits.num_train_examples + splits.num_validation_examples + splits.num_test_examples
    assert total == 1797
    assert splits.num_test_examples == 359
    assert splits.info.image_shape == (8, 8, 1)
    images, labels = _as_arrays(splits.train)
    assert images.shape == (splits.num_train_examples, 8, 8, 1)
    assert images.min() == 0.0 and images.max() == 1.0  # 0..16 scaled to [0, 1]
    assert set(labels) == set(range(10))
    # The test split is fixed: it does not depend on the loader's seed.
    _, test_labels_0 = data.load_arrays("digits", "test", seed=0)
    _, test_labels_1 = data.load_arrays("digits", "test", seed=1)
    np.testing.assert_array_equal(test_labels_0, test_labels_1)


# ---------------------------------------------------------------------------
# Splits, determinism, augmentation, sizes.


def test_validation_is_disjoint_from_train_and_covers_the_official_split(tmp_path):
    written = _write_mnist_npz(tmp_path, num_train=50)

    def ids(split, seed):
        images, _ = data.load_arrays(
            "mnist", split, data_dir=tmp_path, seed=seed, validation_fraction=0.2,
            image_size=(28, 28),
        )
        pixels = np.rint(images[..., 0] * 255).astype(int).reshape(len(images), -1)
        return set(pixels[:, 0] + 256 * pixels[:, 1])

    train, validation = ids("train", 0), ids("validation", 0)
    assert len(validation) == 10 and not train & validation
    assert train | validation == set(range(len(written["y_train"])))
    assert ids("validation", 0) == validation
    assert ids("validation", 1) != validation


def test_shuffling_is_deterministic_under_the_seed():
    def order(seed):
        _, labels = _as_arrays(data.load("digits", "train", batch_size=300, seed=seed))
        return labels

    np.testing.assert_array_equal(order(0), order(0))
    assert not np.array_equal(order(0), order(1))
    # Validation and test keep a fixed order by default.
    _, validation = _as_arrays(data.load("digits", "validation", batch_size=300))
    np.testing.assert_array_equal(validation, data.load_arrays("digits", "validation")[1])


def test_augmentation_touches_only_training_data(tmp_path):
    _write_mnist_npz(tmp_path)
    splits = data.load_splits(
        "mnist", data_dir=tmp_path, batch_size=64, augment=True, shuffle=False
    )
    for split in ("validation", "test"):
        images, labels = _as_arrays(getattr(splits, split))
        expected_images, expected_labels = data.load_arrays("mnist", split, data_dir=tmp_path)
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, expected_labels)
    test_images, _ = _as_arrays(
        data.load("mnist", "test", data_dir=tmp_path, augment=True, batch_size=64)
    )
    expected_test_images, _ = data.load_arrays("mnist", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(test_images, expected_test_images)

    augmented, labels = _as_arrays(splits.train)
    plain, plain_labels = data.load_arrays("mnist", "train", data_dir=tmp_path)
    np.testing.assert_array_equal(labels, plain_labels)
    assert augmented.shape == plain.shape
    assert 0.0 <= augmented.min() and augmented.max() <= 1.0
    assert not np.array_equal(augmented, plain)
    # Augmentation is reproducible under the seed.
    again, _ = _as_arrays(
        data.load("mnist", "train", data_dir=tmp_path, batch_size=64, augment=True, shuffle=False)
    )
    np.testing.assert_array_equal(again, augmented)


def test_mnist_is_padded_to_32x32_by_default(tmp_path):
    written = _write_mnist_npz(tmp_path)
    assert data.dataset_info("mnist").image_shape == (32, 32, 1)
    images, _ = data.load_arrays("mnist", "test", data_dir=tmp_path)
    assert images.shape == (12, 32, 32, 1)
    np.testing.assert_array_equal(images[:, 2:30, 2:30, 0], written["x_test"] / np.float32(255))
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not images[:, border].any()
    resized, _ = data.load_arrays("mnist", "test", data_dir=tmp_path, image_size=(16, 16))
    assert resized.shape == (12, 16, 16, 1)
    splits = data.load_splits("mnist", data_dir=tmp_path, image_size=(28, 28))
    assert splits.info.image_shape == (28, 28, 1)
    assert next(iter(splits.test))[0].shape == (12, 28, 28, 1)


def test_zero_validation_fraction_keeps_all_training_examples(tmp_path):
    _write_mnist_npz(tmp_path)
    splits = data.load_splits("mnist", data_dir=tmp_path, validation_fraction=0.0)
    assert splits.num_train_examples == 40 and splits.validation is None
    with pytest.raises(ValueError, match="validation_fraction"):
        data.load("mnist", "validation", data_dir=tmp_path, validation_fraction=0.0)


# ---------------------------------------------------------------------------
# Errors.


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="Unknown dataset.*imagenet"):
        data.load("imagenet", "train")
    with pytest.raises(ValueError, match="Unknown dataset"):
        data.dataset_info("MNIST")
    with pytest.raises(ValueError, match="Unknown split.*'val'"):
        data.load("digits", "val")


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"image_size": (32,)}, "image_size"),
        ({"seed": "0"}, "seed"),
    ],
)
def test_bad_argument_values(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        data.load("digits", "train", **kwargs)


def test_missing_data_dir(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=f"no such folder: {missing}"):
        data.load("mnist", "train", data_dir=missing)
    _write_mnist_npz(tmp_path)
    with pytest.raises(NotADirectoryError, match="must be a folder"):
        data.load("mnist", "train", data_dir=tmp_path / "mnist.npz")


def test_source_description_says_where_load_reads_from(tmp_path):
    with pytest.raises(FileNotFoundError, match="Dataset 'mnist' not found"):
        data.source_description("mnist", data_dir=tmp_path)
    _write_mnist_npz(tmp_path)
    description = data.source_description("mnist", data_dir=tmp_path)
    assert description == os.path.join(tmp_path, "mnist.npz")
    assert description == data.load_splits("mnist", data_dir=tmp_path, batch_size=16).source
    assert data.source_description("digits") == data.load_splits("digits").source
    with pytest.raises(FileNotFoundError, match="no such folder"):
        data.source_description("mnist", data_dir=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="Unknown dataset"):
        data.source_description("imagenet")


def test_dataset_in_no_source_lists_every_place_looked_at(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        data.load("mnist", "train", data_dir=tmp_path)
    message = str(raised.value)
    assert "Dataset 'mnist' not found" in message
    assert "TFDS" in message and "could not find data" in message  # TFDS' error, folded in
    assert os.path.join(str(tmp_path), "mnist.npz") in message
    assert "images-idx3" in message and "<class>" in message
    assert "data_dir" in message and "--data-dir" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "write, match",
    [
        (lambda folder: (folder / "mnist.npz").write_bytes(b"not a zip file"), "mnist.npz"),
        (
            lambda folder: np.savez(folder / "mnist.npz", x_train=np.zeros((3, 28, 28))),
            "mnist.npz.*KeyError",
        ),
        (
            lambda folder: np.savez(
                folder / "mnist.npz", x_train=np.zeros((3, 5, 5)), y_train=np.zeros(3),
                x_test=np.zeros((3, 5, 5)), y_test=np.zeros(3),
            ),
            "shape",
        ),
    ],
)
def test_corrupt_mnist_npz(tmp_path, write, match):
    write(tmp_path)
    with pytest.raises(ValueError, match=f"Dataset 'mnist': could not read .*{match}"):
        data.load_arrays("mnist", "train", data_dir=tmp_path)


def test_corrupt_and_incomplete_idx_files(tmp_path):
    written = _write_idx_files(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as file:
        file.write(_idx_bytes(written["train-images-idx3-ubyte"])[:-100])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*truncated"):
        data.load_arrays("fashion_mnist", "train", data_dir=tmp_path)
    path.write_bytes(b"garbage, not gzip")
    with pytest.raises(ValueError, match="could not read .*train-images-idx3-ubyte.gz"):
        data.load_arrays("fashion_mnist", "train", data_dir=tmp_path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="missing: train-images-idx3-ubyte"):
        data.load_arrays("fashion_mnist", "train", data_dir=tmp_path)


def test_corrupt_cifar_pickle_and_image(tmp_path):
    _write_cifar10_pickles(tmp_path / "pickles")
    (tmp_path / "pickles" / "cifar-10-batches-py" / "test_batch").write_bytes(b"\x80\x04junk")
    with pytest.raises(ValueError, match="could not read .*test_batch"):
        data.load_arrays("cifar10", "test", data_dir=tmp_path / "pickles")

    _write_png_tree(tmp_path / "tree", {1: "automobile"}, 2, (32, 32, 3))
    bad = tmp_path / "tree" / "test" / "automobile" / "0000.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=f"could not read {bad}"):
        data.load_arrays("cifar10", "test", data_dir=tmp_path / "tree")
    os.makedirs(tmp_path / "tree" / "train" / "unicorn")
    with pytest.raises(ValueError, match="unicorn.*not one of its classes"):
        data.load_arrays("cifar10", "train", data_dir=tmp_path / "tree")


@pytest.mark.parametrize("augment", [True, "rotate+crop"])
def test_train_epochs_are_a_function_of_the_seed_and_the_epoch(augment):
    splits = data.load_splits("digits", batch_size=300, augment=augment, image_size=(12, 12))

    def epochs(initial_epoch, count, splits=splits, **kwargs):
        dataset, steps = splits.train_epochs(count, initial_epoch=initial_epoch, **kwargs)
        batches = [(images.numpy(), labels.numpy()) for images, labels in dataset]
        assert len(batches) == (count - initial_epoch) * steps == dataset.cardinality()
        return [batches[i:i + steps] for i in range(0, len(batches), steps)]

    def concatenated(epoch):
        return [np.concatenate(arrays) for arrays in zip(*epoch)]

    full = epochs(0, 3)
    assert len(full[0]) == 5  # ceil(1,294 / 300)
    # A run resumed at epoch 2 sees what an uninterrupted run sees there.
    for expected, actual in zip(full[2], epochs(2, 3)[0]):
        np.testing.assert_array_equal(actual[0], expected[0])
        np.testing.assert_array_equal(actual[1], expected[1])
    plain, plain_labels = data.load_arrays("digits", "train", image_size=(12, 12))
    orders = []
    for epoch in full:
        # Each epoch is every training example once, in an order of its own.
        labels = concatenated(epoch)[1]
        np.testing.assert_array_equal(np.sort(labels), np.sort(plain_labels))
        orders.append(labels)
    assert not np.array_equal(orders[0], orders[1])
    # Another seed, another order; a cap keeps the first batches of each epoch.
    other = data.load_splits("digits", batch_size=300, augment=augment, image_size=(12, 12),
                             seed=1)
    assert not np.array_equal(concatenated(epochs(0, 1, splits=other)[0])[1], orders[0])
    capped = epochs(1, 3, steps_per_epoch=2)
    for epoch, expected in zip(capped, full[1:]):
        assert len(epoch) == 2
        np.testing.assert_array_equal(epoch[1][1], expected[1][1])
    # shuffle=False keeps the split's order; each epoch has augmentation of its own.
    unshuffled = data.load_splits("digits", batch_size=300, image_size=(12, 12), shuffle=False,
                                  augment=augment)
    augmented = []
    for epoch in epochs(0, 2, splits=unshuffled):
        images, labels = concatenated(epoch)
        np.testing.assert_array_equal(labels, plain_labels)
        assert images.shape == plain.shape and not np.array_equal(images, plain)
        augmented.append(images)
    assert not np.array_equal(augmented[0], augmented[1])
    np.testing.assert_array_equal(concatenated(epochs(1, 2, splits=unshuffled)[0])[0],
                                  augmented[1])


def test_train_epochs_arguments_are_checked():
    splits = data.load_splits("digits", batch_size=300)
    with pytest.raises(ValueError, match="`initial_epoch` must be at most `epochs`"):
        splits.train_epochs(2, initial_epoch=3)
    with pytest.raises(ValueError, match="`steps_per_epoch` must be an int >= 1"):
        splits.train_epochs(2, steps_per_epoch=0)
    with pytest.raises(ValueError, match="`epochs` must be an int >= 0"):
        splits.train_epochs(1.5)


# ---------------------------------------------------------------------------
# Augmentation policies.


def _shifts_of(image, pad):
    """Every shift of `image` by up to `pad` pixels each way, zeros coming in."""
    height, width = image.shape[:2]
    padded = np.pad(image, [(pad, pad), (pad, pad), (0, 0)])
    return [padded[top:top + height, left:left + width]
            for top in range(2 * pad + 1) for left in range(2 * pad + 1)]


@pytest.mark.parametrize("augment", ["flip", "crop", "rotate"])
def test_each_augmentation_changes_training_images_only(tmp_path, augment):
    _write_cifar10_pickles(tmp_path, per_batch=8)
    splits = data.load_splits("cifar10", data_dir=tmp_path, batch_size=16, augment=augment,
                              shuffle=False, validation_fraction=0.2)
    for split in ("validation", "test"):
        images, labels = _as_arrays(getattr(splits, split))
        expected_images, expected_labels = data.load_arrays(
            "cifar10", split, data_dir=tmp_path, validation_fraction=0.2)
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, expected_labels)
    test_images, _ = _as_arrays(data.load("cifar10", "test", data_dir=tmp_path, augment=augment))
    np.testing.assert_array_equal(test_images, data.load_arrays("cifar10", "test",
                                                                data_dir=tmp_path)[0])

    augmented, labels = _as_arrays(splits.train)
    plain, plain_labels = data.load_arrays("cifar10", "train", data_dir=tmp_path,
                                           validation_fraction=0.2)
    np.testing.assert_array_equal(labels, plain_labels)
    assert augmented.shape == plain.shape and augmented.dtype == np.float32
    assert 0.0 <= augmented.min() and augmented.max() <= 1.0
    changed = [not np.array_equal(a, p) for a, p in zip(augmented, plain)]
    assert any(changed)
    # Each operation is itself: a flip mirrors or keeps an image, a crop
    # shifts it by up to 32 / 8 = 4 pixels, a rotation is neither.
    mirrored = [np.array_equal(a, p[:, ::-1]) for a, p in zip(augmented, plain)]
    shifted = [any(np.array_equal(a, s) for s in _shifts_of(p, 4))
               for a, p in zip(augmented, plain)]
    if augment == "flip":
        assert all(m or not c for m, c in zip(mirrored, changed)) and not all(changed)
    elif augment == "crop":
        assert all(shifted) and not any(mirrored)
    else:
        assert not any(mirrored) and not any(s and c for s, c in zip(shifted, changed))


def test_the_same_seed_gives_the_same_augmentation(tmp_path):
    _write_cifar10_pickles(tmp_path, per_batch=8)

    def batch(seed, augment="flip+rotate15+crop"):
        train = data.load("cifar10", "train", data_dir=tmp_path, batch_size=64, seed=seed,
                          augment=augment, shuffle=False, validation_fraction=0.0)
        return next(iter(train))[0].numpy()

    np.testing.assert_array_equal(batch(0), batch(0))
    for augment in data.AUGMENTATIONS:  # each operation draws from the seed
        assert not np.array_equal(batch(0, augment), batch(1, augment))
    # The order written does not matter: the operations run in AUGMENTATIONS' order.
    np.testing.assert_array_equal(batch(0, "crop+rotate15+flip"), batch(0))
    # train_epochs draws statelessly from (seed, epoch): an epoch is the same
    # in any pipeline, and differs from the other epochs and seeds.
    def epoch(seed, index):
        splits = data.load_splits("cifar10", data_dir=tmp_path, batch_size=64, seed=seed,
                                  augment="flip+rotate15+crop", shuffle=False)
        dataset, _ = splits.train_epochs(index + 1, initial_epoch=index)
        return next(iter(dataset))[0].numpy()

    np.testing.assert_array_equal(epoch(0, 1), epoch(0, 1))
    assert not np.array_equal(epoch(0, 1), epoch(0, 0))
    assert not np.array_equal(epoch(0, 1), epoch(1, 1))


def _centroid(image):
    rows, columns = np.indices(image.shape)
    return (rows * image).sum() / image.sum(), (columns * image).sum() / image.sum()


@pytest.mark.parametrize("degrees", [90.0, 30.0, -45.0])
def test_rotation_turns_a_pixel_counterclockwise_about_the_centre(degrees):
    # A bright pixel 5 to the right of the centre (7, 7) of a 15x15 image.
    image = np.zeros((1, 15, 15, 1), np.float32)
    image[0, 7, 12, 0] = 1.0
    angle = np.deg2rad(degrees)
    rotated = data._rotate(tf.constant(image), tf.constant([angle], tf.float32)).numpy()
    row, column = _centroid(rotated[0, ..., 0])
    # Counterclockwise on screen: rows grow downwards, so up is -row.
    assert row == pytest.approx(7 - 5 * np.sin(angle), abs=0.1)
    assert column == pytest.approx(7 + 5 * np.cos(angle), abs=0.1)


@pytest.mark.parametrize("augment, bound", [("rotate", 10.0), ("rotate30", 30.0)])
def test_rotations_stay_within_their_bound(tmp_path, augment, bound):
    # Every training image: a 2x2 block centred 9 pixels right of the centre
    # (13.5, 13.5) of a 28x28 image, at angle 0.
    images = np.zeros((64, 28, 28), np.uint8)
    images[:, 13:15, 22:24] = 255
    np.savez_compressed(tmp_path / "mnist.npz", x_train=images, y_train=_labels(64),
                        x_test=images[:4], y_test=_labels(4))
    train = data.load("mnist", "train", data_dir=tmp_path, batch_size=64, augment=augment,
                      image_size=(28, 28), validation_fraction=0.0)
    angles = []
    for image in next(iter(train))[0].numpy()[..., 0]:
        row, column = _centroid(image)
        assert np.hypot(row - 13.5, column - 13.5) == pytest.approx(9.0, abs=0.2)
        angles.append(np.degrees(np.arctan2(13.5 - row, column - 13.5)))
    # Uniform in [-bound, bound]: within it, and reaching both sides of it.
    assert max(np.abs(angles)) <= bound + 0.5
    assert min(angles) < -bound / 2 and max(angles) > bound / 2


@pytest.mark.parametrize("name", ["mnist", "svhn_cropped", "digits"])
def test_flips_of_digits_are_refused(name):
    for augment in ("flip", "rotate+flip"):
        with pytest.raises(ValueError, match=rf"dataset '{name}' holds digits.*"
                                             r"mirrored digit.*Fix: drop 'flip'"):
            data.load_splits(name, augment=augment)
    with pytest.raises(ValueError, match=f"dataset '{name}' holds digits"):
        data.load(name, "test", augment="flip")


@pytest.mark.parametrize(
    "augment", ["spin", "flip+flip", "rotate+rotate10", "", "Flip", "rotate+", "rotatex", 1])
def test_unknown_augmentations_list_the_valid_ones(augment):
    with pytest.raises(ValueError, match=r"Argument `augment` must be False, True, or "
                                         r"operations of \('rotate', 'crop', 'flip'\)"):
        data.load_splits("digits", augment=augment)


@pytest.mark.parametrize("augment", ["rotate0", "rotate0.0", "rotate181"])
def test_rotation_bounds_outside_0_to_180_are_refused(augment):
    with pytest.raises(ValueError, match=r"rotation bound must be in \(0, 180\] degrees"):
        data.load("digits", "train", augment=augment)


def _card(tmp_path, augment, dataset="digits"):
    """The demo card with `[data] augment = augment` (a TOML value) and `dataset`."""
    with open(os.path.join(zoo.home(), "models", "demo_lrt_digits.toml")) as file:
        text = file.read()
    assert "augment = false\n" in text and 'dataset = "digits"\n' in text
    text = text.replace("augment = false\n", f"augment = {augment}\n", 1)
    text = text.replace('dataset = "digits"\n', f'dataset = "{dataset}"\n', 1)
    path = tmp_path / "models" / "card.toml"
    os.makedirs(path.parent, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("augment, dataset, message", [
    ('"flip"', "digits", r"\[data\] augment 'flip': dataset 'digits' holds digits.*drop 'flip'"),
    ('"rotate+flip"', "mnist", r"dataset 'mnist' holds digits"),
    ('"spin"', "cifar10", r"\[data\] augment must be false, true, or some of "
                          r"\('rotate', 'crop', 'flip'\) joined by '\+'.*Received: 'spin'"),
    ('"crop+crop"', "cifar10", r"each operation once. Received: 'crop\+crop'"),
    ('"rotate200"', "cifar10", r"the rotation bound must be in \(0, 180\]"),
    ("3", "cifar10", r"\[data\] augment must be true, false or a string. Received: 3"),
])
def test_cards_check_augment_at_load(tmp_path, augment, dataset, message):
    path = _card(tmp_path, augment, dataset)
    with pytest.raises(ValueError, match=message) as error:
        zoo.read_card(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("augment", ["false", "true", '"rotate15+crop"', '"flip+rotate"'])
def test_cards_accept_booleans_and_policies(tmp_path, augment):
    card = zoo.read_card(_card(tmp_path, augment, "cifar10"))
    assert card.data.augment == {"false": False, "true": True}.get(augment, augment.strip('"'))


def test_cards_and_the_loader_agree_on_augment():
    # Cards are read without TensorFlow, so the task keeps its own copy of the rules.
    assert classification_task._AUGMENTATIONS == data.AUGMENTATIONS
    assert set(classification_task._UNFLIPPABLE_DATASETS) == {
        name for name, spec in data._SPECS.items() if not spec.horizontal_flip}
    policies = ["flip", "rotate", "crop", "flip+rotate+crop", "rotate12.5", "rotate180",
                "rotate0", "rotate+rotate", "spin", "", "flip+", "rotate 10"]
    for name in data.DATASETS:
        for augment in policies:
            try:
                data._augmentation(augment, data._SPECS[name])
                loader_accepts = True
            except ValueError:
                loader_accepts = False
            card_accepts = classification_task._augment_problem(name, augment) is None
            assert card_accepts == loader_accepts, (name, augment)
