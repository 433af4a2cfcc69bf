"""The zoo's tasks, one folder each: classification, super-resolution, a GAN.

A task owns its network builders, its training run, its evaluation and its
serving endpoints, and declares its card section (`bz.task_registry.Task`).
Importing this package registers the three; their heavy modules (TensorFlow)
load when first used.

Example:

>>> import bayes_zoo.tasks
>>> bz.task_registry.names()
('classification', 'super_resolution', 'gan')
"""

# In the order `bz.task_registry.names()` lists them.
from bayes_zoo.tasks import classification  # noqa: F401
from bayes_zoo.tasks import super_resolution  # noqa: F401
from bayes_zoo.tasks import gan  # noqa: F401
