"""SavedModel export: the contract TensorFlow Serving relies on.

No TensorFlow Serving binary can be installed here, so the tests check what
it needs: the exports load and run in a process where bayes_zoo cannot be
imported (only TensorFlow), through the Python API and through a C++ session
fed by the signature's tensor names as the server feeds them (no shape check
before the graph); `saved_model_cli` lists the documented signatures;
`tensorflow_serving.apis` requests match the signature defs; the
`models.config` parses as a `ModelServerConfig`.

The exports are shared by the module (each save costs seconds), and one
server process runs every call.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
import sysconfig

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.config import model_server_config_pb2

import bayes_zoo as bz
from bayes_zoo import cli
from bayes_zoo import export
from bayes_zoo import zoo
from bayes_zoo.tasks.classification import serving as classification_serving
from bayes_zoo.tasks.super_resolution import serving as super_resolution_serving

METHODS = ("lrt", "bbb", "flipout", "mc_dropout", "frequentist")
STOCHASTIC_METHODS = ("lrt", "bbb", "flipout", "mc_dropout")
IMAGE_SHAPE = (16, 16, 1)
NUM_CLASSES = 3
# T of serving_default; also the chunk in which "bbb" draws a requested
# num_samples, so 7 samples take two model calls.
EXPORT_SAMPLES = 4
REQUESTED_SAMPLES = 7
POSTERIOR_MEAN_MODE = "lenet5_lrt_posterior_mean_mode"
SUPER_RESOLUTION = "espcn_lrt"
REPOSITORY_MODELS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")

# The documented messages of bad inputs (bayes_zoo/export.py, README).
BAD_INPUTS = {
    "rank": "Input `images` must be float32 [batch, 16, 16, 1]: rank 4. "
            "Received shape:] [16 16 1]",
    "size": "Input `images` must be float32 [batch, 16, 16, 1]: 16x16 pixels. "
            "Received shape:] [3 15 16 1]",
    "channels": "Input `images` must be float32 [batch, 16, 16, 1]: 1 channel(s). "
                "Received shape:] [3 16 16 3]",
    "zero_samples": "Input `num_samples` (the number of Monte Carlo samples) must be >= 1. "
                    "Received:] [0]",
    "vector_samples": "Input `num_samples` (the number of Monte Carlo samples) must be a "
                      "scalar. Received shape:] [1]",
    "nan": "Input `images` contains NaN or inf values in] [1] [example(s), the first at "
           "index] [1]",
    "inf": "Input `images` contains NaN or inf values in] [2] [example(s), the first at "
           "index] [0]",
}
# The problems of the `images` input, refused by every signature.
IMAGE_PROBLEMS = ("rank", "size", "channels", "nan", "inf")
NON_FINITE = ("nan", "inf")


def lenet5(method, seed=0):
    return bz.architectures.lenet5(
        method=method,
        input_shape=IMAGE_SHAPE,
        num_classes=NUM_CLASSES,
        num_train_examples=100,
        seed=seed,
    )


@dataclasses.dataclass
class Exports:
    base: str
    images: np.ndarray
    # name -> what bayes_zoo computes in-process for the same images.
    posterior_mean_probabilities: dict
    library_results: dict
    super_resolution_posterior_mean: dict


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Every method's LeNet-5 exported under one base, and what the library predicts."""
    base = str(tmp_path_factory.mktemp("serving"))
    keras.utils.set_random_seed(7)
    images = np.random.default_rng(0).normal(size=(3, *IMAGE_SHAPE)).astype(np.float32)
    posterior_means, library_results = {}, {}
    for index, method in enumerate(METHODS):
        model = lenet5(method, seed=10 * index)
        export.export_for_serving(model, base, f"lenet5_{method}", num_samples=EXPORT_SAMPLES)
        posterior_means[f"lenet5_{method}"] = bz.uncertainty.posterior_mean_predict(model, images)
        if method == "frequentist":
            library_results["lenet5_frequentist"] = bz.predict_with_uncertainty(
                model, images, num_samples=EXPORT_SAMPLES
            )
    model = lenet5("lrt", seed=99)
    bz.layers.set_posterior_mean(model, True)
    export.export_for_serving(model, base, POSTERIOR_MEAN_MODE, num_samples=EXPORT_SAMPLES)
    library_results[POSTERIOR_MEAN_MODE] = bz.predict_with_uncertainty(
        model, images, num_samples=EXPORT_SAMPLES
    )
    super_resolution_means = {}
    super_resolution = _super_resolution_module()
    if super_resolution is not None:
        from bayes_zoo.architectures.espcn import espcn

        model = espcn(method="lrt", upscale_factor=2, num_train_examples=100, seed=3)
        export.export_for_serving(model, base, SUPER_RESOLUTION, num_samples=3)
        for tag, low_res in _super_resolution_images().items():
            with bz.layers.posterior_mean(model):
                super_resolution_means[tag], _ = super_resolution.super_resolve(model, low_res, 1)
    return Exports(base, images, posterior_means, library_results, super_resolution_means)


