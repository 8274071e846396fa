"""iMAML on Omniglot (Rajeswaran, Finn, Kakade & Levine 2019, table 2, "iMAML, GD").

Command:   metaft run imaml_omniglot:5w1s   (also 5w5s, 20w1s, 20w5s; `:smoke` for seconds)
Cost:      each meta-step runs 16 (5-way) or 25 (20-way) inner steps and 5 conjugate-gradient
           steps of Hessian-vector products per task: alone on 2 CPU cores, 0.85-2.3
           meta-steps/s at 5w1s (2.4-6.5 hours for 20,000) and 0.25-0.58 at 5w5s (9.5-22
           hours), depending on the machine; 16x MAML's meta-step at 20w1s
           (benchmarks/learner_cost.py; RESULTS, "What each Omniglot cell costs").
Expected:  5w1s 99.16%, 5w5s 99.67%, 20w1s 94.46%, 20w5s 98.69% (published); ours 5w1s
           96.38% (20,000 meta-steps, 18,847 s; 95.58% with Adam's eps 1e-3); 5w5s 97.31% on a
           budget of 3,800 meta-steps (12,874 s); 20-way not trained yet.

As maml_omniglot (the paper uses the same network and compares with MAML's numbers), with the
paper's iMAML settings (lambda = 2.0; 16 (5-way) or 25 (20-way) inner gradient steps; 5
conjugate-gradient steps; Adam 1e-3 outside, meta-batch 32 (5-way) or 16 (20-way)) as the
authors' code runs them (github.com/aravindr93/imaml_dev): inner SGD at 0.1 (their command in
examples/README.md, which also gives the budget we use: "meta_steps (at least) 20000"); the
inner steps on the support loss alone, then one step on the proximal term (`pull_back`); the CG
system ((1 + 1) I + H / (lambda + 10)) v = g (`cg_lam` = 24, whose solution is twice theirs);
their Adam's eps 1e-3, doubled to 2e-3 to match, so that the outer step is theirs (eps 1e-3
scored 95.58% at 5w1s: see benchmarks/RESULTS.md).
The paper's text instead runs the inner steps on the proximal problem and solves (I + H /
lambda) v = g: `--config.learner.pull_back=False --config.learner.cg_lam=2.0`. After 500
meta-steps (200 test tasks; Adam's eps 1e-8) that scored 67.1% (plain test) against 86.1% for
the authors' code: see benchmarks/RESULTS.md. Meta-test two ways: 'training', the training
inner loop; 'plain', the same steps without the proximal term (lam=0), as the authors'
measure_accuracy.py does: the published number is that protocol's. Their test draws its 423
characters with another seed than their meta-training split, so 74% of them are meta-training
characters; benchmarks/omniglot_overlap.py measures no gain from it at 5w1s (95.60% against
95.58%, with eps 1e-3). The authors' own training loop, run beside ours for 500 meta-steps
with their network, trains no faster (loss 0.67-0.72 against our 0.62; RESULTS, "The authors'
own loop").
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
                        inner_steps=config.learner.inner_steps, cg_steps=5,
                        pull_back=True, cg_lam=2 * (2.0 + 10))  # the authors' code
  config.outer.eps = 2e-3  # the authors' Adam (1e-3) on a meta-gradient twice theirs
  # Ours, settable: their network is readout='flatten', padding='torch', bn_epsilon=1e-5,
  # init_gain=1.73 (RESULTS gives 500-step pilots of it).
  config.model.update(padding='same', bn_epsilon=1e-3, init_gain=1.0)
  steps = config.learner.inner_steps
  config.eval.adapt_steps = (steps,)
  config.eval.protocols = {  # the paper's number goes with the authors' test
      'training': dict(adapt_steps=(steps,)),
      'plain': dict(learner=dict(lam=0.0), adapt_steps=(steps,), published=config.eval.published)}
  return config
