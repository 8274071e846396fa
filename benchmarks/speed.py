"""Conv-4 MAML meta-training speed on the CPU, against learn2learn.

Meta-steps/s, GFLOP/s against the machine's float32 matmul peak, compile time and peak
memory, for ours and for learn2learn, once a parity check has shown that the two compute
the same function.

Rows: 5-way 1-shot Omniglot tasks (28x28x1), 15 queries per class, meta-batch 32, inner SGD
at 0.4, Adam 1e-3 outside.

  strided2     strided Conv-4 (the Omniglot model), second order, 1 inner step
  strided1     strided Conv-4, first order, 1 inner step
  strided2x5   strided Conv-4, second order, 5 inner steps
  pool2        max-pool Conv-4 (stride-1 convolutions, 2x2 max-pooling), second order, 1 step
  train        strided2 with 1 query per class, maml_omniglot:5w1s's training tasks (only
               when asked for with --rows)

Ours: ``outer.make_train_fn`` with ``task_map='map'`` (tasks one after another, faster for
convolutions on the CPU), ``learners.maml``, ``models.conv4`` (its CPU default convolution
unless ``--conv-impl``), one meta-step per call, tasks sampled inside ``jit`` from Omniglot.
Peer: learn2learn 0.2.0's MAML example loop on ``OmniglotCNN`` / ``CNN4(max_pool=True)``,
``benchmarks/l2l_maml.py`` in the environment that ``benchmarks/setup_learn2learn.sh`` builds,
on one fixed meta-batch of the same tasks (its task sampling is not timed).

Each row, ours and the peer's, runs in its own process, so "RSS MB" is that row's peak
resident memory (``VmHWM``: the runtime, the data and, for ours, compilation included).
Meta-steps/s is 1 / the median time of ``--iters`` meta-steps after ``--warmup``.

GFLOP per meta-step is XLA's cost analysis of one task's meta-gradient, written with the
all-matmul ``'im2col'`` convolution (every multiply-add counted, whatever ``--conv-impl``)
and the inner loop unrolled (XLA counts a ``while`` body once, ``conv_formulations.py``),
times the meta-batch; the peer does the same arithmetic, so the same count serves both.
"% peak" divides GFLOP/s by the best of two timings of a 4096^3 float32 ``jnp.dot`` in this
run (before and after the rows), the machine's usable matmul limit. Goal: 70% (``GOAL``) on
every row; a row below it gets "where the time goes": the shares of XLA's op time in one profiled
meta-step (matmuls, with the GFLOP/s they reach if all FLOPs were theirs; data movement:
copies, pads, slices, concatenations, transposes; elementwise; reductions; other).

Parity comes first when the peer runs: learn2learn's initial weights and a few tasks go
through both, ours with learn2learn's conventions (``conv4(padding='torch',
bn_epsilon=1e-5)``: PyTorch's symmetric padding and epsilon; the timed model keeps
``'same'`` and 1e-3, the same cost). Both compute the mean query loss and meta-gradient in
float64, which must agree to ``--parity-tol`` (relative; per gradient leaf, the largest
difference over the largest entry; the conv biases' gradients, zero but for rounding, over
the largest entry of the whole gradient), and in float32, reported with each side's
distance from its own float64 result: float32 rounding is amplified differently by the two
(max-pooling's near-ties move both meta-gradients by about 2e-3; through 5 inner steps
learn2learn's moves by about 1e-2, ours by 3e-5, on the parity tasks of 2026-11-30). A row
that fails parity gets no speed ratio.

Command (several minutes on 2 cores; the peer's max-pool row is the slowest)::

  python benchmarks/speed.py                    # all default rows, parity, table, JSON
  python benchmarks/speed.py --quick            # 3 timed steps per row
  python benchmarks/speed.py --parity           # the parity check only
  python benchmarks/speed.py --no-peer --rows strided2,pool2

Prints a Markdown table and writes ``benchmarks/results/speed.json`` (``--json``).
"""

