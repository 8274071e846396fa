"""The experiment runner: train a meta-learner from a config, checkpoint, evaluate, report.

A workdir holds ``config.json``, ``metrics.jsonl``, ``checkpoints/``, ``results.json``,
``results.md`` and ``learning_curve.png`` (with model selection, ``validation.jsonl`` and
``selection.json`` too). Running the same command again resumes from the last checkpoint and
continues exactly as an uninterrupted run would.
"""

import contextlib
import importlib
import inspect
import json
import math
import pathlib
import time

import jax
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
import tqdm

from metaft import evaluate as evaluate_lib
from metaft import outer
from metaft.errors import UserError

# Settings that may change between a run and its resumption without changing its numbers.
RESUMABLE_KEYS = ('train_steps', 'checkpoint_every', 'keep_every', 'log_every', 'eval',
                  'num_devices', 'prerequisites')

ROW_KEYS = ('learner', 'dataset', 'ways', 'shots', 'metric', 'mean', 'ci95', 'n_tasks',
            'adapt_steps', 'train_steps', 'train_seconds')


def resolve(kind: str, name: str):
  """A component by name: an attribute of ``metaft.<kind>`` or ``some.module:attr``."""
  module_name, _, attr = name.rpartition(':') if ':' in name else (f'metaft.{kind}', '', name)
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    raise UserError(f'cannot import {module_name!r} for {kind} {name!r}: {e}') from None
  if not hasattr(module, attr):
    known = getattr(module, '__all__', [n for n in dir(module) if not n.startswith('_')])
    raise UserError(f'unknown {kind} {name!r}; known {kind}: {", ".join(known)}.')
  return getattr(module, attr)


def call_factory(kind: str, settings, *args, **fixed):
  """Calls the factory named by ``settings.name`` with the other settings as keywords."""
  settings = dict(settings.to_dict() if hasattr(settings, 'to_dict') else settings)
  name = settings.pop('name')
  factory = resolve(kind, name)
  params = inspect.signature(factory).parameters
  takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
  unknown = [k for k in settings if k not in params and not takes_any]
  if unknown:
    accepted = [k for k in params if k not in fixed and params[k].kind == params[k].KEYWORD_ONLY]
    raise UserError(f'{kind} {name!r} does not take {", ".join(map(repr, unknown))}; '
                    f'it takes {", ".join(accepted)}.')
  settings = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
  return factory(*args, **fixed, **settings)


def validate(config) -> None:
  """Checks the settings every experiment shares; factories check their own."""
  def positive(key, value, minimum=1):
    if not isinstance(value, int) or value < minimum:
      raise UserError(f'config.{key} must be an integer >= {minimum}, got {value!r}.')
  positive('train_steps', config.train_steps, 0)
  positive('meta_batch', config.meta_batch)
  positive('log_every', config.log_every)
  positive('checkpoint_every', config.checkpoint_every)
  positive('keep_every', config.get('keep_every', 0), 0)
  positive('eval.num_tasks', config.eval.num_tasks)
  positive('eval.batch_size', config.eval.batch_size)
  positive('num_devices', config.get('num_devices', 1), 0)
  for steps in config.eval.adapt_steps:
    positive('eval.adapt_steps', steps, 0)
  if config.task_map not in outer.TASK_MAPS:
    raise UserError(f'config.task_map must be one of {outer.TASK_MAPS}, got {config.task_map!r}.')
  select = config.eval.get('select', {})
  if select.get('split'):
    unknown = set(select) - {'split', 'num_tasks', 'patience'}
    if unknown:
      raise UserError('config.eval.select takes split, num_tasks and patience; got '
                      f'{sorted(unknown)}.')
    if not config.get('keep_every'):
      raise UserError('config.eval.select chooses among the checkpoints a run keeps: set '
                      'keep_every (e.g. --config.keep_every=1000) to keep one every so many '
                      'steps.')
    if select.split == 'test':
      raise UserError("config.eval.select.split='test' would choose the checkpoint by the very "
                      'tasks it is then scored on, an optimistic score: select on a held-out '
                      "split (e.g. --config.eval.select.split=val).")
    positive('eval.select.num_tasks', select.get('num_tasks'))
    if select.get('patience') is not None:
      positive('eval.select.patience', select.patience)
  elif select.get('patience') is not None:
    raise UserError('config.eval.select.patience stops training by the validation score: '
                    'set eval.select.split too (e.g. --config.eval.select.split=val).')


