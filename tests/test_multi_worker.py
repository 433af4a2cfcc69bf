"""Training on several machines: `bz.trainer.train(strategy="multi-worker")` and `--strategy`.

Two worker processes on localhost form a `MultiWorkerMirroredStrategy`
cluster through their own `TF_CONFIG`, as two machines would. Each trains
a small card through the trainer (only the chief may write its outputs),
then a tiny Bayesian model whose per-step losses must match one process
training it on the same global batch. This file is also the workers'
script: `python test_multi_worker.py CARD_FILE OUTPUT_DIR WEIGHTS_FILE`.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import bayes_zoo as bz
from bayes_zoo import cli
from bayes_zoo import trainer

NUM_WORKERS = 2
# The tiny model's data: one global batch, fit once per epoch.
NUM_EXAMPLES = 16
STEPS = 3
# A hang (a worker waiting for one that died) fails the test instead of blocking CI.
WORKER_TIMEOUT_S = 150


def tiny_model():
    """A small convolutional Bayesian model whose KL outweighs its data term."""
    inputs = keras.Input((8, 8, 1))
    x = bz.layers.Conv2DLocalReparameterization(
        4, 3, activation="relu", kl_weight=1 / NUM_EXAMPLES)(inputs)
    x = keras.layers.Flatten()(x)
    logits = bz.layers.DenseLocalReparameterization(10, kl_weight=1 / NUM_EXAMPLES)(x)
    return bz.training.BayesianModel(inputs, logits, train_samples=2)


def tiny_data():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(NUM_EXAMPLES, 8, 8, 1)).astype("float32")
    return images, np.arange(NUM_EXAMPLES) % 10


def weighted_kl(model):
    """The sum of the layers' `kl_weight * KL(q || p)`, computed from their variables."""
    return sum(float(keras.ops.convert_to_numpy(layer.kl_weight * layer.kl_divergence()))
               for layer in bz.layers.stochastic_layers(model))


def train_tiny(weights, strategy=None):
    """The per-step logs of `STEPS` SGD steps on the whole batch, and the KL at the start.

    The layers use their posterior means, so the loss is a function of the
    weights and the batch alone, the same on any number of workers.
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = tiny_model()
        model.set_weights(weights)
        bz.layers.set_posterior_mean(model, True)
        model.compile(optimizer=keras.optimizers.SGD(0.1),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    kl = weighted_kl(model)
    options = tf.data.Options()
    # Each worker takes its half of the global batch, as the trainer's pipelines do.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = tf.data.Dataset.from_tensor_slices(tiny_data()).batch(NUM_EXAMPLES)
    dataset = dataset.with_options(options)
    # What `fit` iterates: this process's replicas' parts of each batch.
    images, _ = next(iter(strategy.experimental_distribute_dataset(dataset)))
    local_examples = sum(len(part) for part in strategy.experimental_local_results(images))
    # One batch per epoch: the epoch logs are those of single steps.
    history = model.fit(dataset, epochs=STEPS, verbose=0)
    return {"kl_direct": kl, "local_examples": local_examples, **history.history}


class RecordFirstStepKL(keras.callbacks.Callback):
    """The weighted KL of the model before its first step, computed from the layers."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0 and not hasattr(self, "kl"):
            self.kl = weighted_kl(self.model)


# The demo card on a small network and images, with a constant KL weight
# (1 / num_train_examples at every step), so that a trainer run takes seconds.
TINY_CARD = """
description = "A small Bayesian network on digits, for the multi-worker tests"
architecture = "gal_lenet"
method = "lrt"
dataset = "digits"

[prior]
kind = "normal"
mean = 0.0
stddev = 1.0

[posterior]
kind = "mean_field_normal"
loc_stddev = 0.1
rho_mean = -3.0
rho_stddev = 0.1

[data]
validation_fraction = 0.1
image_size = [16, 16]

[training]
optimizer = "adam"
learning_rate = 0.003
batch_size = 64
epochs = 1
kl_schedule = "constant"

[evaluation]
num_samples = 1
"""