import argparse
import collections
import contextlib
import functools
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import conv_formulations  # benchmarks/ is on sys.path when this file runs as a script
from metaft import core, data, losses, outer
from metaft.errors import UserError
from metaft.learners.maml import maml
from metaft.models.conv import conv4
from peak_memory import peak_rss_mb

HERE = Path(__file__).resolve().parent
PEER_PYTHON = HERE / '.envs' / 'l2l' / 'bin' / 'python'
PEER_SCRIPT = HERE / 'l2l_maml.py'
WAYS, SHOTS, SIZE = 5, 1, 28
INNER_LR, META_LR = 0.4, 1e-3  # as l2l_maml.py
PEER_BN_EPSILON = 1e-5  # PyTorch's BatchNorm2d default, learn2learn's
GOAL = 70  # % of the matmul peak
PEAK_N = 4096


class Row(NamedTuple):
  label: str
  pool: bool
  first_order: bool
  steps: int
  queries: int = 15


ROWS = {
    'strided2': Row('strided, 2nd order, 1 step', False, False, 1),
    'strided1': Row('strided, 1st order, 1 step', False, True, 1),
    'strided2x5': Row('strided, 2nd order, 5 steps', False, False, 5),
    'pool2': Row('max-pool, 2nd order, 1 step', True, False, 1),
    'train': Row('strided, 2nd order, 1 step, 1 query (5w1s training)', False, False, 1, 1),
}
DEFAULT_ROWS = 'strided2,strided1,strided2x5,pool2'


def make_learner(row: Row, *, conv_impl: str = 'auto', peer_conventions: bool = False):
  """Our MAML on Conv-4 for ``row``; with ``peer_conventions``, learn2learn's padding and
  epsilon (the function its models compute)."""
  settings = dict(padding='torch', bn_epsilon=PEER_BN_EPSILON) if peer_conventions else {}
  model = conv4(num_outputs=WAYS, pool=row.pool, readout='flatten' if row.pool else 'mean',
                conv_impl=conv_impl, **settings)
  return maml(model, losses.cross_entropy, inner_lr=INNER_LR, inner_steps=row.steps,
              first_order=row.first_order)


def random_family(queries: int) -> core.TaskFamily:
  """Omniglot-shaped tasks of uniform noise, when the Omniglot data are missing."""
  def split(key, n, tasks):
    return core.Split(jax.random.uniform(key, (tasks, n, SIZE, SIZE, 1)),
                      jnp.tile(jnp.arange(n, dtype=jnp.int32) % WAYS, (tasks, 1)))

  def sample(unused_data, num_tasks, *, key):
    k_s, k_q = jax.random.split(key)
    return core.Task(split(k_s, WAYS * SHOTS, num_tasks), split(k_q, WAYS * queries, num_tasks))

  return core.TaskFamily(sample, losses.cross_entropy, losses.classification_metrics,
                         'accuracy', WAYS, {'dataset': 'random'}, jnp.zeros(()))


def task_family(queries: int, source: str) -> core.TaskFamily:
  if source == 'omniglot':
    try:
      return data.omniglot(ways=WAYS, shots=SHOTS, query=queries)
    except UserError as e:
      print(f'{e}\nTiming on random tasks instead (the speed does not depend on the pixels).',
            file=sys.stderr)
  return random_family(queries)


# --- FLOPs and where the time goes -----------------------------------------------------------


@contextlib.contextmanager
def unrolled_scans():
  """Traces every ``jax.lax.scan`` (the inner loop's) fully unrolled, for cost analysis."""
  scan = jax.lax.scan
  jax.lax.scan = functools.partial(scan, unroll=True)
  try:
    yield
  finally:
    jax.lax.scan = scan


