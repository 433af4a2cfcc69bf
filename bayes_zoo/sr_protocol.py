"""Thin re-export, kept as `bz.sr_protocol`: the super-resolution evaluation protocol
lives in `bayes_zoo.tasks.super_resolution.protocol`.
"""

from bayes_zoo.tasks.super_resolution.protocol import bicubic_baseline
from bayes_zoo.tasks.super_resolution.protocol import degrade
from bayes_zoo.tasks.super_resolution.protocol import imresize
from bayes_zoo.tasks.super_resolution.protocol import luminance_y
from bayes_zoo.tasks.super_resolution.protocol import modcrop
from bayes_zoo.tasks.super_resolution.protocol import read_rgb
from bayes_zoo.tasks.super_resolution.protocol import score
from bayes_zoo.tasks.super_resolution.protocol import shaved
from bayes_zoo.tasks.super_resolution.protocol import to_studio_y
from bayes_zoo.tasks.super_resolution.protocol import to_unit_y