def _super_resolution_module():
    try:
        from bayes_zoo import super_resolution
    except ImportError:
        return None
    return super_resolution


def _super_resolution_images():
    rng = np.random.default_rng(1)
    return {
        "5x7": rng.uniform(size=(2, 5, 7, 1)).astype(np.float32),
        "4x4": rng.uniform(size=(1, 4, 4, 1)).astype(np.float32),
    }


def export_dir(exports, name, version=1):
    return os.path.join(exports.base, name, str(version))


def signature_defs(path):
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as file:
        saved.ParseFromString(file.read())
    (meta_graph,) = saved.meta_graphs
    return meta_graph, {
        name: signature
        for name, signature in meta_graph.signature_def.items()
        if not name.startswith("__")
    }


# --- one server process: TensorFlow only ------------------------------------------

# Runs with `python -I -S`: no user site, no current folder, and no `.pth`
# processing, so the editable install of bayes_zoo is not on the path; the
# site-packages folders are added by hand for TensorFlow.
_SERVER_SCRIPT = r"""
import importlib.util, json, sys
request_file, inputs_file, outputs_file = sys.argv[1:4]
sys.path.extend(sys.argv[4:])
report = {"bayes_zoo_spec": repr(importlib.util.find_spec("bayes_zoo"))}
try:
    import bayes_zoo
    report["bayes_zoo_import"] = "imported"
except ImportError as error:
    report["bayes_zoo_import"] = f"{type(error).__name__}: {error}"

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2

with open(request_file) as file:
    request = json.load(file)
inputs = dict(np.load(inputs_file))
outputs, report["signatures"], report["python_errors"], report["session_errors"] = {}, {}, {}, {}

for export_dir, calls in request["python"].items():
    loaded = tf.saved_model.load(export_dir)
    report["signatures"][export_dir] = sorted(loaded.signatures)
    for key, signature, feeds in calls:
        arguments = {name: tf.constant(inputs[array]) for name, array in feeds.items()}
        try:
            result = loaded.signatures[signature](**arguments)
        except Exception as error:
            report["python_errors"][key] = f"{type(error).__name__}: {error}"
            continue
        for name, value in result.items():
            outputs[f"{key}/{name}"] = value.numpy()

# What TensorFlow Serving does: a C++ session on the SavedModel's graph, fed
# by the signature's tensor names, with no shape check before the graph.
# (`Session.run` would check shapes in Python; a callable does not.)
for export_dir, calls in request["session"].items():
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        for key, signature, feeds in calls:
            signature_def = meta_graph.signature_def[signature]
            names = sorted(signature_def.outputs)
            run = session._make_callable_from_options(config_pb2.CallableOptions(
                feed=[signature_def.inputs[name].name for name in feeds],
                fetch=[signature_def.outputs[name].name for name in names],
            ))
            try:
                values = run(*[inputs[array] for array in feeds.values()])
            except Exception as error:
                report["session_errors"][key] = f"{type(error).__name__}: {error}"
                continue
            for name, value in zip(names, values):
                outputs[f"{key}/{name}"] = value

report["bayes_zoo_imported_after"] = sorted(m for m in sys.modules if m.startswith("bayes_zoo"))
np.savez(outputs_file, **outputs)
print(json.dumps(report))
"""


@dataclasses.dataclass
class Served:
    outputs: dict
    report: dict


