"""Reptile on Omniglot (Nichol, Achiam & Schulman 2018, table 1, transductive).

Command:   metaft run reptile_omniglot          (5-way; `:20w` for 20-way; `:smoke` for
           seconds; `:fresh` for the ablation whose inner Adam starts afresh for every task)
Cost:      5-way: 100,000 meta-steps in about 49 minutes of training on 2 CPU cores (35
           steps/s); one run serves 1-shot and 5-shot, as in the paper (its commands for the
           two differ only in the evaluation). 20-way: 200,000 meta-steps, each 3.85x the
           5-way one (benchmarks/learner_cost.py), 11-13 hours here; a budget of 20,000
           (`--config.train_steps=20000`, the schedule compressed to it) took 5,677 s.
Expected:  5w1s 97.68%, 5w5s 99.48% (published, transductive); ours 98.34% and 99.80%. With
           a fresh inner Adam per task (`:fresh`) 79.92% and 92.08% (benchmarks/RESULTS.md).
           20w1s 89.43%, 20w5s 97.12% (published); ours on the 20,000-step budget 83.46%
           and 95.44%.

Protocol (the authors' code, github.com/openai/supervised-reptile, README commands o15t and
o55t; for 20-way o120 and o520, transductive as table 1): Vinyals split, 28x28, their Omniglot
Conv-4 (stride-2 convolutions, batch norm, 64 filters; ours reads the head from the spatial
mean of the last block). Each meta-step: 5 tasks of N classes x 10 examples ("train shots"); on
each, Adam (b1 = 0) for 5 steps at 1e-3 on minibatches of 10 (5-way) or 10 steps at 5e-4 on
minibatches of 20 (20-way); the outer SGD step size is annealed linearly from 1.0 to 0 over
100,000 (5-way) or 200,000 (20-way) meta-steps. Adam's state is carried across tasks and
meta-steps and into the test tasks, as the authors' code does (it resets only the network's
variables): ``carry_inner_state``. Meta-test (transductive): 50 inner steps on the support set,
minibatches of 5 (5w1s: all of it) or 10 (the others), then one query example per class,
classified in one batch (batch norm with that batch's statistics); 1000 tasks, 95% intervals.

The paper's minibatches go once through each task's examples without replacement; ours are
drawn afresh for every step (without replacement within a step).
"""

from maml_omniglot import omniglot_config, parse_arg, shrink_for_smoke

PUBLISHED = {'5w1s': 0.9768, '5w5s': 0.9948, '20w1s': 0.8943, '20w5s': 0.9712}


def get_config(arg=None):
  variant, smoke = parse_arg(arg, ('fresh', '20w'))
  fresh, ways = variant == 'fresh', 20 if variant == '20w' else 5
  # Support and query together are the task's 10 "train shots" per class.
  c = omniglot_config('reptile (fresh inner Adam)' if fresh else 'reptile',
                      ways=ways, shots=5, query=5)
  c.learner = dict(name='reptile', inner_lr=1e-3 if ways == 5 else 5e-4,
                   inner_steps=5 if ways == 5 else 10, inner_batch=10 if ways == 5 else 20,
                   transductive=True, carry_inner_state=not fresh)
  c.train_steps = 100_000 if ways == 5 else 200_000
  c.outer = dict(name='sgd', learning_rate=dict(
      schedule='linear_schedule', init_value=1.0, end_value=0.0,
      transition_steps=c.get_ref('train_steps')))
  c.meta_batch = 5
  c.checkpoint_every = 2000
  c.eval.update(dict(adapt_steps=(50,), task=dict(query=1), protocols={}))
  for shots in (1, 5):
    name = f'{ways}w{shots}s'
    c.eval.protocols[name] = dict(task=dict(shots=shots),
                                  learner=dict(inner_batch=5 if name == '5w1s' else 10),
                                  adapt_steps=(50,), published=(50, PUBLISHED[name]))
  if smoke:
    shrink_for_smoke(c)
    for protocol in c.eval.protocols.values():
      protocol.adapt_steps = (5,)
      protocol.published = (5, protocol.published[1])
  return c