def build(config):
  """Builds ``(learner, train_family, test_family, outer_optimizer)`` from a config."""
  validate(config)
  train_family = call_factory('data', config.task, split='train')
  test_family = build_test_family(config)
  model = build_model(config.model, train_family.num_outputs)
  learner = build_learner(config.learner, model, train_family.loss)
  outer_settings = {k: _schedule(v) for k, v in config.outer.to_dict().items()}
  scales = outer_settings.pop('scale', None)
  optimizer = optax_by_name('outer optimizer', outer_settings)
  if scales:
    optimizer = optax.chain(optimizer, scale_by_path(scales))
  return learner, train_family, test_family, optimizer


def build_model(settings, num_outputs: int):
  """The model named by ``settings`` with the family's ``num_outputs``, unless the settings
  give their own (``num_outputs=0``: a model without a head, e.g. a ProtoNets embedding)."""
  settings = settings.to_dict() if hasattr(settings, 'to_dict') else dict(settings)
  return call_factory('models', {'num_outputs': num_outputs, **settings})


def scale_by_path(scales: dict[str, float]) -> optax.GradientTransformation:
  """Multiplies the updates of the meta-parameters under each path prefix by its factor
  (``{'teacher': 0.01}``: the teacher learns at 1/100 of the outer learning rate); the others
  are unchanged. Chained after the outer optimizer, so it scales Adam's steps, not the
  gradients (which Adam would normalise away)."""
  from metaft.learners import masks

  def labels(params):
    def label(path):
      return next((p for p in scales if masks.under(p)(path)), 'rest')
    return jax.tree_util.tree_map_with_path(lambda p, _: label(masks.path_str(p)), params)

  transforms = {p: optax.scale(float(f)) for p, f in scales.items()}
  return optax.multi_transform({**transforms, 'rest': optax.identity()}, labels)


def build_test_family(config, protocol=None, split: str = 'test'):
  """The meta-test family (or that of another ``split``): ``config.task`` updated by
  ``config.eval.task`` and then by the evaluation protocol's ``task``."""
  settings = config.task.to_dict()
  settings.update(config.eval.get('task', {}))
  settings.update((protocol or {}).get('task', {}))
  return call_factory('data', settings, split=split)


def build_learner(settings, model, loss, protocol=None):
  """The learner named by ``settings``, updated by the evaluation protocol's ``learner``; an
  ``inner_opt`` given as ``dict(name='adam', learning_rate=...)`` becomes that optax
  optimizer (its learning rate may itself be a schedule, as for the outer optimizer), and a
  list of such dicts their ``optax.chain``, e.g. ``[dict(name='clip_by_global_norm',
  max_norm=1.0), dict(name='sgd', learning_rate=0.1)]``."""
  settings = dict(settings.to_dict() if hasattr(settings, 'to_dict') else settings)
  settings.update((protocol or {}).get('learner', {}))
  opt = settings.get('inner_opt')
  if opt is not None and not isinstance(opt, optax.GradientTransformation):
    parts = [opt] if isinstance(opt, dict) else opt
    if not (isinstance(parts, (list, tuple)) and parts
            and all(isinstance(part, dict) for part in parts)):
      raise UserError("learner.inner_opt must be dict(name='sgd', learning_rate=0.1) (any optax "
                      f'optimizer) or a list of such dicts, their optax.chain; got {opt!r}.')
    parts = [optax_by_name('inner optimizer', {k: _schedule(v) for k, v in part.items()})
             for part in parts]
    settings['inner_opt'] = parts[0] if len(parts) == 1 else optax.chain(*parts)
  return call_factory('learners', settings, model, loss)