def _server_calls(exports):
    """(input arrays, request) of every call the server process makes."""
    images = exports.images
    with_nan, with_inf = images.copy(), images.copy()
    with_nan[1, 3, 4, 0] = np.nan
    with_inf[0, 0, 0, 0], with_inf[2, 5, 5, 0] = np.inf, -np.inf
    arrays = {
        "images": images,
        "nan": with_nan,
        "inf": with_inf,
        "seed_1": np.array(1, np.int64),
        "seed_2": np.array(2, np.int64),
        "rank": images[0],
        "size": images[:, :15],
        "channels": np.repeat(images, 3, axis=-1),
        "one": np.array(1, np.int32),
        "requested": np.array(REQUESTED_SAMPLES, np.int32),
        "zero_samples": np.array(0, np.int32),
        "vector_samples": np.array([2], np.int32),
    }
    python, session = {}, {}
    for name in [f"lenet5_{method}" for method in METHODS] + [POSTERIOR_MEAN_MODE]:
        path = export_dir(exports, name)
        python[path] = [
            [f"{name}/serving_default/a", "serving_default", {"images": "images"}],
            [f"{name}/serving_default/b", "serving_default", {"images": "images"}],
            [f"{name}/predict_with_uncertainty/requested", "predict_with_uncertainty",
             {"images": "images", "num_samples": "requested"}],
            [f"{name}/predict_with_uncertainty/one", "predict_with_uncertainty",
             {"images": "images", "num_samples": "one"}],
            [f"{name}/posterior_mean/a", "posterior_mean", {"images": "images"}],
            [f"{name}/serving_default_seeded/a", "serving_default_seeded",
             {"images": "images", "seed": "seed_1"}],
        ]
        for seed in ("seed_1", "seed_1_again", "seed_2"):
            python[path].append([
                f"{name}/predict_with_uncertainty_seeded/{seed}",
                "predict_with_uncertainty_seeded",
                {"images": "images", "num_samples": "requested", "seed": seed[:6]},
            ])
        python[path] += _non_finite_calls(name, {
            "serving_default": {},
            "serving_default_seeded": {"seed": "seed_1"},
            "predict_with_uncertainty": {"num_samples": "requested"},
            "predict_with_uncertainty_seeded": {"num_samples": "requested", "seed": "seed_1"},
            "posterior_mean": {},
        })
    bad_calls = [
        [f"bad/{problem}", "predict_with_uncertainty",
         {"images": problem if problem in IMAGE_PROBLEMS else "images",
          "num_samples": problem if "samples" in problem else "requested"}]
        for problem in BAD_INPUTS
    ]
    python[export_dir(exports, "lenet5_lrt")] += bad_calls
    session[export_dir(exports, "lenet5_lrt")] = bad_calls
    session[export_dir(exports, POSTERIOR_MEAN_MODE)] = [
        [f"{POSTERIOR_MEAN_MODE}/serving_default/session", "serving_default",
         {"images": "images"}],
    ]
    if exports.super_resolution_posterior_mean:
        path = export_dir(exports, SUPER_RESOLUTION)
        python[path] = []
        for tag, low_res in _super_resolution_images().items():
            arrays[f"low_res_{tag}"] = low_res
            for signature in super_resolution_serving.SIGNATURES:
                feeds = {"images": f"low_res_{tag}"}
                if signature.endswith(export.SEEDED_SUFFIX):
                    feeds["seed"] = "seed_1"
                python[path].append([f"{SUPER_RESOLUTION}/{signature}/{tag}", signature, feeds])
        python[path] += _non_finite_calls(SUPER_RESOLUTION, {
            "serving_default": {},
            "serving_default_seeded": {"seed": "seed_1"},
            "posterior_mean": {},
        })
        arrays["low_res_rgb"] = np.zeros([1, 4, 4, 3], np.float32)
        session[path] = [[f"{SUPER_RESOLUTION}/bad/channels", "serving_default",
                          {"images": "low_res_rgb"}]]
    return arrays, {"python": python, "session": session}


def _non_finite_calls(name, signatures):
    """Calls of each signature (with its other inputs) on images holding NaN and inf."""
    return [
        [f"{name}/{signature}/{problem}", signature, {"images": problem, **others}]
        for signature, others in signatures.items()
        for problem in NON_FINITE
    ]


@pytest.fixture(scope="module")
def served(exports, tmp_path_factory):
    folder = tmp_path_factory.mktemp("server")
    arrays, request = _server_calls(exports)
    np.savez(folder / "inputs.npz", **arrays)
    (folder / "request.json").write_text(json.dumps(request))
    paths = sysconfig.get_paths()
    site_packages = sorted({paths["purelib"], paths["platlib"]})
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _SERVER_SCRIPT, str(folder / "request.json"),
         str(folder / "inputs.npz"), str(folder / "outputs.npz"), *site_packages],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    with np.load(folder / "outputs.npz") as outputs:
        return Served(dict(outputs), report)


def outputs_of(served, key):
    prefix = key + "/"
    return {
        name[len(prefix):]: value for name, value in served.outputs.items()
        if name.startswith(prefix)
    }


def test_server_process_cannot_import_bayes_zoo(exports, served):
    assert served.report["bayes_zoo_spec"] == "None"
    assert served.report["bayes_zoo_import"].startswith("ModuleNotFoundError")
    assert served.report["bayes_zoo_imported_after"] == []
    # ... and yet it loaded every export and ran every signature.
    for path, signatures in served.report["signatures"].items():
        expected = (super_resolution_serving.SIGNATURES if SUPER_RESOLUTION in path
                    else classification_serving.SIGNATURES)
        assert signatures == sorted(expected), path


@pytest.mark.parametrize("method", METHODS)
def test_every_signature_serves_its_documented_outputs(exports, served, method):
    name = f"lenet5_{method}"
    batch = len(exports.images)
    for tag, samples in (("requested", REQUESTED_SAMPLES), ("one", 1)):
        outputs = outputs_of(served, f"{name}/predict_with_uncertainty/{tag}")
        assert sorted(outputs) == sorted(classification_serving.OUTPUTS + ("sample_probabilities",))
        assert outputs["sample_probabilities"].shape == (samples, batch, NUM_CLASSES)
    outputs = outputs_of(served, f"{name}/serving_default/a")
    assert sorted(outputs) == sorted(classification_serving.OUTPUTS)
    for key in ("probabilities", "aleatoric_per_class", "epistemic_per_class"):
        assert outputs[key].shape == (batch, NUM_CLASSES)
    for key in ("predicted_class", "predictive_entropy", "expected_entropy",
                "mutual_information", "aleatoric", "epistemic"):
        assert outputs[key].shape == (batch,)
    assert outputs["predicted_class"].dtype == np.int64
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(
        outputs["predicted_class"], outputs["probabilities"].argmax(axis=1)
    )
    posterior = outputs_of(served, f"{name}/posterior_mean/a")
    assert sorted(posterior) == ["probabilities"]


