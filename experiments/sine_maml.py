"""MAML on sine-wave regression (Finn et al. 2017, section 5.1).

Command:   metaft run sine_maml            (K = 10; `sine_maml:k5` for K = 5)
Smoke:     metaft run sine_maml:smoke      (seconds)
Cost:      70,000 meta-steps, about 20 s of training on 2 CPU cores (plus ~10 s compile/eval).
Expected:  MSE after 1 test step about 0.3 (K=10) and about 0.6 (K=5); see benchmarks/RESULTS.md.

Protocol: amplitude U[0.1, 5], phase U[0, pi], x U[-5, 5]; MLP 1-40-40-1 with ReLU; one inner
SGD step at 0.01; meta-batch 25; Adam 1e-3. Evaluated on 600 tasks with 1 and 10 test steps of
the same SGD, scored on 100 query points per task (the expected MSE does not depend on the
number of query points; more points only lower each task's noise).
"""

import ml_collections


def base_config(learner: str, arg: str | None) -> ml_collections.ConfigDict:
  """The sine-regression config shared by the sine experiments; ``arg`` like ``k5,smoke``."""
  args = set(filter(None, (arg or '').split(',')))
  unknown = args - {'k5', 'k10', 'smoke'}
  if unknown:
    raise ValueError(f'unknown variant {",".join(sorted(unknown))}; variants: k5, k10, smoke')
  shots = 5 if 'k5' in args else 10
  c = ml_collections.ConfigDict()
  c.label = learner
  c.seed = 0
  c.task = dict(name='sine', shots=shots, query=shots)
  c.model = dict(name='mlp', hidden=(40, 40))
  c.learner = dict(name='maml', inner_lr=0.01, inner_steps=1)
  c.outer = dict(name='adam', learning_rate=1e-3)
  c.meta_batch = 25
  c.train_steps = 70_000
  c.task_map = 'vmap'
  c.num_devices = 1  # 0: split each meta-batch over all visible devices
  c.log_every = 1000
  c.checkpoint_every = 10_000
  c.keep_every = 0  # also keep the checkpoints at its multiples (0: only the last two)
  c.eval = dict(num_tasks=600, adapt_steps=(1, 10), batch_size=200, task=dict(query=100))
  if 'smoke' in args:
    c.train_steps = 200
    c.log_every = 50
    c.checkpoint_every = 100
    c.eval.num_tasks = 50
    c.eval.batch_size = 50
  return c


def get_config(arg=None):
  return base_config('maml', arg)
