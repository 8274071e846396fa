"""Reptile on sine-wave regression (Nichol, Achiam & Schulman 2018).

Command:   metaft run sine_reptile          (K = 10; `sine_reptile:k5` for K = 5)
Smoke:     metaft run sine_reptile:smoke
Cost:      70,000 meta-steps of 5 inner steps; about 100 s of training on 2 CPU cores
           (extrapolated from 5,000 steps in 7 s).
Expected:  not yet measured in full. After 5,000 steps (a 5,000-step schedule): MSE 1.3 after
           1 test step and 0.73 after 10 (200 test tasks).

As sine_maml, but Reptile: 5 inner steps of Adam (b1 = 0) on the support and query points
together, and the paper's outer loop, SGD with a step size annealed linearly from 1.0 to 0
over training (`transition_steps` follows `train_steps`, overrides included). Evaluated with
the same Adam at 1 and 10 steps on the support set alone.
"""

from sine_maml import base_config


def get_config(arg=None):
  config = base_config('reptile', arg)
  config.learner = dict(name='reptile', inner_lr=0.01, inner_steps=5)
  config.outer = dict(name='sgd', learning_rate=dict(
      schedule='linear_schedule', init_value=1.0, end_value=0.0,
      transition_steps=config.get_ref('train_steps')))
  return config
