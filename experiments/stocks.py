"""Few-shot volatility forecasting on S&P 500 stocks: MAML and its variants, pretraining.

`metaft.data.stocks`: a task is one ticker over 35 consecutive trading days.

Command:   metaft run stocks               (MAML, first-order MAML, ANIL, Meta-SGD and
                                            pretraining; `stocks:maml` etc. for one)
Smoke:     metaft run stocks:smoke         (seconds; `stocks:maml,smoke` for one learner)
Cost:      five runs of 20,000 meta-steps; about 5 minutes on 2 CPU cores in all.
Expected:  query MSE about 1.69 (MAML, ANIL, Meta-SGD), 1.70 (pretraining) against 1.76
           for the ticker's recent level; `python benchmarks/stocks_table.py
           runs/stocks/stocks_*` pairs the runs with forecasts without a network
           (benchmarks/RESULTS.md, "Few-shot forecasting").

Protocol: from the 10 past days' absolute log returns (percent), forecast the next day's;
support 20 consecutive days, query the 5 days after them. Meta-training on 376 tickers over
2013-02..2017-02, meta-test on the other 94 over the last year (2017-02..2018-02). MLP
10-40-40-1 with ReLU; 5 inner SGD steps at 0.001 (ANIL: the last layer only; Meta-SGD: a
learned rate per parameter entry, from 0.001; at 0.01 MAML diverges within 1,000 meta-steps:
a day's move can exceed 10%); meta-batch 25; Adam 1e-3.
Evaluated on 1000 test tasks after 5 and 20 test steps of the same SGD, by the query MSE in
percent squared.
`--config.task.target=return` forecasts the signed return instead. ANIL's fixed inner step can
diverge on a rare task with extreme days (trained without the last 120 meta-training days it
did, RESULTS); `--config.learner.inner_opt="[{'name': 'clip_by_global_norm', 'max_norm':
10.0}, {'name': 'sgd', 'learning_rate': 0.001}]"` clips its inner gradient, which cured it.
"""

import ml_collections

LEARNERS = ('maml', 'fomaml', 'anil', 'metasgd', 'pretrain')
# Meta-SGD's rates start at the others' inner rate and take 1/1000 of the weights' Adam step:
# at the full step (1e-3 on a 1e-3 rate) it diverged within 1,000 meta-steps, at 1/100 at
# step 17,000, its output bias's rate grown 30-fold.
METASGD_RATE_SCALE = 0.001


def get_config(arg=None):
  args = set(filter(None, (arg or '').split(',')))
  unknown = args - set(LEARNERS) - {'smoke'}
  learners = args & set(LEARNERS)
  if unknown or len(learners) > 1:
    raise ValueError(f'unknown variant {arg}; variants: one of {", ".join(LEARNERS)}, '
                     'and/or smoke')
  smoke = 'smoke' in args
  if not learners:  # the comparison: one run per learner
    config = ml_collections.ConfigDict()
    config.runs = tuple(f'stocks:{name}{",smoke" if smoke else ""}' for name in LEARNERS)
    return config
  (learner,) = learners
  c = ml_collections.ConfigDict()
  c.label = learner
  c.seed = 0
  c.task = dict(name='stocks', lags=10, shots=20, query=5, target='volatility')
  c.model = dict(name='mlp', hidden=(40, 40))
  c.learner = dict(name=learner, inner_lr=0.001, inner_steps=5)
  c.outer = dict(name='adam', learning_rate=1e-3)
  if learner == 'metasgd':
    c.learner.init_lr = c.learner.inner_lr
    del c.learner['inner_lr']
    c.outer.scale = {'lrs': METASGD_RATE_SCALE}
  c.meta_batch = 25
  c.train_steps = 20_000
  c.task_map = 'vmap'
  c.num_devices = 1
  c.log_every = 1000
  c.checkpoint_every = 5000
  c.keep_every = 0
  # Model selection and early stopping on validation tickers (README, "Model selection"):
  # --config.task.val_tickers=40 --config.keep_every=1000 --config.eval.select.split=val
  # (or on the last meta-training days, --config.task.val_days=120, or both).
  c.eval = dict(num_tasks=1000, adapt_steps=(5, 20), batch_size=500,
                select=dict(split=None, num_tasks=500, patience=None))
  if smoke:
    c.train_steps = 200
    c.log_every = 50
    c.checkpoint_every = 100
    c.eval.num_tasks = 100
    c.eval.batch_size = 100
  return c
