"""Meta-SGD on sine-wave regression (Li et al. 2017): per-parameter inner learning rates.

Command:   metaft run sine_metasgd          (K = 10; `sine_metasgd:k5` for K = 5)
Smoke:     metaft run sine_metasgd:smoke
Cost:      70,000 meta-steps; about 70 s of training on 2 CPU cores (5,000 steps took 5 s).
Expected:  not yet measured in full. After 5,000 steps: MSE 0.27 after 1 test step (200 test
           tasks; MAML: 0.66 at the same point).

As sine_maml, with one inner step whose per-parameter rates start in U[0.005, 0.1] (the
paper's range) and are meta-learned with the initialisation. Evaluated after one step only:
the learned rates are tuned for one step, and 10 steps with them diverge on some tasks.
"""

from sine_maml import base_config


def get_config(arg=None):
  config = base_config('metasgd', arg)
  config.learner = dict(name='metasgd', inner_steps=1)
  config.eval.adapt_steps = (1,)
  return config
