"""Thin re-export, kept for today's import path: the DCGAN lives in
`bayes_zoo.tasks.gan.dcgan`.
"""

from bayes_zoo.tasks.gan.dcgan import METHODS
from bayes_zoo.tasks.gan.dcgan import BayesianDCGAN
from bayes_zoo.tasks.gan.dcgan import dcgan
from bayes_zoo.tasks.gan.dcgan import dcgan_discriminator
from bayes_zoo.tasks.gan.dcgan import dcgan_generator
from bayes_zoo.tasks.gan.dcgan import discriminator_uncertainty