def optax_by_name(kind: str, settings: dict):
  """``optax.<name>(**rest)`` for ``settings = dict(name=..., **rest)``."""
  if 'name' not in settings:
    raise UserError(f'the {kind} needs a name, e.g. dict(name="adam", learning_rate=1e-3); '
                    f'got {settings}.')
  return call_factory(kind, {**settings, 'name': f'optax:{settings["name"]}'})


def _schedule(value):
  """A setting ``dict(schedule='linear_schedule', **kwargs)`` as the optax schedule
  ``optax.linear_schedule(**kwargs)``; any other value as it is."""
  if not isinstance(value, dict) or 'schedule' not in value:
    return value
  settings = dict(value)
  return call_factory('schedule', {'name': f'optax:{settings.pop("schedule")}', **settings})


def primary() -> bool:
  """Whether this process writes the run's files: always, but in a multi-process run
  (``outer.initialize_distributed``) only process 0 does (checkpoints: orbax coordinates)."""
  return jax.process_index() == 0


def _check_resumable(workdir: pathlib.Path, config) -> None:
  path = workdir / 'config.json'
  now = json.loads(config.to_json())
  if path.exists():
    before = json.loads(path.read_text())
    changed = sorted(k for k in set(before) | set(now)
                     if k not in RESUMABLE_KEYS and before.get(k) != now.get(k))
    if changed:
      raise UserError(
          f'{workdir} holds a run with other settings ({", ".join(changed)} differ); '
          'resume it with its own settings, or pass another --workdir.')
  if primary():  # by a rename, so that another process never reads it half-written
    tmp = path.with_suffix('.json.tmp')
    tmp.write_text(json.dumps(now, indent=2))
    tmp.replace(path)


def _read_metrics(path: pathlib.Path, up_to: int) -> list[dict]:
  if not path.exists():
    return []
  rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
  return [r for r in rows if r['step'] <= up_to]


def _checkpoint_manager(config, workdir: pathlib.Path) -> ocp.CheckpointManager:
  """Keeps the last two checkpoints, and for good those at multiples of ``keep_every``."""
  return ocp.CheckpointManager(
      (workdir / 'checkpoints').resolve(), options=ocp.CheckpointManagerOptions(
          max_to_keep=2, keep_period=config.get('keep_every') or None,
          enable_async_checkpointing=False))


def _restore(manager: ocp.CheckpointManager, step: int, state) -> tuple[dict, float]:
  """The training state and train seconds saved at ``step``, in the structure of ``state``."""
  if jax.process_count() > 1:  # as host arrays, which the train step then replicates
    state = jax.device_get(state)
  target = {'state': state, 'train_seconds': np.zeros((), np.float64)}
  restored = manager.restore(step, args=ocp.args.StandardRestore(target))
  return restored['state'], float(restored['train_seconds'])