@pytest.mark.parametrize("method", METHODS)
def test_served_decompositions_match_their_own_samples(served, method):
    """The graph's outputs are the Depeweg and Kwon decompositions of its draws."""
    outputs = outputs_of(served, f"lenet5_{method}/predict_with_uncertainty/requested")
    samples = outputs["sample_probabilities"].astype(np.float64)
    mean = samples.mean(axis=0)

    def entropy(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)

    expected = {
        "probabilities": mean,
        "predicted_class": mean.argmax(axis=1),
        "predictive_entropy": entropy(mean),
        "expected_entropy": entropy(samples).mean(axis=0),
        "mutual_information": entropy(mean) - entropy(samples).mean(axis=0),
        "aleatoric_per_class": (samples * (1 - samples)).mean(axis=0),
        "epistemic_per_class": ((samples - mean) ** 2).mean(axis=0),
    }
    expected["aleatoric"] = expected["aleatoric_per_class"].sum(axis=1)
    expected["epistemic"] = expected["epistemic_per_class"].sum(axis=1)
    for key, value in expected.items():
        np.testing.assert_allclose(outputs[key], value, rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("method", METHODS)
def test_draws_are_fresh_per_sample_and_per_request(served, method):
    samples = outputs_of(served, f"lenet5_{method}/predict_with_uncertainty/requested")[
        "sample_probabilities"
    ]
    first = outputs_of(served, f"lenet5_{method}/serving_default/a")["probabilities"]
    second = outputs_of(served, f"lenet5_{method}/serving_default/b")["probabilities"]
    distinct_draws = len({samples[t].tobytes() for t in range(len(samples))})
    if method == "frequentist":
        assert distinct_draws == 1
        np.testing.assert_array_equal(first, second)
    else:
        # "bbb" drew these 7 samples in two model calls of 4 copies: every
        # copy has its own kernels, in both calls.
        assert distinct_draws == REQUESTED_SAMPLES
        assert not np.array_equal(first, second)


@pytest.mark.parametrize("method", METHODS)
def test_seeded_signature_reproduces_its_draws(served, method):
    def samples(seed):
        return outputs_of(served, f"lenet5_{method}/predict_with_uncertainty_seeded/{seed}")[
            "sample_probabilities"
        ]

    np.testing.assert_array_equal(samples("seed_1"), samples("seed_1_again"))
    assert samples("seed_1").shape == (REQUESTED_SAMPLES, 3, NUM_CLASSES)
    if method == "frequentist":
        np.testing.assert_array_equal(samples("seed_1"), samples("seed_2"))
    else:
        assert not np.array_equal(samples("seed_1"), samples("seed_2"))
        distinct = {draw.tobytes() for draw in samples("seed_1")}
        assert len(distinct) == REQUESTED_SAMPLES


@pytest.mark.parametrize("name", [f"lenet5_{method}" for method in METHODS] + [SUPER_RESOLUTION])
def test_every_signature_refuses_nan_and_inf_images(exports, served, name):
    if name == SUPER_RESOLUTION and not exports.super_resolution_posterior_mean:
        pytest.skip("bayes_zoo.super_resolution is not in this checkout")
    calls = [key for key in served.report["python_errors"] if key.startswith(name + "/")]
    signatures = {key.split("/")[1] for key in calls}
    expected = (super_resolution_serving.SIGNATURES if name == SUPER_RESOLUTION
                else classification_serving.SIGNATURES)
    assert signatures == set(expected)
    for key in calls:
        message = served.report["python_errors"][key]
        assert message.startswith("InvalidArgumentError"), key
        assert BAD_INPUTS[key.split("/")[-1]] in message, key


@pytest.mark.parametrize("method", METHODS)
def test_posterior_mean_signature_equals_the_library(exports, served, method):
    name = f"lenet5_{method}"
    np.testing.assert_allclose(
        outputs_of(served, f"{name}/posterior_mean/a")["probabilities"],
        exports.posterior_mean_probabilities[name],
        rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("name", [POSTERIOR_MEAN_MODE, "lenet5_frequentist"])
def test_deterministic_exports_equal_predict_with_uncertainty(exports, served, name):
    """In posterior-mean mode (and without noise) every signature gives the library's numbers."""
    library = exports.library_results[name]
    calls = [f"{name}/serving_default/a", f"{name}/predict_with_uncertainty/requested"]
    if name == POSTERIOR_MEAN_MODE:
        calls.append(f"{name}/serving_default/session")  # the C++ session path
    for call in calls:
        outputs = outputs_of(served, call)
        for key in classification_serving.OUTPUTS:
            np.testing.assert_allclose(
                outputs[key], getattr(library, key), rtol=1e-5, atol=1e-6,
                err_msg=f"{call}: {key}",
            )
    np.testing.assert_allclose(
        outputs_of(served, f"{name}/posterior_mean/a")["probabilities"],
        library.probabilities, rtol=1e-5, atol=1e-6,
    )
    assert np.all(library.epistemic == 0.0)


@pytest.mark.parametrize("problem", sorted(BAD_INPUTS))
def test_bad_inputs_fail_with_the_documented_message(served, problem):
    # TensorFlow Serving's path: a C++ session, no shape check before the graph.
    message = served.report["session_errors"][f"bad/{problem}"]
    assert message.startswith("InvalidArgumentError") and BAD_INPUTS[problem] in message
    # tf.saved_model.load's signature functions reach the same checks, except
    # that their runtime knows the declared scalar shape of `num_samples` and
    # folds its rank check away: TensorFlow's Assert then says it.
    message = served.report["python_errors"][f"bad/{problem}"]
    expected = ("In[0] should be a scalar: [1]" if problem == "vector_samples"
                else BAD_INPUTS[problem])
    assert message.startswith("InvalidArgumentError") and expected in message


def test_super_resolution_export_serves_mean_image_and_uncertainty(exports, served):
    if not exports.super_resolution_posterior_mean:
        pytest.skip("bayes_zoo.super_resolution is not in this checkout")
    for tag, low_res in _super_resolution_images().items():
        batch, height, width, channels = low_res.shape
        outputs = outputs_of(served, f"{SUPER_RESOLUTION}/serving_default/{tag}")
        assert sorted(outputs) == sorted(super_resolution_serving.OUTPUTS)
        for value in outputs.values():
            assert value.shape == (batch, 2 * height, 2 * width, channels)
        assert outputs["mean_image"].min() >= 0.0 and outputs["mean_image"].max() <= 1.0
        assert outputs["uncertainty"].min() >= 0.0 and outputs["uncertainty"].max() > 0.0
        np.testing.assert_allclose(
            outputs_of(served, f"{SUPER_RESOLUTION}/posterior_mean/{tag}")["mean_image"],
            exports.super_resolution_posterior_mean[tag], rtol=1e-5, atol=1e-6,
        )
    message = served.report["session_errors"][f"{SUPER_RESOLUTION}/bad/channels"]
    assert ("Input `images` must be float32 [batch, any, any, 1]: 1 channel(s). "
            "Received shape:] [1 4 4 3]") in message


# --- the SavedModel files -------------------------------------------------------------


def _parse_saved_model_cli(text):
    """{signature: {"inputs"/"outputs": {name: (dtype, shape)}, "method": ...}}."""
    signatures, current, side = {}, None, None
    lines = iter(text.splitlines())
    for line in lines:
        if match := re.match(r"signature_def\['(.+)'\]:", line.strip()):
            current = signatures.setdefault(match[1], {"inputs": {}, "outputs": {}})
        elif match := re.match(r"(inputs|outputs)\['(.+)'\] tensor_info:", line.strip()):
            side, name = match[1], match[2]
            dtype = next(lines).split(":", 1)[1].strip()
            shape = next(lines).split(":", 1)[1].strip()
            current[side][name] = (dtype, shape)
        elif line.strip().startswith("Method name is:") and current is not None:
            current["method"] = line.split(":", 1)[1].strip()
    return signatures


def _documented_signatures():
    """The module docstring's table, for 16x16x1 images and 3 classes."""
    images = {"images": ("DT_FLOAT", "(-1, 16, 16, 1)")}
    per_class, per_example = ("DT_FLOAT", "(-1, 3)"), ("DT_FLOAT", "(-1)")
    outputs = {
        name: per_class if name.endswith(("probabilities", "per_class")) else per_example
        for name in classification_serving.OUTPUTS
    }
    outputs["predicted_class"] = ("DT_INT64", "(-1)")
    predict = "tensorflow/serving/predict"
    signatures = {
        "serving_default": {"inputs": images, "outputs": outputs, "method": predict},
        "predict_with_uncertainty": {
            "inputs": {**images, "num_samples": ("DT_INT32", "()")},
            "outputs": {**outputs, "sample_probabilities": ("DT_FLOAT", "(-1, -1, 3)")},
            "method": predict,
        },
        "posterior_mean": {
            "inputs": images, "outputs": {"probabilities": per_class}, "method": predict,
        },
    }
    seed = {"seed": ("DT_INT64", "()")}
    for name in ("serving_default", "predict_with_uncertainty"):
        twin = signatures[name]
        signatures[name + export.SEEDED_SUFFIX] = {**twin, "inputs": {**twin["inputs"], **seed}}
    return signatures


def test_saved_model_cli_lists_the_documented_signatures(exports):
    saved_model_cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    completed = subprocess.run(
        [saved_model_cli, "show", "--dir", export_dir(exports, "lenet5_bbb"), "--all"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    listed = _parse_saved_model_cli(completed.stdout)
    listed.pop("__saved_model_init_op")
    assert listed == _documented_signatures()


@pytest.mark.parametrize("method", METHODS)
def test_predict_requests_and_responses_match_the_signature_defs(exports, served, method):
    name = f"lenet5_{method}"
    _, signatures = signature_defs(export_dir(exports, name))
    assert sorted(signatures) == sorted(classification_serving.SIGNATURES)
    feeds = {
        "serving_default": {"images": exports.images},
        "predict_with_uncertainty": {
            "images": exports.images, "num_samples": np.int32(REQUESTED_SAMPLES)},
        "posterior_mean": {"images": exports.images},
    }
    for signature_name in ("serving_default", "predict_with_uncertainty"):
        feeds[signature_name + export.SEEDED_SUFFIX] = {
            **feeds[signature_name], "seed": np.int64(1)}
    served_calls = {
        "serving_default": "serving_default/a",
        "serving_default_seeded": "serving_default_seeded/a",
        "predict_with_uncertainty": "predict_with_uncertainty/requested",
        "predict_with_uncertainty_seeded": "predict_with_uncertainty_seeded/seed_1",
        "posterior_mean": "posterior_mean/a",
    }
    for signature_name, signature in signatures.items():
        assert signature.method_name == "tensorflow/serving/predict"
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.model_spec.signature_name = signature_name
        for key, value in feeds[signature_name].items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        response = predict_pb2.PredictResponse()
        for key, value in outputs_of(served, f"{name}/{served_calls[signature_name]}").items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        for tensors, declared in ((request.inputs, signature.inputs),
                                  (response.outputs, signature.outputs)):
            assert sorted(tensors) == sorted(declared), signature_name
            for key, tensor in tensors.items():
                assert tensor.dtype == declared[key].dtype, (signature_name, key)
                assert tf.TensorShape(declared[key].tensor_shape).is_compatible_with(
                    tf.TensorShape(tensor.tensor_shape)), (signature_name, key)


def _functions_run_by_signatures(meta_graph, signatures):
    """The graph nodes of the signatures' outputs and every node of the functions they call."""
    library = {
        function.signature.name: function for function in meta_graph.graph_def.library.function
    }
    graph_nodes = {node.name: node for node in meta_graph.graph_def.node}
    nodes = [
        graph_nodes[tensor.name.split(":")[0]]
        for signature in signatures.values()
        for tensor in signature.outputs.values()
    ]
    seen, reached = set(), list(nodes)
    while nodes:
        node = nodes.pop()
        for attr in node.attr.values():
            for name in [attr.func.name] + [function.name for function in attr.list.func]:
                if name in library and name not in seen:
                    seen.add(name)
                    nodes.extend(library[name].node_def)
                    reached.extend(library[name].node_def)
    return reached


def test_no_op_that_serves_is_pinned_to_a_device(exports):
    # (TensorFlow's own checkpoint save and restore functions, which every
    # SavedModel holds, run on the CPU; they do not serve requests.)
    for name in export.exported_models(exports.base):
        meta_graph, signatures = signature_defs(export_dir(exports, name))
        nodes = _functions_run_by_signatures(meta_graph, signatures)
        assert {"Conv2D", "Assert"} <= {node.op for node in nodes}, name
        pinned = {node.name: node.device for node in nodes if node.device}
        assert pinned == {}, name


@pytest.mark.parametrize("method", METHODS)
def test_export_stores_each_variable_once(exports, method):
    # keras-team/keras#23553: `ExportArchive.track(model)` stored every
    # variable twice, which doubled the artefact.
    checkpoint = os.path.join(export_dir(exports, f"lenet5_{method}"), "variables", "variables")
    stored = [
        shape
        for name, shape in tf.train.list_variables(checkpoint)
        if name != "_CHECKPOINTABLE_OBJECT_GRAPH"
    ]
    # The signatures draw from each request's own seed, so the layers'
    # seed-generator states are not part of the export.
    weights = [variable for variable in lenet5(method).variables
               if "seed_generator_state" not in variable.path]
    assert sum(int(np.prod(shape)) for shape in stored) == sum(
        int(np.prod(variable.shape)) for variable in weights
    )
    assert len(stored) == len(weights)


def test_models_config_lists_every_export_for_the_server(exports):
    with open(os.path.join(exports.base, export.MODELS_CONFIG)) as file:
        config = text_format.Parse(file.read(), model_server_config_pb2.ModelServerConfig())
    names = [f"lenet5_{method}" for method in METHODS] + [POSTERIOR_MEAN_MODE]
    if exports.super_resolution_posterior_mean:
        names.append(SUPER_RESOLUTION)
    entries = config.model_config_list.config
    assert sorted(entry.name for entry in entries) == sorted(names)
    for entry in entries:
        assert entry.base_path == f"/models/{entry.name}"
        assert entry.model_platform == "tensorflow"


# --- export arguments and the layout -------------------------------------------------


def _tiny_classifier():
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, bz.layers.DenseLocalReparameterization(2, seed=0)(x))


def test_layout_numbers_versions_and_rewrites_the_config(tmp_path):
    model = _tiny_classifier()
    first = export.export_for_serving(model, tmp_path, "tiny", num_samples=2)
    second = export.export_for_serving(model, tmp_path, "tiny", num_samples=2,
                                       serving_root="/srv/zoo/")
    assert first == str(tmp_path / "tiny" / "1") and second == str(tmp_path / "tiny" / "2")
    assert export.versions(tmp_path / "tiny") == [1, 2]
    assert export.exported_models(tmp_path) == ["tiny"]
    assert sorted(os.listdir(tmp_path / "tiny")) == ["1", "2"]  # no partial folder left
    assert 'base_path: "/srv/zoo/tiny"' in (tmp_path / export.MODELS_CONFIG).read_text()
    with pytest.raises(ValueError, match="Version 2 of 'tiny' already exists"):
        export.export_for_serving(model, tmp_path, "tiny", version=2)
    with pytest.raises(ValueError, match="already holds files"):
        export.saved_model(model, tmp_path / "tiny" / "1")
    export.saved_model(model, tmp_path / "tiny" / "1", num_samples=3, overwrite=True)
    assert export.versions(tmp_path / "tiny") == [1, 2]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"num_samples": 0}, "Argument `num_samples` must be a positive integer"),
        ({"num_samples": 2.5}, "Argument `num_samples` must be a positive integer"),
        ({"samples_per_call": 0}, "Argument `samples_per_call` must be a positive integer"),
        ({"mode": "sigmoid"}, "Unknown argument `mode`"),
    ],
)
def test_bad_export_arguments_raise_before_writing(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        export.saved_model(_tiny_classifier(), tmp_path / "1", **arguments)
    assert not os.path.exists(tmp_path / "1")


def test_models_that_cannot_be_exported_say_why(tmp_path):
    inputs = keras.Input((4, 4, 1))
    two_outputs = keras.Model(inputs, [keras.layers.Flatten()(inputs)] * 2)
    with pytest.raises(ValueError, match="one input .* and one output"):
        export.saved_model(two_outputs, tmp_path / "1")
    vectors = keras.Input((4,))
    with pytest.raises(ValueError, match=r"images \[batch, height, width, channels\]"):
        export.saved_model(keras.Model(vectors, keras.layers.Dense(2)(vectors)), tmp_path / "1")
    sequence = keras.Model(inputs, keras.layers.Reshape((16, 1))(inputs))
    with pytest.raises(ValueError, match="output rank 3"):
        export.saved_model(sequence, tmp_path / "1")
    with pytest.raises(ValueError, match="Argument `name`"):
        export.export_for_serving(_tiny_classifier(), tmp_path, "../escape")
    with pytest.raises(ValueError, match="holds no exported model"):
        export.write_models_config(tmp_path)


# --- bayes-zoo export and the zoo -------------------------------------------------------


def _run_cli(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def trained_model_file(tmp_path_factory):
    """A LeNet-5 trained for one epoch on 32 random images, saved as the trainer does."""
    folder = tmp_path_factory.mktemp("run") / "lenet5_run"
    folder.mkdir()
    keras.utils.set_random_seed(5)
    model = lenet5("lrt", seed=5)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(5)
    model.fit(rng.normal(size=(32, *IMAGE_SHAPE)).astype(np.float32),
              rng.integers(0, NUM_CLASSES, 32), epochs=1, batch_size=16, verbose=0)
    path = folder / "model.keras"
    model.save(path)
    return path


def test_cli_exports_a_model_file(capsys, tmp_path, trained_model_file):
    base = tmp_path / "serving"
    status, out, err = _run_cli(capsys, "export", str(trained_model_file), "--output",
                                str(base), "--num-samples", "3")
    assert status == 0, err
    # A trainer's model.keras is named after its folder.
    path = base / "lenet5_run" / "1"
    assert str(path) in out and "models.config" in out
    loaded = tf.saved_model.load(str(path))
    assert sorted(loaded.signatures) == sorted(classification_serving.SIGNATURES)
    images = np.zeros([2, *IMAGE_SHAPE], np.float32)
    served = loaded.signatures["posterior_mean"](images=tf.constant(images))["probabilities"]
    model = keras.models.load_model(trained_model_file)
    np.testing.assert_allclose(
        served.numpy(), bz.uncertainty.posterior_mean_predict(model, images), rtol=1e-5
    )
    config = (base / export.MODELS_CONFIG).read_text()
    assert 'name: "lenet5_run"' in config

    status, _, err = _run_cli(capsys, "export", str(trained_model_file), "--output",
                              str(base), "--version", "1")
    assert status == cli.EXIT_ERROR
    assert err.count("\n") == 1 and "bayes-zoo export: error: Version 1 of 'lenet5_run'" in err
    status, _, err = _run_cli(capsys, "export", str(tmp_path / "missing.keras"))
    assert status == cli.EXIT_ERROR and "No model file" in err and err.count("\n") == 1
    status, _, err = _run_cli(capsys, "export", str(trained_model_file), "--num-samples", "0")
    assert status == cli.EXIT_USAGE and err.count("\n") == 1


def test_cli_exports_a_trained_card_where_the_zoo_finds_it(
    capsys, tmp_path, monkeypatch, trained_model_file
):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "demo_lrt_digits.toml").write_text(
        open(os.path.join(REPOSITORY_MODELS, "demo_lrt_digits.toml")).read()
    )
    monkeypatch.setenv(zoo.HOME_VARIABLE, str(home))
    with pytest.raises(FileNotFoundError, match="Fix: run `bayes-zoo export demo_lrt_digits` "
                                                "after `bayes-zoo train demo_lrt_digits`"):
        zoo.saved_model_path("demo_lrt_digits")
    status, _, err = _run_cli(capsys, "export", "demo_lrt_digits")
    assert status == cli.EXIT_ERROR and "bayes-zoo train demo_lrt_digits" in err

    os.makedirs(os.path.dirname(zoo.model_path("demo_lrt_digits")))
    with open(trained_model_file, "rb") as source:
        with open(zoo.model_path("demo_lrt_digits"), "wb") as target:
            target.write(source.read())
    status, out, err = _run_cli(capsys, "export", "demo_lrt_digits", "--num-samples", "2")
    assert status == 0, err
    path = zoo.saved_model_path("demo_lrt_digits")
    assert path == str(home / "saved_models" / "demo_lrt_digits" / "1") and path in out
    assert export.exported_models(home / "saved_models") == ["demo_lrt_digits"]
    assert isinstance(zoo.load("demo_lrt_digits"), keras.Model)


def _zoo_home_with_trained_card(tmp_path, trained_model_file):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "demo_lrt_digits.toml").write_text(
        open(os.path.join(REPOSITORY_MODELS, "demo_lrt_digits.toml")).read()
    )
    (home / "saved_models" / "demo_lrt_digits").mkdir(parents=True)
    with open(trained_model_file, "rb") as source:
        (home / "saved_models" / "demo_lrt_digits" / "model.keras").write_bytes(source.read())
    return home


