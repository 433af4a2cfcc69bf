"""The model zoo: one TOML card per model, trained artefacts under `saved_models/`.

Two modules, re-exported here as `bz.zoo.*`:

- `card_schema`: the card schema. A card (`models/<name>.toml`) says what a zoo
  model is and how it is trained (task, architecture, method, dataset, and
  the `[model]`, `[prior]`, `[posterior]`, `[data]`, `[training]`,
  `[evaluation]`, `[paper]`, `[results]` and `[artefacts]` tables); each
  task declares what its cards may say (`bz.task_registry`).
- `registry`: the zoo's home and its cards, loading trained models, and
  SavedModel exports made on first use.

`bz.trainer` trains the classification cards; `bz.super_resolution.train_card`
and `bz.gan.train_card` train the others from `Card.document`. The zoo sits
above the tasks: it finds a card's task through `bz.task_registry`, and no
task imports it.

```python
bz.zoo.list()                             # ['alexnet_frequentist_cifar10', ...]
card = bz.zoo.card("lenet5_lrt_mnist")    # a `Card`
model = bz.zoo.load("lenet5_lrt_mnist")   # the trained keras model
bz.zoo.save_for_inference(model, "model.keras")  # no optimizer state, as the trainer writes
```
"""

from bayes_zoo.card_tables import posterior_from_table
from bayes_zoo.card_tables import prior_from_table
from bayes_zoo.saving import save_for_inference
from bayes_zoo.tasks.classification import DATASETS as CLASSIFICATION_DATASETS
from bayes_zoo.tasks.classification import DataConfig
from bayes_zoo.tasks.super_resolution import PhotographDataConfig
from bayes_zoo.zoo.card_schema import BUILDER_PARAMETERS
from bayes_zoo.zoo.card_schema import KL_SCHEDULES
from bayes_zoo.zoo.card_schema import LR_SCHEDULES
from bayes_zoo.zoo.card_schema import METHODS
from bayes_zoo.zoo.card_schema import OPTIMIZERS
from bayes_zoo.zoo.card_schema import SELECTIONS
from bayes_zoo.zoo.card_schema import TASKS
from bayes_zoo.zoo.card_schema import VARIATIONAL_METHODS
from bayes_zoo.zoo.card_schema import Card
from bayes_zoo.zoo.card_schema import EvaluationConfig
from bayes_zoo.zoo.card_schema import TrainingConfig
from bayes_zoo.zoo.card_schema import read_card
from bayes_zoo.zoo.registry import HOME_VARIABLE
from bayes_zoo.zoo.registry import card
from bayes_zoo.zoo.registry import cards
from bayes_zoo.zoo.registry import home
from bayes_zoo.zoo.registry import home_source
from bayes_zoo.zoo.registry import list  # noqa: A004
from bayes_zoo.zoo.registry import load
from bayes_zoo.zoo.registry import load_file
from bayes_zoo.zoo.registry import model_path
from bayes_zoo.zoo.registry import saved_model_path
from bayes_zoo.zoo.registry import train_command
