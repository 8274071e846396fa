"""First-order MAML on sine-wave regression (Finn et al. 2017, section 5.2).

Command:   metaft run sine_fomaml          (K = 10; `sine_fomaml:k5` for K = 5)
Smoke:     metaft run sine_fomaml:smoke
Cost:      70,000 meta-steps, about 15 s of training on 2 CPU cores.
Expected:  close to MAML (see benchmarks/RESULTS.md).

As sine_maml, with the gradient through the inner update stopped.
"""

from sine_maml import base_config


def get_config(arg=None):
  config = base_config('fomaml', arg)
  config.learner.name = 'fomaml'
  return config