def train(config, workdir: pathlib.Path, *, learner=None, family=None, optimizer=None,
          progress: bool = True, stop=None) -> tuple[dict, float]:
  """Meta-trains with checkpoints and metrics; returns the final state and train seconds.

  With ``train_steps`` below the last checkpoint's step, returns the kept checkpoint at
  ``train_steps`` instead, touching neither the later checkpoints nor the metrics.

  ``stop(step, state)``, if given, is asked after each checkpoint kept at a multiple of
  ``keep_every`` (and on resuming from one) whether to end training there (early stopping,
  ``early_stop``); a run so ended stays ended when it is run again."""
  if learner is None:
    learner, family, _, optimizer = build(config)
  key = jax.random.key(config.seed)
  init_key, train_key = jax.random.split(key)
  example = family.draw(1, key=jax.random.key(0)).support.x[0]
  state = outer.init_state(learner.init(init_key, example), optimizer)

  manager = _checkpoint_manager(config, workdir)
  train_seconds = 0.0
  start = manager.latest_step() or 0
  total = config.train_steps
  if start > total:  # an earlier checkpoint, to evaluate: the run's later work stays as it is
    if total not in manager.all_steps():
      raise UserError(
          f'{workdir} holds checkpoints at steps {", ".join(map(str, manager.all_steps()))}, '
          f'none at train_steps={total}; pass one of those steps to evaluate it (a run keeps '
          'the checkpoints at multiples of --config.keep_every), or raise train_steps to '
          'go on training.')
    start = total
  if start:
    state, train_seconds = _restore(manager, start, state)
  keep_every = config.get('keep_every') or 0
  kept = lambda step: step > 0 and keep_every and step % keep_every == 0
  if start < (manager.latest_step() or 0) or (stop and kept(start) and stop(start, state)):
    manager.close()
    return state, train_seconds
  metrics_path = workdir / 'metrics.jsonl'
  writes = primary()
  if writes:
    history = _read_metrics(metrics_path, start)
    metrics_path.write_text(''.join(json.dumps(r) + '\n' for r in history))

  def save(step):
    manager.save(step, args=ocp.args.StandardSave(
        {'state': state, 'train_seconds': np.asarray(train_seconds, np.float64)}))

  fns = {}
  bar = tqdm.tqdm(total=total, initial=min(start, total), unit='step',
                  disable=not (progress and writes),
                  desc=workdir.name, mininterval=1.0, dynamic_ncols=True)
  step = start
  with metrics_path.open('a') if writes else contextlib.nullcontext() as log:
    while step < total:
      chunk = min(config.log_every, total - step)
      if chunk not in fns:
        fns[chunk] = outer.make_train_fn(
            learner, optimizer, family, meta_batch=config.meta_batch,
            num_steps=chunk, task_map=config.task_map,
            mesh=outer.task_mesh(config.get('num_devices', 1)))
      t0 = time.perf_counter()
      state, metrics = fns[chunk](state, family.data, train_key)
      metrics = {k: float(np.mean(v)) for k, v in jax.device_get(metrics).items()}
      elapsed = time.perf_counter() - t0
      train_seconds += elapsed
      if not all(math.isfinite(v) for v in metrics.values()):
        raise UserError(f'training diverged at step {step + chunk}: {metrics}. '
                        'Lower the learning rates (outer.learning_rate, learner.inner_lr).')
      step += chunk
      record = {'step': step, **metrics, 'steps_per_sec': chunk / elapsed,
                'train_seconds': train_seconds}
      if writes:
        log.write(json.dumps(record) + '\n')
        log.flush()
      bar.update(chunk)
      bar.set_postfix(loss=f'{metrics["loss"]:.4g}')
      if step // config.checkpoint_every > (step - chunk) // config.checkpoint_every:
        save(step)
        if stop and kept(step) and stop(step, state):
          break
  bar.close()
  if manager.latest_step() != step and step > 0:
    save(step)
  manager.wait_until_finished()
  manager.close()
  return state, train_seconds


def evaluate_rows(config, learner, family, params, *, train_seconds: float,
                  protocol: str | None = None, published=None, adapt_steps=None) -> list[dict]:
  """Meta-test rows, one per number of adaptation steps in ``adapt_steps`` (by default
  ``config.eval.adapt_steps``).

  ``protocol`` names the evaluation protocol (a key of ``config.eval.protocols``) the learner
  and family were built for, and ``published`` is its ``(adapt_steps, value)``; by default
  ``config.eval.published``.
  """
  key = jax.random.fold_in(jax.random.key(config.seed), 1)
  rows = []
  if published is None and protocol is None:
    published = config.eval.get('published')
  published_steps, published = published or (None, None)
  label = config.get('label', config.learner.name)
  for steps in adapt_steps or config.eval.adapt_steps:
    per_task = evaluate_lib.evaluate(
        learner, family, params, num_tasks=config.eval.num_tasks, steps=steps,
        batch_size=config.eval.batch_size, key=key)
    values = per_task[family.metric]
    nonfinite = int(np.sum(~np.isfinite(values)))
    # A task whose adaptation diverged makes the mean meaningless: say so instead.
    mean, ci95 = evaluate_lib.mean_ci95(values) if not nonfinite else (None, None)
    median = float(np.median(values)) if not nonfinite else None
    rows.append({
        'learner': f'{label} ({protocol})' if protocol else label, 'protocol': protocol,
        'dataset': family.info['dataset'], 'ways': family.info.get('ways'),
        'shots': family.info.get('shots'), 'metric': family.metric,
        'mean': mean, 'ci95': ci95, 'median': median, 'nonfinite': nonfinite,
        'n_tasks': config.eval.num_tasks,
        'adapt_steps': steps, 'train_steps': config.train_steps,
        'train_seconds': round(train_seconds, 2),
        'published': published if steps == published_steps else None,
    })
  return rows


