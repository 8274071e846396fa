"""The pretrained baseline on sine-wave regression (Finn et al. 2017, figure 2).

Command:   metaft run sine_pretrain        (K = 10; `sine_pretrain:k5` for K = 5)
Smoke:     metaft run sine_pretrain:smoke
Cost:      70,000 steps, about 10 s of training on 2 CPU cores.
Expected:  MSE about 3 after 1 or 10 test steps: one network fit to all tasks learns the mean
           function (near zero) and a few SGD steps from there do not recover a task.

Plain supervised training on every training task's points, then fine-tuning on each test
task's support set with the same `adapt` (SGD at 0.01) as MAML.
"""

from sine_maml import base_config


def get_config(arg=None):
  config = base_config('pretrain', arg)
  config.learner.name = 'pretrain'
  return config
