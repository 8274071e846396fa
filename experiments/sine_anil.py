"""ANIL on sine-wave regression (Raghu et al. 2020): MAML adapting only the last layer.

Command:   metaft run sine_anil             (K = 10; `sine_anil:k5` for K = 5)
Smoke:     metaft run sine_anil:smoke
Cost:      70,000 meta-steps; about 40 s of training on 2 CPU cores (5,000 steps took 3 s).
Expected:  not yet measured in full. After 5,000 steps: MSE 1.4 after 1 test step and 1.2
           after 10 (200 test tasks; MAML: 0.66 and 0.24 at the same point).

As sine_maml; the inner SGD step (0.01) updates only the output layer (`Dense_2`).
"""

from sine_maml import base_config


def get_config(arg=None):
  config = base_config('anil', arg)
  config.learner.name = 'anil'
  return config