def eval_setups(config, *, learner=None, family=None, train_family=None) -> list[dict]:
  """The evaluations to run: the default one, or one per ``config.eval.protocols``, as
  keywords of ``evaluate_rows``; built before training, so a bad protocol fails at once.

  A protocol is ``dict(task=..., learner=..., adapt_steps=..., published=...)``: overrides of
  the meta-test task family (on top of ``config.eval.task``), of the learner's settings (e.g.
  how it fine-tunes) and of ``config.eval.adapt_steps``, so one trained network can be scored
  several ways (head-only and whole-network fine-tuning; 1-shot and 5-shot tasks).
  """
  protocols = config.eval.get('protocols')
  if not protocols:
    if learner is None:
      learner, _, family, _ = build(config)
    return [dict(learner=learner, family=family)]
  if train_family is None:
    train_family = call_factory('data', config.task, split='train')
  model = build_model(config.model, train_family.num_outputs)
  setups = []
  for name, protocol in protocols.items():
    protocol = protocol.to_dict() if hasattr(protocol, 'to_dict') else dict(protocol)
    unknown = set(protocol) - {'task', 'learner', 'adapt_steps', 'published'}
    if unknown:
      raise UserError(f'config.eval.protocols.{name!r} takes task, learner, adapt_steps and '
                      f'published; got {", ".join(sorted(unknown))}.')
    setups.append(dict(
        protocol=name, learner=build_learner(config.learner, model, train_family.loss, protocol),
        family=build_test_family(config, protocol), published=protocol.get('published'),
        adapt_steps=protocol.get('adapt_steps')))
  return setups


def selection_family(config, setup: dict):
  """The tasks ``select_checkpoint`` scores on, built before training so that a missing
  split fails at once (``validate`` checks the other ``config.eval.select`` settings)."""
  protocol = config.eval.protocols[setup['protocol']] if setup.get('protocol') else None
  return build_test_family(config, protocol, split=config.eval.select.split)


def score_checkpoints(config, workdir: pathlib.Path, setup: dict, family, state,
                      steps) -> dict[int, float]:
  """The mean score of each checkpoint at ``steps`` on ``config.eval.select.num_tasks`` tasks
  of ``family`` (``selection_family``: the split ``config.eval.select.split``, e.g. ``'val'``),
  adapted as ``setup`` (the first evaluation) does, with its first number of adaptation steps;
  nan where a task diverged. Scores are kept in ``validation.jsonl`` with the settings that
  made them and reused while those settings hold, so a checkpoint scored during training
  (``early_stop``) is not scored again at selection."""
  select = config.eval.select
  adapt_steps = (setup.get('adapt_steps') or config.eval.adapt_steps)[0]
  settings = {'split': select.split, 'num_tasks': select.num_tasks, 'adapt_steps': adapt_steps,
              'protocol': setup.get('protocol'), 'task': dict(config.eval.get('task', {}))}
  settings = json.loads(json.dumps(settings))  # as read back from the file
  path = workdir / 'validation.jsonl'
  lines = path.read_text().splitlines() if path.exists() else []
  records = [json.loads(line) for line in lines if line.strip()]
  scores = {r['step']: r['score'] for r in records if r['settings'] == settings}
  todo = [s for s in steps if s not in scores]
  if todo:
    key = jax.random.fold_in(jax.random.key(config.seed), 2)
    batch_size = min(config.eval.batch_size, select.num_tasks)
    eval_fn = evaluate_lib.make_eval_fn(  # one program for every checkpoint
        setup['learner'], family, steps=adapt_steps, batch_size=batch_size)
    with _checkpoint_manager(config, workdir) as manager:
      for step in todo:
        params = _restore(manager, step, state)[0]['params']
        values = evaluate_lib.evaluate(
            setup['learner'], family, params, num_tasks=select.num_tasks, steps=adapt_steps,
            batch_size=batch_size, key=key, eval_fn=eval_fn)[family.metric]
        scores[step] = float(np.mean(values))
        if primary():
          with path.open('a') as f:
            f.write(json.dumps({'step': step, 'score': scores[step], 'metric': family.metric,
                                'settings': settings}) + '\n')
  return {s: scores[s] for s in steps}


