"""iMAML on Omniglot (Rajeswaran, Finn, Kakade & Levine 2019, table 2, "iMAML, GD").

Command:   metaft run imaml_omniglot:5w1s   (also 5w5s, 20w1s, 20w5s; `:smoke` for seconds)
Cost:      not yet trained here; each meta-step runs 16 (5-way) or 25 (20-way) inner steps
           and 5 conjugate-gradient steps of Hessian-vector products per task: 7.5x MAML's
           meta-step at 5w1s (1.3 meta-steps/s, about 4.4 hours for 20,000 on 2 CPU cores)
           and 16x at 20w1s, about 9 hours (benchmarks/learner_cost.py).
Expected:  5w1s 99.16%, 5w5s 99.67%, 20w1s 94.46%, 20w5s 98.69% (published).

As maml_omniglot (the paper uses the same network and compares with MAML's numbers), with the
paper's iMAML settings: the inner problem, the support loss plus lambda/2 ||phi - theta||^2
with lambda = 2.0, solved by 16 (5-way) or 25 (20-way) steps of gradient descent, and the
implicit meta-gradient from 5 conjugate-gradient steps; Adam 1e-3 outside, meta-batch 32
(5-way) or 16 (20-way). The inner step size is not in the paper's text: ours is 0.1, as in
the authors' command (github.com/aravindr93/imaml_dev, examples/README.md), whose README also
gives the budget we use: "meta_steps (at least) 20000". Meta-test two ways: 'proximal', the
training inner loop; 'plain', the same steps without the proximal term (lam=0), as the
authors' measure_accuracy.py does: the published number is that protocol's.
"""

from maml_omniglot import VARIANTS, base_config

PUBLISHED = {'5w1s': 0.9916, '5w5s': 0.9967, '20w1s': 0.9446, '20w5s': 0.9869}
INNER_STEPS = {5: 16, 20: 25}


def get_config(arg=None):
  variants = {}
  for name, (ways, shots, meta_batch, *_) in VARIANTS.items():
    steps = INNER_STEPS[ways]
    variants[name] = (ways, shots, meta_batch, 0.1, steps, steps, PUBLISHED[name])
  config = base_config('imaml', arg, variants, train_steps=20_000)
  config.learner = dict(name='imaml', lam=2.0, inner_lr=0.1,
                        inner_steps=config.learner.inner_steps, cg_steps=5)
  steps = config.learner.inner_steps
  config.eval.adapt_steps = (steps,)
  config.eval.protocols = {  # the paper's number goes with the authors' test
      'proximal': dict(adapt_steps=(steps,)),
      'plain': dict(learner=dict(lam=0.0), adapt_steps=(steps,), published=config.eval.published)}
  return config