def test_saved_model_path_exports_a_trained_card_on_first_use(
    capsys, tmp_path, trained_model_file
):
    home = _zoo_home_with_trained_card(tmp_path, trained_model_file)
    with pytest.raises(FileNotFoundError, match="no SavedModel export"):
        zoo.saved_model_path("demo_lrt_digits", root=home, export_if_missing=False)
    path = zoo.saved_model_path("demo_lrt_digits", root=home)
    assert path == str(home / "saved_models" / "demo_lrt_digits" / "1")
    assert "first use" in capsys.readouterr().out
    assert export.exported_models(home / "saved_models") == ["demo_lrt_digits"]
    assert sorted(os.listdir(home / "saved_models" / "demo_lrt_digits")) == ["1", "model.keras"]
    served = tf.saved_model.load(path)
    images = np.random.default_rng(0).normal(size=(3, *IMAGE_SHAPE)).astype(np.float32)
    probabilities = served.signatures["serving_default"](images=images)["probabilities"]
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1.0, rtol=1e-5)
    written = os.path.getmtime(os.path.join(path, "saved_model.pb"))
    assert zoo.saved_model_path("demo_lrt_digits", root=home) == path  # reused, not redone
    assert os.path.getmtime(os.path.join(path, "saved_model.pb")) == written
    assert "first use" not in capsys.readouterr().out


