"""Thin re-export, kept as `bz.super_resolution`: super-resolution lives in
`bayes_zoo.tasks.super_resolution` (`photographs`, `evaluation`, `training`).

```python
photos = bz.super_resolution.read_images("photos/CBSD68")
low_res, high_res = bz.super_resolution.training_pairs(photos, upscale_factor=3)
model = bz.architectures.espcn(
    method="lrt", num_train_examples=bz.super_resolution.elbo_num_train_examples(high_res))
bz.super_resolution.train(model, low_res, high_res, epochs=200)
scores = bz.super_resolution.evaluate(model, bz.super_resolution.read_images("photos/Set5"))
```
"""

from bayes_zoo.card_tables import distribution_from_card
from bayes_zoo.tasks.super_resolution.evaluation import evaluate
from bayes_zoo.tasks.super_resolution.evaluation import monte_carlo_super_resolution
from bayes_zoo.tasks.super_resolution.evaluation import psnr
from bayes_zoo.tasks.super_resolution.evaluation import ssim
from bayes_zoo.tasks.super_resolution.evaluation import super_resolve
from bayes_zoo.tasks.super_resolution.photographs import BUNDLED_TEST_PHOTOGRAPHS
from bayes_zoo.tasks.super_resolution.photographs import BUNDLED_TRAIN_PHOTOGRAPHS
from bayes_zoo.tasks.super_resolution.photographs import IMAGE_EXTENSIONS
from bayes_zoo.tasks.super_resolution.photographs import NOISE_STDDEV
from bayes_zoo.tasks.super_resolution.photographs import bicubic_upscale
from bayes_zoo.tasks.super_resolution.photographs import bundled_photographs
from bayes_zoo.tasks.super_resolution.photographs import crop_to_multiple
from bayes_zoo.tasks.super_resolution.photographs import downscale
from bayes_zoo.tasks.super_resolution.photographs import elbo_num_train_examples
from bayes_zoo.tasks.super_resolution.photographs import luminance
from bayes_zoo.tasks.super_resolution.photographs import read_images
from bayes_zoo.tasks.super_resolution.photographs import training_pairs
from bayes_zoo.tasks.super_resolution.training import train
from bayes_zoo.tasks.super_resolution.training import train_card
