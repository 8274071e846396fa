"""iMAML on sine-wave regression (Rajeswaran et al. 2019): implicit meta-gradients.

Command:   metaft run sine_imaml            (K = 10; `sine_imaml:k5` for K = 5)
Smoke:     metaft run sine_imaml:smoke
Cost:      70,000 meta-steps of 20 inner and 5 CG steps; about 5 minutes of training on 2
           CPU cores (5,000 steps took 23 s).
Expected:  not yet measured in full. After 5,000 steps: MSE 1.8 after 10 test steps (200 test
           tasks). Untuned: a demonstration of the learner, not a replication.

As sine_maml, but each task's inner problem is the support loss plus lam/2 ||phi - theta||^2
with lam = 5, 20 SGD steps at 0.003, and the meta-gradient is solved for by 5 conjugate-
gradient steps. Test-time adaptation solves the same proximal problem (10 and 20 steps).
The ReLU MLP's support-loss Hessian has eigenvalues from about -45 to 250 at initialisation
and larger later: a larger inner_lr or lam makes the inner gradient descent diverge
(it needs inner_lr < 2 / (lam + largest eigenvalue)), e.g. lam = 50 at 0.005 does.
"""

from sine_maml import base_config


def get_config(arg=None):
  config = base_config('imaml', arg)
  config.learner = dict(name='imaml', lam=5.0, inner_lr=0.003, inner_steps=20, cg_steps=5)
  config.eval.adapt_steps = (10, 20)
  return config
