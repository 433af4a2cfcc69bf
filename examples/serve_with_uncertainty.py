"""Export a trained Bayesian CNN for TensorFlow Serving, and call it as a REST client would.

    bayes-zoo train demo_lrt_digits        # or any trained card or .keras file
    python examples/serve_with_uncertainty.py demo_lrt_digits --output serving

Writes `serving/<name>/<version>/` (a SavedModel whose signatures run the
Monte Carlo prediction in the graph) and `serving/models.config`, then checks
the export without a server: it loads it with `tf.saved_model.load`, writes
the REST request body of each signature for a few test images to
`serving/requests/<signature>.json`, runs the signature on them and prints the
`docker run` and `curl` commands with the JSON TensorFlow Serving answers
(its row format for `serving_default` and `posterior_mean`, its column format
for `predict_with_uncertainty` and the `*_seeded` twins, whose `num_samples`
and `seed` belong to no example).
Printed numbers are rounded to 4 significant digits; the server prints
full floats.
"""

import argparse
import json
import os

import keras
import numpy as np
import tensorflow as tf

import bayes_zoo as bz
from bayes_zoo import export
from bayes_zoo import zoo


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", nargs="?", default="demo_lrt_digits",
                        help="a trained zoo card's name, or a .keras model file")
    parser.add_argument("--name", help="the model's name on the server (default: the card's "
                                       "or the file's)")
    parser.add_argument("--output", default="serving", help="the folder the server mounts")
    parser.add_argument("--num-samples", type=int, default=20,
                        help="Monte Carlo samples of serving_default")
    parser.add_argument("--request-samples", type=int, default=50,
                        help="num_samples of the predict_with_uncertainty request")
    parser.add_argument("--dataset", help="test images to send (default: the card's, or digits)")
    parser.add_argument("--data-dir", help="where bz.data finds the dataset")
    parser.add_argument("--examples", type=int, default=2, help="images per request")
    parser.add_argument("--seed", type=int, default=0,
                        help="the seed of the requests to the *_seeded signatures")
    return parser.parse_args()


def load_target(target):
    """(model, server name, dataset or None) of a card name or a .keras file."""
    if target.endswith(".keras"):
        name = os.path.splitext(os.path.basename(target))[0]
        return keras.models.load_model(target, compile=False), name, None
    card = zoo.card(target)
    return zoo.load(card, compile=False), card.name, card.dataset


def rounded(value):
    """Floats to 4 significant digits, for reading (the server prints them whole)."""
    value = np.asarray(value)
    if value.dtype.kind != "f":
        return value.tolist()
    return np.vectorize(lambda x: float(f"{x:.4g}"), otypes=[float])(value).tolist()


def dumps(body):
    """JSON with one line per output (or per example of the row format)."""
    def line(value):
        return json.dumps(value, separators=(", ", ": "))

    (key, value), = body.items()
    if isinstance(value, dict):
        items = [f"    {json.dumps(name)}: {line(item)}" for name, item in value.items()]
        inner = "{\n" + ",\n".join(items) + "\n  }"
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        inner = "[\n" + ",\n".join(f"    {line(item)}" for item in value) + "\n  ]"
    else:
        inner = line(value)
    return f"{{\n  {json.dumps(key)}: {inner}\n}}"


def signature_inputs(signature, images, num_samples, seed):
    """The inputs of `signature`: the images, and its scalars (`num_samples`, `seed`)."""
    inputs = {"images": images}
    if signature.removesuffix(export.SEEDED_SUFFIX) == export.PREDICT_WITH_UNCERTAINTY:
        inputs["num_samples"] = np.int32(num_samples)
    if signature.endswith(export.SEEDED_SUFFIX):
        inputs["seed"] = np.int64(seed)
    return inputs


def request_body(signature, inputs):
    """The JSON body of a REST `:predict` request for `signature`."""
    if len(inputs) > 1:
        # Column format: `num_samples` and `seed` are one scalar for the whole request.
        return {"signature_name": signature,
                "inputs": {key: value.tolist() for key, value in inputs.items()}}
    # Row format: one instance per image (the signature's only input).
    return {"signature_name": signature, "instances": inputs["images"].tolist()}


def response_body(inputs, outputs):
    """The JSON TensorFlow Serving answers; it drops the names of a single output."""
    if len(inputs) > 1:
        if len(outputs) == 1:
            return {"outputs": rounded(next(iter(outputs.values())))}
        return {"outputs": {name: rounded(value) for name, value in sorted(outputs.items())}}
    if len(outputs) == 1:
        return {"predictions": rounded(next(iter(outputs.values())))}
    batch = len(next(iter(outputs.values())))
    return {"predictions": [
        {name: rounded(value[index]) for name, value in sorted(outputs.items())}
        for index in range(batch)
    ]}


def main():
    args = parse_arguments()
    model, name, card_dataset = load_target(args.target)
    name = args.name or name
    path = export.export_for_serving(model, args.output, name, num_samples=args.num_samples)
    print(f"Exported {args.target} to {path} ({args.num_samples} Monte Carlo samples); "
          f"{os.path.join(args.output, export.MODELS_CONFIG)} lists the models.")

    height, width, channels = model.input_shape[1:]
    test = bz.data.load(args.dataset or card_dataset or "digits", "test",
                        batch_size=args.examples, data_dir=args.data_dir,
                        image_size=(height, width))
    images, labels = next(iter(test))
    images = images.numpy().astype(np.float32)
    print(f"{len(images)} test images, labels {labels.numpy().tolist()}")

    served = tf.saved_model.load(path)
    requests = os.path.join(args.output, "requests")
    os.makedirs(requests, exist_ok=True)
    print("\nServe it:\n"
          f"  docker run -p 8501:8501 --mount type=bind,source={os.path.abspath(args.output)},"
          "target=/models -t tensorflow/serving --model_config_file=/models/models.config")
    for signature in sorted(served.signatures):
        inputs = signature_inputs(signature, images, args.request_samples, args.seed)
        outputs = served.signatures[signature](
            **{key: tf.constant(value) for key, value in inputs.items()})
        outputs = {key: value.numpy() for key, value in outputs.items()}
        request_file = os.path.join(requests, f"{signature}.json")
        with open(request_file, "w") as file:
            json.dump(request_body(signature, inputs), file)
        print(f"\n{signature}:\n"
              f"  curl -d @{request_file} -X POST http://localhost:8501/v1/models/{name}:predict")
        print(dumps(response_body(inputs, outputs)))


if __name__ == "__main__":
    main()