def step_gflop(row: Row, meta_batch: int) -> float:
  """XLA's FLOP count of one meta-step: one task's meta-gradient (all-matmul convolution,
  inner loop unrolled) times the meta-batch."""
  learner = make_learner(row, conv_impl='im2col')
  def split(n):
    return core.Split(jax.ShapeDtypeStruct((n, SIZE, SIZE, 1), jnp.float32),
                      jax.ShapeDtypeStruct((n,), jnp.int32))
  task = core.Task(split(WAYS * SHOTS), split(WAYS * row.queries))
  params = jax.eval_shape(learner.init, jax.random.key(0), task.support.x)
  grad = jax.value_and_grad(lambda p, t: learner.meta_loss(p, t)[0])
  with unrolled_scans():
    compiled = jax.jit(grad).lower(params, task).compile()
  return conv_formulations.flops(compiled) * meta_batch / 1e9


MOVEMENT = {'copy', 'transpose', 'pad', 'slice', 'concatenate', 'dynamic-slice',
            'dynamic-update-slice', 'gather', 'scatter', 'broadcast', 'reshape', 'reverse',
            'iota', 'bitcast', 'bitcast-convert', 'parameter', 'constant', 'tuple',
            'get-tuple-element'}
CONTROL = {'while', 'call', 'conditional', 'async-start', 'async-done'}
_COMPUTATION = re.compile(r'^(?:ENTRY )?%?([\w.\-]+) \(.*\{$')
_INSTRUCTION = re.compile(r'^\s+(?:ROOT )?%?([\w.\-]+) = (.*)$')
_OPCODE = re.compile(r' ([a-z][a-z0-9\-]*)\(')
_CALLS = re.compile(r'calls=%?([\w.\-]+)')


def hlo_categories(hlo_text: str) -> dict[str, str]:
  """Instruction name -> 'matmul', 'conv', 'reduce', 'data movement', 'elementwise', 'other'
  or 'control', from a compiled module's text (a fusion by the ops it fuses)."""
  comp_ops, instructions, current = collections.defaultdict(set), {}, None
  for line in hlo_text.splitlines():
    if (m := _COMPUTATION.match(line)):
      current = m[1]
    elif (m := _INSTRUCTION.match(line)) and (op := _OPCODE.search(' ' + m[2])):
      calls = _CALLS.search(m[2])
      instructions[m[1]] = (op[1], calls[1] if calls else None, 'matmul' in m[2].lower())
      comp_ops[current].add((op[1], calls[1] if calls else None))

  @functools.cache
  def fused_ops(comp):
    ops = set()
    for op, called in comp_ops.get(comp, ()):
      ops |= fused_ops(called) if op == 'fusion' and called else {op}
    return frozenset(ops)

  def category(op, called, says_matmul):
    ops = fused_ops(called) if op == 'fusion' and called else {op}
    if 'dot' in ops or (op == 'custom-call' and says_matmul):
      return 'matmul'
    if 'convolution' in ops:
      return 'conv'
    if ops & {'reduce', 'reduce-window', 'select-and-scatter'}:
      return 'reduce'
    if op in CONTROL:
      return 'control'
    if ops <= MOVEMENT:
      return 'data movement'
    return 'other' if ops & {'custom-call', 'rng-bit-generator', 'sort'} else 'elementwise'

  return {name: category(*info) for name, info in instructions.items()}


def time_breakdown(run_once, hlo_text: str, gflop: float) -> dict:
  """Shares of op time (self time, nested thunks subtracted) by category in one traced call."""
  categories = hlo_categories(hlo_text)
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir)
    t0 = time.perf_counter()
    run_once()
    wall = time.perf_counter() - t0
    jax.profiler.stop_trace()
    (path,) = glob.glob(f'{trace_dir}/**/*.xplane.pb', recursive=True)
    profile = jax.profiler.ProfileData.from_file(path)
  seconds = collections.Counter()
  for plane in profile.planes:
    for line in plane.lines:
      events = sorted(((e.start_ns, e.duration_ns, e.name) for e in line.events
                       if e.name in categories), key=lambda e: (e[0], -e[1]))
      stack = []  # [end_ns, name, self_ns]
      def pop():
        _, name, self_ns = stack.pop()
        seconds[categories[name]] += self_ns / 1e9
      for start, duration, name in events:
        while stack and stack[-1][0] <= start:
          pop()
        if stack:
          stack[-1][2] -= duration
        stack.append([start + duration, name, duration])
      while stack:
        pop()
  total = sum(seconds.values())
  shares = {k: v / total for k, v in seconds.most_common()} if total else {}
  return {'shares': shares, 'op_seconds': total, 'traced_wall_seconds': wall,
          'matmul_gflop_per_s': gflop / seconds['matmul'] if seconds['matmul'] else None}