def _best_step(scores: dict[int, float], metric: str) -> int | None:
  """The earliest step with the best finite score (highest accuracy, else lowest loss)."""
  sign = 1 if metric == 'accuracy' else -1
  finite = [s for s in sorted(scores) if math.isfinite(scores[s])]
  return max(finite, key=lambda s: sign * scores[s]) if finite else None


def early_stop(config, workdir: pathlib.Path, setup: dict, family):
  """``train``'s ``stop``: scores the checkpoints kept so far (multiples of ``keep_every``)
  and ends training once the last ``config.eval.select.patience`` of them are no better than
  the best before them."""
  patience, keep_every = config.eval.select.patience, config.keep_every

  def stop(step: int, state) -> bool:
    with _checkpoint_manager(config, workdir) as manager:
      steps = sorted(s for s in manager.all_steps() if s % keep_every == 0 and s <= step)
    scores = score_checkpoints(config, workdir, setup, family, state, steps)
    best = _best_step(scores, family.metric)
    since = sum(s > best for s in steps) if best is not None else len(steps)
    if since >= patience and primary():
      tqdm.tqdm.write(
          f'metaft: training ends at step {step}: the score on the '
          f'{config.eval.select.split!r} tasks has not improved over the last {since} kept '
          f'checkpoints (eval.select.patience={patience}).')
    return since >= patience
  return stop


def select_checkpoint(config, workdir: pathlib.Path, setup: dict, family, state
                      ) -> tuple[dict, dict]:
  """Model selection on meta-validation tasks: of the checkpoints a run keeps up to
  ``train_steps`` (those at multiples of ``keep_every`` and the last), the one that
  ``score_checkpoints`` scores best. Returns the chosen parameters and a record of every
  score."""
  with _checkpoint_manager(config, workdir) as manager:
    steps = sorted(s for s in manager.all_steps() if s <= config.train_steps)
  scores = score_checkpoints(config, workdir, setup, family, state, steps)
  best = _best_step(scores, family.metric)
  if best is None:
    raise UserError(f'no checkpoint of {workdir} up to step {config.train_steps} has a finite '
                    f'{family.metric} on the {config.eval.select.split!r} tasks: {scores}.')
  with _checkpoint_manager(config, workdir) as manager:
    params = _restore(manager, best, state)[0]['params']
  select = config.eval.select
  record = {'split': select.split, 'num_tasks': select.num_tasks, 'metric': family.metric,
            'adapt_steps': (setup.get('adapt_steps') or config.eval.adapt_steps)[0],
            'scores': scores, 'selected_step': best, 'patience': select.get('patience')}
  return params, record


def evaluate_all(config, setups, params, *, train_seconds: float) -> list[dict]:
  """The rows of every evaluation setup (see ``eval_setups``)."""
  return [row for setup in setups
          for row in evaluate_rows(config, params=params, train_seconds=train_seconds, **setup)]


