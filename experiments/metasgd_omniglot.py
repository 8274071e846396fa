"""Meta-SGD on Omniglot (Li, Zhou, Chen & Li 2017, table 2): per-parameter inner rates.

Command:   metaft run metasgd_omniglot:5w1s   (also 5w5s; `:smoke` for seconds)
Cost:      about MAML's per meta-step (second order, one inner step): 40,000 meta-steps of
           5w1s took 41 minutes of training on 2 CPU cores; 5w5s has 5x the images (about
           3.1 meta-steps/s alone, about 3.6 hours for 40,000).
Expected:  5w1s 99.53%, 5w5s 99.93% (published); ours 5w1s 99.12% (40,000 meta-steps in 41
           minutes, 17 meta-steps/s); 5w5s 99.57% (40,000 meta-steps, 14,675 s over two
           sessions, about 3.1 meta-steps/s alone).

As maml_omniglot (the paper's network and 5-way settings are MAML's: meta-batch 32, Adam 1e-3,
K query examples per class), with one inner step whose rate per parameter entry starts in
U[0.005, 0.1] and is meta-learned beside the initialisation. Meta-test: one step with the
learned rates (the paper adapts in one step), 1000 tasks, 95% intervals.
"""

from maml_omniglot import VARIANTS, base_config

PUBLISHED = {'5w1s': 0.9953, '5w5s': 0.9993}


def get_config(arg=None):
  # ways, shots, meta-batch, inner lr (unused: the rates are learned), steps, test steps
  variants = {k: VARIANTS[k][:4] + (1, 1, p) for k, p in PUBLISHED.items()}
  config = base_config('metasgd', arg, variants)
  config.learner = dict(name='metasgd', inner_steps=1)
  config.eval.adapt_steps = (1,)  # the rates are learned for one step
  return config