def describe_breakdown(breakdown: dict | None) -> str:
  if not breakdown or not breakdown['shares']:
    return 'no profile'
  parts = []
  for name, share in breakdown['shares'].items():
    if share >= 0.01:
      text = f'{name} {100 * share:.0f}%'
      if name == 'matmul' and breakdown['matmul_gflop_per_s']:
        text += f" (<= {breakdown['matmul_gflop_per_s']:.0f} GFLOP/s)"
      parts.append(text)
  return ', '.join(parts)


# --- one row of ours, in its own process ---------------------------------------------------


def run_ours(row: Row, args) -> dict:
  family = task_family(row.queries, args.data)
  learner = make_learner(row, conv_impl=args.conv_impl)
  optimizer = optax.adam(META_LR)
  train = outer.make_train_fn(learner, optimizer, family, meta_batch=args.meta_batch,
                              num_steps=1, task_map='map')
  key = jax.random.key(args.seed)
  params = learner.init(key, family.sample(family.data, 1, key=key).support.x[0])
  state = outer.init_state(params, optimizer)
  t0 = time.perf_counter()
  compiled = train.lower(state, family.data, key).compile()
  compile_s = time.perf_counter() - t0

  def run_once():
    nonlocal state
    state, metrics = compiled(state, family.data, key)  # donates the old state
    jax.block_until_ready((state, metrics))

  times = []
  for _ in range(args.warmup + args.iters):
    t0 = time.perf_counter()
    run_once()
    times.append(time.perf_counter() - t0)
  seconds = float(np.median(times[args.warmup:]))
  result = {'seconds': seconds, 'steps_per_s': 1 / seconds, 'times': times[args.warmup:],
            'compile_s': compile_s, 'peak_rss_mb': peak_rss_mb(),
            'xla_temp_mb': compiled.memory_analysis().temp_size_in_bytes / 2**20,
            'data': family.info['dataset'], 'conv_impl': args.conv_impl}
  result['gflop'] = step_gflop(row, args.meta_batch)  # after the RSS reading: it compiles
  if args.breakdown:
    result['breakdown'] = time_breakdown(run_once, compiled.as_text(), result['gflop'])
  return result


# --- the peer ------------------------------------------------------------------------------


def write_tasks(path: Path, queries: int, num_tasks: int, source: str, *, seed: int):
  """``num_tasks`` tasks as an npz for the peer (NHWC, as ours); returns them as a Task."""
  family = task_family(queries, source)
  tasks = jax.tree.map(np.asarray, family.sample(family.data, num_tasks,
                                                 key=jax.random.key(seed)))
  np.savez(path, support_x=tasks.support.x, support_y=tasks.support.y,
           query_x=tasks.query.x, query_y=tasks.query.y)
  return tasks


def run_peer(row: Row, extra: list) -> dict:
  cmd = [str(PEER_PYTHON), str(PEER_SCRIPT), '--model', 'pool' if row.pool else 'strided',
         '--steps', str(row.steps)] + (['--first-order'] if row.first_order else []) + extra
  env = {**os.environ, 'PYTHONPATH': str(HERE)}
  return json.loads(run(cmd, env=env).splitlines()[-1])


def run(cmd, env=None) -> str:
  proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
  if proc.returncode:
    raise RuntimeError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
  return proc.stdout


