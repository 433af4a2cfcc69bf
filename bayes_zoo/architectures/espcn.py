"""Thin re-export, kept for today's import path: ESPCN lives in
`bayes_zoo.tasks.super_resolution.espcn`.
"""

from bayes_zoo.tasks.super_resolution.espcn import ACTIVATIONS
from bayes_zoo.tasks.super_resolution.espcn import METHODS
from bayes_zoo.tasks.super_resolution.espcn import PixelShuffle
from bayes_zoo.tasks.super_resolution.espcn import espcn
