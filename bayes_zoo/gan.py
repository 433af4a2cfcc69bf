"""Thin re-export, kept as `bz.gan`: the GAN's training run lives in
`bayes_zoo.tasks.gan.training`.
"""

from bayes_zoo.tasks.gan.training import BETA_1
from bayes_zoo.tasks.gan.training import LEARNING_RATE
from bayes_zoo.tasks.gan.training import SampleGrid
from bayes_zoo.tasks.gan.training import SampleQuality
from bayes_zoo.tasks.gan.training import heldout_uncertainty
from bayes_zoo.tasks.gan.training import image_grid
from bayes_zoo.tasks.gan.training import plot_training
from bayes_zoo.tasks.gan.training import real_images
from bayes_zoo.tasks.gan.training import sample_quality
from bayes_zoo.tasks.gan.training import save_for_inference
from bayes_zoo.tasks.gan.training import train
from bayes_zoo.tasks.gan.training import train_card
