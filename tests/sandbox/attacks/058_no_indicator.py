# expect: rejected
# tries: a module that defines no indicator at all
# ruff: noqa
import numpy as np

VALUE = np.pi
