"""The numeric precision of training: which Keras dtype policy, and on what hardware.

`resolve("auto")` picks a low precision only where the hardware computes it
natively: on a CPU, bfloat16 where it reports `avx512_bf16` or `amx_bf16`
(elsewhere bfloat16 is emulated, and slower than float32); on a GPU,
bfloat16 from compute capability 8.0 (Ampere) and float16 from 7.0 (Volta);
float32 otherwise. A low precision means Keras' mixed policy: variables,
posteriors and the KL stay float32, the linear operations run in the low
precision.

```python
precision = bz.precision.resolve("auto")   # "bfloat16" on a CPU with AMX
with bz.precision.policy_scope(precision):
    model = bz.architectures.lenet5(method="lrt", num_train_examples=60_000)
```
"""

import contextlib

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
# The Keras dtype policy of each resolved precision.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
_CPUINFO = "/proc/cpuinfo"


def cpu_flags(cpuinfo=_CPUINFO):
    """The feature flags the CPU reports (Linux' /proc/cpuinfo), or an empty set.

    Example:

    >>> "avx512_bf16" in bz.precision.cpu_flags()
    True
    """
    try:
        with open(cpuinfo) as file:
            for line in file:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16(flags=None):
    """Whether the CPU computes bfloat16 natively (`avx512_bf16` or `amx_bf16`)."""
    flags = cpu_flags() if flags is None else set(flags)
    return bool(CPU_BF16_FLAGS & flags)


def _gpu_compute_capabilities():
    import tensorflow as tf

    capabilities = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        capability = details.get("compute_capability")
        if capability:
            capabilities.append(tuple(capability))
    return capabilities


def auto_precision(flags=None, gpu_capabilities=None):
    """The precision `"auto"` resolves to on this machine (or the given hardware).

    Args:
        flags: the CPU's feature flags; None reads them (`cpu_flags`).
        gpu_capabilities: (major, minor) compute capabilities of the GPUs;
            None asks TensorFlow.

    Returns:
        `"bfloat16"`, `"float16"` or `"float32"`.

    Example:

    >>> bz.precision.auto_precision(flags={"avx512f"}, gpu_capabilities=[])
    'float32'
    """
    if gpu_capabilities is None:
        gpu_capabilities = _gpu_compute_capabilities()
    if gpu_capabilities:
        slowest = min(gpu_capabilities)
        if slowest >= (8, 0):
            return "bfloat16"
        if slowest >= (7, 0):
            return "float16"
        return "float32"
    return "bfloat16" if cpu_has_bf16(flags) else "float32"


def resolve(precision, flags=None, gpu_capabilities=None):
    """The precision to train in: `precision`, with `"auto"` resolved.

    Args:
        precision: one of `PRECISIONS`.
        flags, gpu_capabilities: as for `auto_precision`.

    Returns:
        `"float32"`, `"bfloat16"` or `"float16"`.

    Raises:
        ValueError: an unknown precision, or bfloat16 asked of a machine with
            neither a bf16 CPU nor a GPU (it would be emulated, and slow).

    Example:

    >>> bz.precision.resolve("auto")
    'bfloat16'
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}."
        )
    if precision == "auto":
        return auto_precision(flags, gpu_capabilities)
    if precision == "bfloat16":
        if gpu_capabilities is None:
            gpu_capabilities = _gpu_compute_capabilities()
        if not gpu_capabilities and not cpu_has_bf16(flags):
            raise ValueError(
                "Precision 'bfloat16' needs a CPU with avx512_bf16 or amx_bf16 (or a GPU); "
                "this CPU reports neither, so bfloat16 would be emulated and slower than "
                "float32. Fix: use --precision auto or float32."
            )
    return precision


def describe(precision, flags=None):
    """One line saying which precision and policy, and what the CPU offers.

    Example:

    >>> bz.precision.describe("bfloat16")
    'bfloat16 (Keras policy mixed_bfloat16); CPU bf16 units: amx_bf16, avx512_bf16'
    """
    flags = cpu_flags() if flags is None else set(flags)
    units = ", ".join(sorted(CPU_BF16_FLAGS & flags)) or "none"
    return f"{precision} (Keras policy {POLICIES[precision]}); CPU bf16 units: {units}"


@contextlib.contextmanager
def policy_scope(precision):
    """Context manager: Keras' global dtype policy of a resolved `precision`.

    Layers built inside it keep the policy (it is saved with them); the
    previous global policy is restored on exit.

    Example:

    >>> with bz.precision.policy_scope("bfloat16"):
    ...     model = bz.architectures.lenet5(method="lrt", num_train_examples=100)
    >>> model.layers[1].compute_dtype
    'bfloat16'
    """
    import keras

    if precision not in POLICIES:
        raise ValueError(
            f"Argument `precision` must be one of {', '.join(POLICIES)} (resolve 'auto' "
            f"first). Received: precision={precision!r}"
        )
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