def worker_main(card_file, output_dir, weights_file):
    """One worker: a trainer run of `card_file`, then the tiny model; prints RESULTS."""
    record = RecordFirstStepKL()
    # One step of 64 examples (32 on each worker).
    run = trainer.train(card_file, max_steps_per_epoch=1, output_dir=output_dir,
                        strategy="multi-worker", verbose=2, callbacks=[record])
    with np.load(weights_file) as saved:
        weights = [saved[f"w{i}"] for i in range(len(saved.files))]
    results = {
        "trainer_kl": record.kl,
        "trainer_weights_sum": float(sum(np.abs(w).sum() for w in run.model.get_weights())),
        "trainer_metrics": {key: run.metrics[key]
                            for key in ("strategy", "num_workers", "num_replicas")},
        # The trainer's strategy: a process sets up its collective ops once.
        "tiny": train_tiny(weights, run.model.distribute_strategy),
    }
    print("RESULTS" + json.dumps(results), flush=True)
    # Skips the seconds TensorFlow takes to shut its cluster connections down.
    os._exit(0)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("localhost", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    """Runs the two workers, and the tiny model in this process meanwhile."""
    folder = tmp_path_factory.mktemp("cluster")
    keras.utils.set_random_seed(0)
    weights = tiny_model().get_weights()
    card_file = folder / "tiny_lrt_digits.toml"
    card_file.write_text(TINY_CARD)
    weights_file = folder / "weights.npz"
    np.savez(weights_file, **{f"w{i}": w for i, w in enumerate(weights)})
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(NUM_WORKERS)]}
    workers = []
    for index in range(NUM_WORKERS):
        temporary = folder / f"tmp{index}"
        temporary.mkdir()
        env = dict(
            os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
            TMPDIR=str(temporary),
            TF_CONFIG=json.dumps({"cluster": cluster,
                                  "task": {"type": "worker", "index": index}}))
        command = [sys.executable, __file__, str(card_file), str(folder / f"out{index}"),
                   str(weights_file)]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True))
    try:
        one_process = train_tiny(weights)
        outputs = [worker.communicate(timeout=WORKER_TIMEOUT_S) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    results = []
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
        line = next(line for line in out.splitlines() if line.startswith("RESULTS"))
        results.append({**json.loads(line[len("RESULTS"):]), "stdout": out})
    return {"folder": folder, "one_process": one_process, "workers": results}


def test_workers_match_one_process_on_the_global_batch_and_count_the_kl_once(cluster_run):
    one = cluster_run["one_process"]
    assert one["local_examples"] == NUM_EXAMPLES
    # Each worker trains on its half of the batch (not on all of it, which would match too).
    assert [worker["tiny"]["local_examples"] for worker in cluster_run["workers"]] == [
        NUM_EXAMPLES // NUM_WORKERS] * NUM_WORKERS
    kl = one["kl_direct"]
    # A KL counted once per worker could not hide in the tolerances below.
    assert kl > one["nll"][0]
    for run in (one, *(worker["tiny"] for worker in cluster_run["workers"])):
        assert run["kl"][0] == pytest.approx(kl, rel=1e-5)
        assert run["loss"][0] == pytest.approx(run["nll"][0] + kl, rel=1e-5)
        # Float32 sums in another order (two half batches, then an all-reduce).
        np.testing.assert_allclose(run["loss"], one["loss"], rtol=1e-5)
        np.testing.assert_allclose(run["kl"], one["kl"], rtol=1e-5)
    # The steps changed the weights: later losses compare the all-reduced updates.
    assert abs(one["loss"][-1] - one["loss"][0]) > 1e-3


def test_trainer_under_multi_worker_counts_the_kl_once_and_records_the_cluster(cluster_run):
    folder = cluster_run["folder"]
    with open(folder / "out0" / trainer.LOG_FILE) as file:
        header, row = file.read().splitlines()
    logged = dict(zip(header.split(","), map(float, row.split(","))))
    chief, other = cluster_run["workers"]
    # One step: the logged KL is the one of the weights before it, on each worker alike.
    assert logged["kl"] == pytest.approx(chief["trainer_kl"], rel=1e-5)
    assert other["trainer_kl"] == pytest.approx(chief["trainer_kl"], rel=1e-6)
    assert logged["loss"] == pytest.approx(logged["nll"] + logged["kl"], rel=1e-4)
    # The all-reduced step left the same weights on both workers.
    assert other["trainer_weights_sum"] == pytest.approx(chief["trainer_weights_sum"], rel=1e-6)
    with open(folder / "out0" / trainer.METRICS_FILE) as file:
        metrics = json.load(file)
    expected = {"strategy": "multi-worker", "num_workers": 2, "num_replicas": 2}
    assert {key: metrics[key] for key in expected} == expected
    assert chief["trainer_metrics"] == other["trainer_metrics"] == expected


def test_only_the_chief_writes_into_its_output_folder(cluster_run):
    folder = cluster_run["folder"]
    assert sorted(os.listdir(folder / "out0")) == sorted(
        [trainer.CHECKPOINT_FOLDER, trainer.LOG_FILE, trainer.MODEL_FILE, trainer.METRICS_FILE])
    assert sorted(os.listdir(folder / "out0" / trainer.CHECKPOINT_FOLDER)) == [
        "epoch_0001.keras", trainer.STATE_FILE]
    assert not (folder / "out1").exists()
    # Worker 1 wrote into a temporary folder of its TMPDIR, and deleted it.
    line = next(line for line in cluster_run["workers"][1]["stdout"].splitlines()
                if "writing to" in line)
    written = line.split("writing to ")[1]
    assert written.startswith(str(folder / "tmp1"))
    assert not os.path.exists(written)
    assert f"writing to {folder / 'out0'}" in cluster_run["workers"][0]["stdout"]


@pytest.mark.parametrize(
    "tf_config, problem",
    [
        (None, "it is not set"),
        ("{cluster: nope", "it is not JSON"),
        ('{"cluster": {}, "task": {"type": "worker", "index": 0}}', 'lists no "worker"'),
        ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "ps", "index": 0}}',
         'its "task" is not'),
        ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 1}}',
         "task worker 1 is not among the cluster's 1 worker addresses"),
    ],
)
def test_a_missing_or_malformed_tf_config_is_named(monkeypatch, tf_config, problem):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match="TF_CONFIG") as error:
        trainer.train("demo_lrt_digits", strategy="multi-worker", verbose=0)
    assert problem in str(error.value)
    assert "Fix: set TF_CONFIG on every machine" in str(error.value)


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match=r"strategy='tpu'.*'default', 'mirrored', 'multi-worker'"):
        trainer.train("demo_lrt_digits", strategy="tpu", verbose=0)
    assert cli.STRATEGIES == trainer.STRATEGIES


@pytest.mark.parametrize("argv, expected", [([], None), (["--strategy", "mirrored"], "mirrored"),
                                            (["--strategy", "multi-worker"], "multi-worker")])
def test_the_strategy_flag_reaches_the_trainer(monkeypatch, tmp_path, argv, expected):
    calls = []
    monkeypatch.setattr(trainer, "train", lambda card, **kwargs: calls.append(kwargs))
    assert cli.main(["train", "demo_lrt_digits", "--output", str(tmp_path), *argv]) == 0
    assert calls[0]["strategy"] == expected


def test_a_bad_strategy_flag_is_a_usage_error(capsys):
    assert cli.main(["train", "demo_lrt_digits", "--strategy", "tpu"]) == cli.EXIT_USAGE
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


def test_the_strategy_flag_is_refused_for_application_cards(capsys):
    assert cli.main(["train", "espcn_lrt_bsds", "--strategy", "mirrored"]) == cli.EXIT_ERROR
    assert "--strategy does not apply to espcn_lrt_bsds" in capsys.readouterr().err


if __name__ == "__main__":
    worker_main(*sys.argv[1:])