def from_torch(arrays, prefix: str) -> dict:
  """l2l_maml.py's arrays (PyTorch layouts, metaft names) as our params pytree, in numpy."""
  params = collections.defaultdict(dict)
  for name in arrays.files:
    if name.startswith(prefix):
      layer, leaf = name[len(prefix):].split('/')
      a = arrays[name]
      if leaf == 'w':  # OIHW -> HWIO, [out, in] -> [in, out]
        a = a.transpose(2, 3, 1, 0) if a.ndim == 4 else a.T
      params[layer][leaf] = a
  return dict(params)


def relative_difference(ours: dict, theirs: dict) -> float:
  """Max over leaves of max |ours - theirs| / max |theirs|, except that conv biases, whose
  gradient is zero in exact arithmetic (batch norm follows them, so both sides hold rounding
  noise there), are measured against the largest entry of the whole gradient."""
  largest = max(np.max(np.abs(b)) for b in jax.tree.leaves(theirs))
  worst = 0.0
  for layer, leaves in theirs.items():
    for leaf, b in leaves.items():
      scale = largest if layer.startswith('conv') and leaf == 'b' else np.max(np.abs(b))
      worst = max(worst, float(np.max(np.abs(np.asarray(ours[layer][leaf]) - b)) / scale))
  return worst


def our_meta_gradient(row: Row, args, params, tasks, dtype) -> tuple[float, dict]:
  """Our mean query loss and meta-gradient, in ``dtype``, with learn2learn's conventions."""
  learner = make_learner(row, conv_impl=args.conv_impl, peer_conventions=True)
  step = jax.jit(functools.partial(outer.meta_gradient, learner, task_map='map'))
  cast = lambda a: jnp.asarray(a, dtype if np.issubdtype(a.dtype, np.floating) else a.dtype)
  loss, _, grads = step(jax.tree.map(cast, params), jax.tree.map(cast, tasks),
                        key=jax.random.key(0))
  return float(loss), jax.tree.map(np.asarray, grads)


def parity(row: Row, args, tmp: Path) -> dict:
  """Loss and meta-gradient of the peer and ours from the same weights on the same tasks.

  Both sides compute in float32 and in float64. The float64 difference decides: it compares
  the functions without float32 rounding, which max-pooling's near-ties and second-order
  gradients through several inner steps amplify differently in the two libraries (the float32
  differences are reported, with each side's distance from its own float64 result).
  """
  tasks_path, out = tmp / 'parity_tasks.npz', tmp / 'parity_l2l.npz'
  tasks = write_tasks(tasks_path, row.queries, args.parity_tasks, args.data, seed=args.seed + 1)
  run_peer(row, ['--data', str(tasks_path), '--parity-out', str(out), '--seed', str(args.seed)])
  with np.load(out) as arrays:
    params = from_torch(arrays, 'w/')
    peer = {32: (float(arrays['loss']), from_torch(arrays, 'g/')),
            64: (float(arrays['loss64']), from_torch(arrays, 'g64/'))}
  ours = {32: our_meta_gradient(row, args, params, tasks, jnp.float32)}
  with jax.enable_x64(True):
    ours[64] = our_meta_gradient(row, args, params, tasks, jnp.float64)

  def compare(a, b):
    return {'rel_loss': abs(a[0] - b[0]) / abs(b[0]), 'rel_grad': relative_difference(a[1], b[1])}

  result = {'loss': ours[32][0], 'peer_loss': peer[32][0], 'tasks': args.parity_tasks,
            'float64': compare(ours[64], peer[64]), 'float32': compare(ours[32], peer[32]),
            'float32_vs_float64': {'ours': compare(ours[32], ours[64])['rel_grad'],
                                   'peer': compare(peer[32], peer[64])['rel_grad']}}
  result['ok'] = max(result['float64'].values()) <= args.parity_tol
  return result