def markdown_table(rows: list[dict]) -> str:
  """The results as a Markdown table: mean ± 95% confidence interval (accuracy in %), and
  the published number where the config gives one. A loss whose mean is over 10 times its
  median (a few tasks blew up) also shows the median. Rows of another kind (a fine-tuning
  job's) get one column per key."""
  if rows and 'learner' not in rows[0]:
    keys = list(rows[-1])
    text = lambda v: f'{v:.4g}' if isinstance(v, float) else str(v)
    return ('| ' + ' | '.join(keys) + ' |\n|' + '---|' * len(keys) + '\n' + ''.join(
        '| ' + ' | '.join(text(r.get(k, '-')) for k in keys) + ' |\n' for r in rows))
  def number(value, r):
    return f'{100 * value:.2f}%' if r['metric'] == 'accuracy' else f'{value:.4g}'

  def cell(r):
    if r['mean'] is None:
      return f"diverged on {r['nonfinite']} of {r['n_tasks']} tasks"
    if r['metric'] == 'accuracy':
      return f"{100 * r['mean']:.2f} ± {100 * r['ci95']:.2f}%"
    median = r.get('median')
    outliers = median is not None and r['mean'] > 10 * abs(median)
    return f"{r['mean']:.4g} ± {r['ci95']:.2g}" + (f' (median {median:.4g})' if outliers else '')

  head = ('| learner | dataset | ways | shots | adapt steps | metric | mean ± 95% CI | published '
          '| tasks | train steps | train s |\n|---|---|---|---|---|---|---|---|---|---|---|\n')
  body = ''.join(
      f"| {r['learner']} | {r['dataset']} | {r['ways'] or '-'} | {r['shots']} "
      f"| {r['adapt_steps']} | {r['metric']} | {cell(r)} "
      f"| {number(r['published'], r) if r.get('published') is not None else '-'} "
      f"| {r['n_tasks']} | {r['train_steps']} | {r['train_seconds']:.0f} |\n" for r in rows)
  return head + body


