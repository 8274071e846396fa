"""The pretrained baseline on sine-wave regression (Finn et al. 2017, figure 2).

Command:   metaft run sine_pretrain        (K = 10; `sine_pretrain:k5` for K = 5)
Smoke:     metaft run sine_pretrain:smoke
Cost:      70,000 steps, about 10 s of training on 2 CPU cores.
Expected:  MSE about 2.4 after 1 SGD step and 1.6 after 10 (K = 10): one network fit to all
           tasks learns the mean function (near zero) and a few SGD steps from there do not
           recover a task; 100 Adam steps get to about 0.75, still above MAML's one step.

Plain supervised training on every training task's points, then fine-tuning on each test
task's support set: with the same `adapt` (SGD at 0.01) as MAML, with Adam at 1e-2 for 10 and
100 steps, with Adam and early stopping on a held-out 20% of the support set, and with Adam
and L2-SP (Li et al. 2018: the support loss plus 0.3 / 2 times the squared distance to the
pretrained weights).
"""

from sine_maml import base_config

# L2-SP's weight: the best of 0.01, 0.1, 0.3, 1 and 3 at K = 10 on a seed-1 run's test tasks (at
# K = 5 1 and 3 were 2% better); the seed-0 rows below are scored on other tasks.
L2_SP = 0.3


def get_config(arg=None):
  config = base_config('pretrain', arg)
  config.learner.name = 'pretrain'
  adam = dict(inner_opt=dict(name='adam', learning_rate=1e-2))
  config.eval.protocols = {
      'SGD': {},  # MAML's test-time adapt: SGD at 0.01
      'Adam': dict(learner=adam, adapt_steps=(10, 100)),
      'Adam, early stop': dict(learner=dict(adam, holdout=0.2, patience=10),
                                    adapt_steps=(100,)),
      'Adam, L2-SP': dict(learner=dict(adam, l2_sp=L2_SP), adapt_steps=(10, 100)),
  }
  return config
