"""The package's import rules (issue 16): no circle, and imports only run downwards.

CLI and demo -> zoo (and the thin re-exports of today's names) -> tasks -> core.
A task imports the core and its own modules only; the zoo imports the core and
the task packages' declarations, never a task's internals; the core imports
neither a task nor the zoo.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import import_graph  # noqa: E402

GRAPH = import_graph.import_graph()
TASK_PACKAGES = ("bayes_zoo.tasks.classification", "bayes_zoo.tasks.super_resolution",
                 "bayes_zoo.tasks.gan")
# Today's import paths, kept as thin re-exports above the tasks.
RE_EXPORTS = ("bayes_zoo.architectures", "bayes_zoo.architectures.classification",
              "bayes_zoo.architectures.dcgan", "bayes_zoo.architectures.espcn",
              "bayes_zoo.trainer", "bayes_zoo.evaluation", "bayes_zoo.super_resolution",
              "bayes_zoo.sr_protocol", "bayes_zoo.gan")
TOP = ("bayes_zoo.cli", "bayes_zoo.demo")


def _layer(module):
    if module in TOP:
        return "top"
    if module in RE_EXPORTS:
        return "re-export"
    if module == "bayes_zoo.zoo" or module.startswith("bayes_zoo.zoo."):
        return "zoo"
    if module == "bayes_zoo.tasks" or module.startswith("bayes_zoo.tasks."):
        return "task"
    return "core"


def _task(module):
    return next((package for package in TASK_PACKAGES
                 if module == package or module.startswith(package + ".")), None)


def test_the_graph_covers_every_layer():
    layers = {_layer(module) for module in GRAPH}
    assert layers == {"top", "re-export", "zoo", "task", "core"}
    assert "bayes_zoo.tasks.super_resolution.training" in GRAPH


def test_there_is_no_import_circle():
    assert import_graph.circles(GRAPH) == []


def test_a_circle_is_found():
    # The measure itself: a hand-made graph with one circle of three.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_graph.circles(graph) == [["a", "b", "c"]]
    assert import_graph.levels({"a": {"b"}, "b": set()}) == {"a": 2, "b": 1}


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) == "core"))
def test_the_core_imports_only_the_core(module):
    assert [target for target in GRAPH[module] if _layer(target) != "core"] == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _task(m)))
def test_a_task_imports_the_core_and_itself_only(module):
    wrong = [target for target in GRAPH[module]
             if _layer(target) != "core" and _task(target) != _task(module)]
    assert wrong == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) == "zoo"))
def test_the_zoo_imports_no_task_internals(module):
    wrong = [target for target in GRAPH[module]
             if _layer(target) in ("top", "re-export")
             or (_layer(target) == "task" and target not in ("bayes_zoo.tasks",) + TASK_PACKAGES)]
    assert wrong == []


def test_nothing_below_the_top_imports_it():
    for module, targets in GRAPH.items():
        if _layer(module) != "top":
            assert not [target for target in targets if _layer(target) == "top"], module


def test_a_lazy_task_callable_imports_its_module_only_when_called():
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from bayes_zoo import task_registry\n"
        "serves = task_registry.lazy('bayes_zoo.tasks.gan.serving', 'serves')\n"
        "register = task_registry.lazy('bayes_zoo.tasks.gan.dcgan')\n"
        "print('bayes_zoo.tasks.gan.serving' in sys.modules, serves.__qualname__)\n"
        "print(register(), 'bayes_zoo.tasks.gan.dcgan' in sys.modules)\n"
        "print(serves(object()))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split("\n")[:3] == [
        "False lazy(bayes_zoo.tasks.gan.serving:serves)", "None True", "False"]