def describe_parity(name: str, c: dict, tol: float) -> str:
  f64, f32, drift = c['float64'], c['float32'], c['float32_vs_float64']
  return (f"parity {name}: loss {c['loss']:.6f} (learn2learn {c['peer_loss']:.6f}); max "
          f"relative difference in float64: loss {f64['rel_loss']:.1e}, meta-gradient "
          f"{f64['rel_grad']:.1e} ({'ok' if c['ok'] else 'FAILED'}, tolerance {tol:g}); in "
          f"float32: loss {f32['rel_loss']:.1e}, meta-gradient {f32['rel_grad']:.1e} (each "
          f"side's float32 meta-gradient from its float64 one: ours {drift['ours']:.1e}, "
          f"learn2learn {drift['peer']:.1e}); {c['tasks']} tasks")


# --- the table -----------------------------------------------------------------------------


def fmt(x, spec):
  return '—' if x is None else format(x, spec)


def table(rows: list[dict], peak: float) -> str:
  lines = [
      '| row | meta-steps/s | compile s | GFLOP/step | GFLOP/s | % peak | RSS MB '
      '| l2l meta-steps/s | l2l GFLOP/s | l2l % peak | l2l RSS MB | ours / l2l '
      f'| where the time goes (rows under {GOAL}%) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |']
  for r in rows:
    ours, peer = r['ours'], r.get('peer') or {}
    gflop = ours['gflop']
    pct = 100 * gflop * ours['steps_per_s'] / peak
    peer_rate = peer.get('steps_per_s')
    if not peer_rate:
      ratio = '—'
    elif not r['parity']['ok']:
      ratio = 'parity failed'
    else:
      ratio = f"{ours['steps_per_s'] / peer_rate:.2f}x"
    lines.append(
        f"| {r['label']} | {ours['steps_per_s']:.2f} | {ours['compile_s']:.1f} | {gflop:.1f} "
        f"| {gflop * ours['steps_per_s']:.0f} | {pct:.0f} | {ours['peak_rss_mb']:.0f} "
        f"| {fmt(peer_rate, '.2f')} | {fmt(peer_rate and gflop * peer_rate, '.0f')} "
        f"| {fmt(peer_rate and 100 * gflop * peer_rate / peak, '.0f')} "
        f"| {fmt(peer.get('peak_rss_mb'), '.0f')} | {ratio} "
        f"| {describe_breakdown(ours.get('breakdown')) if pct < GOAL else '—'} |")
  return '\n'.join(lines)