def plot_curves(curves: dict[str, list[dict]], path: pathlib.Path,
                selection: dict | None = None) -> None:
  """Training loss against meta-step, one line per run, log scale; with a ``selection``
  record (``select_checkpoint``), its checkpoints' validation scores on a second axis."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6.4, 4.2))
  for label, history in curves.items():
    if history:
      ax.plot([r['step'] for r in history], [r['loss'] for r in history], label=label)
  ax.set_xlabel('meta-step')
  ax.set_ylabel('meta-training loss')
  ax.set_yscale('log')
  ax.grid(alpha=0.3)
  if len(curves) > 1:
    ax.legend(fontsize='small')
  if selection:
    scores = {int(k): v for k, v in selection['scores'].items()}
    val = ax.twinx()
    val.plot(sorted(scores), [scores[k] for k in sorted(scores)], 'o-', color='tab:red')
    val.axvline(selection['selected_step'], color='tab:red', ls=':', lw=1)
    val.set_ylabel(f"{selection['metric']} on {selection['num_tasks']} "
                   f"{selection['split']} tasks", color='tab:red')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def write_results(workdir: pathlib.Path, rows: list[dict], curves: dict,
                  selection: dict | None = None) -> None:
  (workdir / 'results.json').write_text(json.dumps(rows, indent=2))
  (workdir / 'results.md').write_text(markdown_table(rows))
  plot_curves(curves, workdir / 'learning_curve.png', selection)
  if selection:
    (workdir / 'selection.json').write_text(json.dumps(selection, indent=2))


def _expand_workdir(config, workdir: pathlib.Path):
  """``config`` with ``'{workdir}'`` in its strings (keys too) replaced by ``workdir``."""
  def expand(value):
    if isinstance(value, dict):
      return {expand(k): expand(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
      return type(value)(expand(v) for v in value)
    return value.replace('{workdir}', str(workdir)) if isinstance(value, str) else value
  return ml_collections.ConfigDict(expand(config.to_dict()))


def run_prerequisites(config, *, progress: bool = True) -> None:
  """Runs each experiment of ``config.prerequisites = {workdir: spec}`` whose workdir has no
  results yet (resuming it if it was interrupted): e.g. the pretrained teacher that a
  distillation experiment loads."""
  for path, spec in config.get('prerequisites', {}).items():
    if not (pathlib.Path(path) / 'results.json').exists():
      print(f'metaft: {path} has no results: running its prerequisite {spec} first.')
      run(spec, path, progress=progress)


def run_single(config, workdir: pathlib.Path, *, progress: bool = True) -> list[dict]:
  """Trains, evaluates and writes the results of one experiment config."""
  workdir.mkdir(parents=True, exist_ok=True)
  config = _expand_workdir(config, workdir)
  run_prerequisites(config, progress=progress)
  learner, train_family, test_family, optimizer = build(config)
  setups = eval_setups(config, learner=learner, family=test_family, train_family=train_family)
  select = config.eval.get('select', {}).get('split')
  val_family = selection_family(config, setups[0]) if select else None
  _check_resumable(workdir, config)
  if primary():
    (workdir / 'model.json').write_text(json.dumps(
        {'model': config.model.to_dict(), 'num_outputs': train_family.num_outputs}, indent=2))
  with _checkpoint_manager(config, workdir) as manager:
    latest = manager.latest_step() or 0
  # An earlier checkpoint's results go beside the run's own, under step_<train_steps>/.
  out = workdir / f'step_{config.train_steps}' if latest > config.train_steps else workdir
  stop = None
  if select and config.eval.select.get('patience'):
    stop = early_stop(config, workdir, setups[0], val_family)
  state, seconds = train(config, workdir, learner=learner, family=train_family,
                         optimizer=optimizer, progress=progress, stop=stop)
  params, selection = state['params'], None
  trained = int(jax.device_get(state['step']))
  if select:
    params, selection = select_checkpoint(config, workdir, setups[0], val_family, state)
  if jax.process_count() > 1:  # replicated over every process: each scores its own copy
    params = jax.device_get(params)
  rows = evaluate_all(config, setups, params, train_seconds=seconds)
  for row in rows:
    row['train_steps'] = trained  # below config.train_steps where training stopped early
    if selection:
      row['learner'] += f" @ step {selection['selected_step']} by {selection['split']}"
      row['selected_step'] = selection['selected_step']
  if primary():
    out.mkdir(exist_ok=True)
    curve = _read_metrics(workdir / 'metrics.jsonl', config.train_steps)
    write_results(out, rows, {workdir.name: curve}, selection)
  return rows


def run(spec: str, workdir: str | None = None, overrides: dict[str, str] | None = None,
        *, progress: bool = True) -> list[dict]:
  """Runs experiment ``spec`` (``NAME`` or ``NAME:ARG``), or each run of a suite.

  A suite is a config whose ``runs`` lists experiment specs; overrides apply to each run,
  which gets its own sub-workdir, and the suite's workdir gets the combined results.
  """
  from metaft import config as config_lib
  name, config = config_lib.load_config(spec)
  overrides = overrides or {}
  root = pathlib.Path(workdir or pathlib.Path('runs') / spec.replace(':', '_').replace(',', '_'))
  if 'runs' in config:
    rows, curves, configs = [], {}, {}
    for sub in config.runs:  # every run's config first: a bad override fails before training
      configs[sub] = config_lib.apply_overrides(config_lib.load_config(sub)[1], overrides)
      validate(configs[sub])
    for sub, sub_config in configs.items():
      sub_dir = root / sub.replace(':', '_').replace(',', '_')
      rows += run_single(sub_config, sub_dir, progress=progress)
      curves[sub] = _read_metrics(sub_dir / 'metrics.jsonl', 1 << 62)
    if primary():
      write_results(root, rows, curves)
    return rows
  config_lib.apply_overrides(config, overrides)
  if config.get('job') == 'finetune':
    if jax.process_count() > 1:
      raise UserError('a fine-tuning job runs in one process: run it without --distributed.')
    from metaft import finetune
    return finetune.run(config, root, progress=progress)
  return run_single(config, root, progress=progress)
