"""The registry of tasks: what each task declares to the zoo's card schema and to export.

A task (`bz.tasks.classification`, `bz.tasks.super_resolution`, `bz.tasks.gan`)
registers one `Task` when its package is imported. The zoo's card schema reads a
card's section rules from it, and `bz.export.saved_model` asks it which task
serves a model; neither imports a task's internals. `registered()` imports
`bayes_zoo.tasks` first, so that the built-in tasks are always there.

Example:

>>> [task.name for task in bz.task_registry.registered()]
['classification', 'super_resolution', 'gan']
>>> bz.task_registry.get("super_resolution").builder_parameters["espcn"][:3]
('method', 'upscale_factor', 'channels')
"""

import dataclasses
import importlib
from typing import Callable

_TASKS = {}


@dataclasses.dataclass(frozen=True)
class Task:
    """What a task declares: its card section and how its models are served.

    Reading a card must not import TensorFlow (`bayes-zoo list` starts at
    once), so everything but the callables is plain data, and the callables
    import their modules when called.

    Attributes:
        name: str, the card's `task` (a card without one is classification).
        builder_parameters: dict, architecture name -> the parameter names
            its builder takes (a card's `[model]` may set them, but for the
            ones the card's own fields give).
        datasets: tuple of str, the datasets its cards may name.
        loss: str, the only `[training] loss` its training runs.
        optimizers: tuple of str, the `[training] optimizer` values it runs.
        data_config: None (no `[data]` table) or the frozen dataclass its
            `[data]` table is read into.
        training_keys: tuple of str, the `[training]` keys it reads.
        check_data: None, or a callable `(dataset, data_config) -> problem`
            (a str, or None when the table is right) for rules the dataclass
            cannot state.
        build_model: None, or a callable `(card, **arguments) -> model`
            behind `bz.zoo.Card.build_model`.
        serves: a callable `(model) -> bool`: whether this task's endpoints
            export `model`.
        serving_endpoints: a callable `(model, num_samples, samples_per_call,
            mode) -> {signature name: (function, input signature, draws
            noise)}`, see `bz.export`.
        register_keras_objects: a callable `() -> None` that imports the
            modules defining the task's own Keras layers and models, which
            registers them with Keras' loading (`bz.zoo.load_file`).

    Example:

    >>> task = bz.task_registry.get("classification")
    >>> task.loss, "lenet5" in task.builder_parameters
    ('cross_entropy', True)
    """

    name: str
    builder_parameters: dict
    datasets: tuple
    loss: str
    optimizers: tuple
    data_config: type | None
    training_keys: tuple
    serves: Callable
    serving_endpoints: Callable
    register_keras_objects: Callable
    check_data: Callable | None = None
    build_model: Callable | None = None


def lazy(module, function=None):
    """A callable that imports `module` when first called, then calls its `function`.

    A task's `Task` must not import TensorFlow, so its callables name the
    module that holds them; `function=None` gives a callable that only
    imports the module (its import registers the module's Keras objects).

    Args:
        module: str, a module path, e.g. `"bayes_zoo.tasks.gan.serving"`.
        function: None or str, the name of a function of that module.

    Example:

    >>> serves = bz.task_registry.lazy("bayes_zoo.tasks.gan.serving", "serves")
    """

    def call(*args, **kwargs):
        loaded = importlib.import_module(module)
        return None if function is None else getattr(loaded, function)(*args, **kwargs)

    call.__name__ = function or f"import_{module.rsplit('.', 1)[-1]}"
    call.__qualname__ = f"lazy({module}{'' if function is None else ':' + function})"
    return call


def register(task):
    """Adds `task` to the registry (a task package does this on import); returns it."""
    if not isinstance(task, Task):
        raise ValueError(f"Argument `task` must be a `Task`. Received: task={task!r}")
    if task.name in _TASKS and _TASKS[task.name] != task:
        raise ValueError(f"A task named {task.name!r} is already registered.")
    _TASKS[task.name] = task
    return task


def registered():
    """The registered tasks, in the order they registered (a list of `Task`)."""
    importlib.import_module("bayes_zoo.tasks")  # registers the built-in tasks
    return list(_TASKS.values())


def names():
    """The registered tasks' names, a tuple of str."""
    return tuple(task.name for task in registered())


def get(name):
    """The registered `Task` called `name`.

    Raises:
        ValueError: no task of that name; the message lists the known ones.
    """
    tasks = {task.name: task for task in registered()}
    if name not in tasks:
        raise ValueError(f"Unknown task: expected one of {tuple(tasks)}. Received: {name!r}")
    return tasks[name]