def log(*a):
  print(*a, file=sys.stderr, flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', default=DEFAULT_ROWS,
                      help=f'comma list of {", ".join(ROWS)} (default {DEFAULT_ROWS})')
  parser.add_argument('--iters', type=int, default=None, help='timed meta-steps (default 10)')
  parser.add_argument('--warmup', type=int, default=None, help='untimed first steps (2)')
  parser.add_argument('--quick', action='store_true', help='3 timed steps after 1, not 10 after 2')
  parser.add_argument('--meta-batch', type=int, default=32)
  parser.add_argument('--conv-impl', default='auto', help="metaft's convolution, see conv2d")
  parser.add_argument('--data', choices=('omniglot', 'random'), default='omniglot')
  parser.add_argument('--no-peer', action='store_true', help='skip learn2learn')
  parser.add_argument('--parity', action='store_true', help='only the parity check')
  parser.add_argument('--parity-tasks', type=int, default=4)
  parser.add_argument('--parity-tol', type=float, default=1e-8,
                      help='largest relative difference in float64 (loss, meta-gradient)')
  parser.add_argument('--no-breakdown', dest='breakdown', action='store_false',
                      help='skip the profiled meta-step of each row')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--json', default=str(HERE / 'results' / 'speed.json'))
  parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)  # one row of ours
  args = parser.parse_args()
  args.iters = args.iters or (3 if args.quick else 10)
  args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)

  if args.worker:
    print(json.dumps(run_ours(ROWS[args.worker], args)))
    return
  names = [n for n in args.rows.split(',') if n]
  unknown = [n for n in names if n not in ROWS]
  if unknown:
    parser.error(f'unknown rows {unknown}; rows: {", ".join(ROWS)}')
  peer = not args.no_peer and PEER_PYTHON.exists()
  if not args.no_peer and not peer:
    print(f'learn2learn environment not found ({PEER_PYTHON}): run `bash '
          'benchmarks/setup_learn2learn.sh` to compare with it (or pass --no-peer).')
  if args.parity and not peer:
    sys.exit('--parity needs the learn2learn environment.')

  with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    checks = {}
    if peer:
      for name in names:
        checks[name] = parity(ROWS[name], args, tmp)
        print(describe_parity(name, checks[name], args.parity_tol), flush=True)
      if args.parity:
        sys.exit(0 if all(c['ok'] for c in checks.values()) else 1)

    peak_before = conv_formulations.matmul_peak(PEAK_N, repeats=3 if args.quick else 5)
    log(f'float32 matmul peak {peak_before:.0f} GFLOP/s')
    common = ['--meta-batch', str(args.meta_batch), '--iters', str(args.iters),
              '--warmup', str(args.warmup), '--conv-impl', args.conv_impl, '--data', args.data,
              '--seed', str(args.seed)] + ([] if args.breakdown else ['--no-breakdown'])
    rows = []
    for name in names:
      row = ROWS[name]
      result = {'row': name, 'label': row.label, **row._asdict(), 'parity': checks.get(name)}
      result['ours'] = json.loads(run([sys.executable, __file__, '--worker', name] + common)
                                  .splitlines()[-1])
      log(f"{name}: ours {result['ours']['steps_per_s']:.2f} meta-steps/s")
      if peer:
        tasks_path = tmp / 'tasks.npz'
        write_tasks(tasks_path, row.queries, args.meta_batch, args.data, seed=args.seed)
        result['peer'] = run_peer(row, ['--data', str(tasks_path), '--iters', str(args.iters),
                                        '--warmup', str(args.warmup)])
        log(f"{name}: learn2learn {result['peer']['steps_per_s']:.2f} meta-steps/s")
      rows.append(result)
    peak_after = conv_formulations.matmul_peak(PEAK_N, repeats=3 if args.quick else 5)

  peak = max(peak_before, peak_after)
  peer_info = rows[0].get('peer') if rows and peer else None
  print(f'\nJAX {jax.__version__} ({jax.default_backend()}, {os.cpu_count()} CPUs)'
        + (f", learn2learn {peer_info['learn2learn']} on torch {peer_info['torch']} "
           f"({peer_info['threads']} threads)" if peer_info else '')
        + f'. {WAYS}-way {SHOTS}-shot, meta-batch {args.meta_batch}, {args.iters} timed '
        f'meta-steps after {args.warmup}. Float32 matmul peak {peak:.0f} GFLOP/s (before '
        f'{peak_before:.0f}, after {peak_after:.0f}).\n')
  print(table(rows, peak))
  for r in rows:
    for side in ('ours', 'peer'):
      times = (r.get(side) or {}).get('times')
      if times and max(times) > 2 * min(times):
        print(f"\nNote: {r['row']} ({side}): meta-steps took {min(times):.3f} to "
              f"{max(times):.3f} s; was the machine busy?")
  for r in rows:
    r['ours']['pct_peak'] = 100 * r['ours']['gflop'] * r['ours']['steps_per_s'] / peak
  Path(args.json).parent.mkdir(parents=True, exist_ok=True)
  with open(args.json, 'w') as f:
    json.dump({'jax': jax.__version__, 'backend': jax.default_backend(),
               'cpus': os.cpu_count(), 'peak_gflop_per_s': [peak_before, peak_after],
               'meta_batch': args.meta_batch, 'iters': args.iters, 'warmup': args.warmup,
               'goal_pct_peak': GOAL, 'rows': rows}, f, indent=1)
  print(f'\nWrote {args.json}.')


if __name__ == '__main__':
  main()