def test_saved_model_path_says_where_to_export_when_home_is_read_only(
    tmp_path, trained_model_file, monkeypatch
):
    home = _zoo_home_with_trained_card(tmp_path, trained_model_file)
    real_access = os.access
    # The suite may run as root, for whom chmod does not take write access away.
    monkeypatch.setattr(os, "access", lambda path, mode: False if os.fspath(path) == str(home)
                        else real_access(path, mode))
    with pytest.raises(PermissionError, match=r"not writable\. Fix: run `bayes-zoo export "
                                              r"demo_lrt_digits --output DIR`"):
        zoo.saved_model_path("demo_lrt_digits", root=home)
    assert not os.path.exists(home / "saved_models" / "demo_lrt_digits" / "1")


def test_concurrent_exports_to_one_folder_leave_one_complete_export(tmp_path):
    import threading

    model = _tiny_classifier()
    target = tmp_path / "tiny" / "1"
    outcomes = []

    def export_once():
        try:
            outcomes.append(export.saved_model(model, target, num_samples=2))
        except (FileExistsError, ValueError) as error:
            outcomes.append(error)

    threads = [threading.Thread(target=export_once) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(outcome == str(target) for outcome in outcomes) >= 1
    assert all(outcome == str(target) or "already" in str(outcome) or "Another export" in
               str(outcome) for outcome in outcomes)
    assert os.listdir(tmp_path / "tiny") == ["1"]  # no partial folder left
    served = tf.saved_model.load(str(target))
    assert "serving_default" in served.signatures
