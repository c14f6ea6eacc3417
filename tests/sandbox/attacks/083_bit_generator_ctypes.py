# expect: error
# tries: Generator.bit_generator exposes ctypes/cffi state pointers
# ruff: noqa
import numpy as np


def indicator(df, **params):
    bit_generator = np.random.default_rng(1).bit_generator
    return df.close * bit_generator.random_raw()
