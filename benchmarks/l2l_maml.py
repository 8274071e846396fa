"""learn2learn's MAML on Conv-4, the peer's side of ``benchmarks/speed.py``.

Runs in the learn2learn environment (``bash benchmarks/setup_learn2learn.sh``), started by
``speed.py`` as a subprocess, one configuration per process so that its peak memory is its own.
The loop is learn2learn's own MAML example (``examples/vision/maml_omniglot.py``): per task
``clone()``, ``adapt(support loss)`` for each inner step, the query loss ``backward()``; then
the gradients divided by the meta-batch and an Adam step. Models: ``OmniglotCNN`` (strided
Conv-4, padding 1, batch norm, the head on the spatial mean) and ``CNN4(max_pool=True)``
(stride-1 convolutions, 2x2 max-pooling, the head on the flattened 1x1x64 features).

Tasks come from ``--data``, an ``.npz`` of one meta-batch written by ``speed.py`` (NHWC
``support_x [T, N*K, 28, 28, 1]``, ``support_y [T, N*K]``, ``query_x``, ``query_y``); every
timed meta-step reuses it, so task sampling is not timed (learn2learn's ``TaskDataset``
sampling would add to its time). Two modes, each printing one JSON line:

  # timing: meta-steps/s (median over --iters after --warmup) and peak RSS
  PYTHONPATH=benchmarks benchmarks/.envs/l2l/bin/python benchmarks/l2l_maml.py \\
      --data tasks.npz --model strided --steps 1 [--first-order] --iters 10 --warmup 2
  # parity: the initial weights, mean query loss and meta-gradient (no optimizer step)
  ... l2l_maml.py --data tasks.npz --model strided --steps 1 --parity-out out.npz

The parity file holds ``w/<name>`` (the initial weights, float32) and, computed from them in
float32 and again in float64, ``loss`` and ``g/<name>`` (the meta-gradient), ``loss64`` and
``g64/<name>``, under metaft's Conv-4 parameter names (``conv0/w``, ``bn0/scale``, ...,
``head/b``) in PyTorch's layouts (OIHW kernels, ``[out, in]`` head).
"""

import l2l_compat  # noqa: F401 - before learn2learn/torchvision  # isort: skip

import argparse
import json
import os
import statistics
import time

import learn2learn as l2l
import numpy as np
from peak_memory import peak_rss_mb
import torch

WAYS = 5
INNER_LR = 0.4
META_LR = 1e-3


def make_model(model: str) -> tuple[torch.nn.Module, list]:
  """The network and its conv blocks (``ConvBlock``: conv, normalize, relu, max_pool)."""
  if model == 'strided':
    net = l2l.vision.models.OmniglotCNN(WAYS)
    return net, list(net.base)
  net = l2l.vision.models.CNN4(WAYS, hidden_size=64, channels=1, max_pool=True,
                               embedding_size=64)
  return net, list(net.features)


def named_params(net, blocks) -> dict:
  """The parameters under metaft's Conv-4 names."""
  named = {}
  for i, block in enumerate(blocks):
    named.update({f'conv{i}/w': block.conv.weight, f'conv{i}/b': block.conv.bias,
                  f'bn{i}/scale': block.normalize.weight, f'bn{i}/offset': block.normalize.bias})
  named.update({'head/w': net.classifier.weight, 'head/b': net.classifier.bias})
  assert len(named) == len(list(net.parameters())), 'unexpected learn2learn model'
  return named


def load_tasks(path) -> list:
  """One meta-batch from speed.py's npz, NCHW tensors per task."""
  with np.load(path) as f:
    xs, ys, xq, yq = (f[k] for k in ('support_x', 'support_y', 'query_x', 'query_y'))
  nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
  label = lambda a: torch.from_numpy(a.astype(np.int64))
  return [(nchw(xs[t]), label(ys[t]), nchw(xq[t]), label(yq[t])) for t in range(len(xs))]


def meta_step(maml, tasks, steps, loss_fn) -> float:
  """Accumulates the mean meta-gradient over ``tasks`` into ``.grad``; the mean query loss."""
  total = 0.0
  for x_s, y_s, x_q, y_q in tasks:
    learner = maml.clone()
    for _ in range(steps):
      learner.adapt(loss_fn(learner(x_s), y_s))
    query_loss = loss_fn(learner(x_q), y_q)
    query_loss.backward()
    total += query_loss.item()
  for p in maml.parameters():
    p.grad.data.mul_(1.0 / len(tasks))
  return total / len(tasks)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data', required=True, help="speed.py's .npz of one meta-batch")
  parser.add_argument('--model', choices=('strided', 'pool'), default='strided')
  parser.add_argument('--steps', type=int, default=1, help='inner steps')
  parser.add_argument('--first-order', action='store_true')
  parser.add_argument('--iters', type=int, default=10)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--threads', type=int, default=os.cpu_count())
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--parity-out', default=None,
                      help='write weights, loss and meta-gradient here instead of timing')
  args = parser.parse_args()

  torch.set_num_threads(args.threads)
  torch.manual_seed(args.seed)
  np.random.seed(args.seed)  # learn2learn's truncated-normal init draws from scipy/numpy
  net, blocks = make_model(args.model)
  net.train()  # batch statistics, as MAML (and metaft) use
  maml = l2l.algorithms.MAML(net, lr=INNER_LR, first_order=args.first_order)
  loss_fn = torch.nn.CrossEntropyLoss(reduction='mean')
  tasks = load_tasks(args.data)
  info = {'torch': torch.__version__, 'learn2learn': l2l.__version__,
          'threads': torch.get_num_threads(), 'tasks': len(tasks)}

  if args.parity_out:  # in float32, then in float64 from the same weights
    named = named_params(net, blocks)
    arrays = {f'w/{k}': v.detach().numpy().copy() for k, v in named.items()}
    for suffix in ('', '64'):
      if suffix:
        maml.double()
        tasks = [(x_s.double(), y_s, x_q.double(), y_q) for x_s, y_s, x_q, y_q in tasks]
      maml.zero_grad()
      arrays[f'loss{suffix}'] = np.float64(meta_step(maml, tasks, args.steps, loss_fn))
      arrays.update({f'g{suffix}/{k}': v.grad.numpy().copy() for k, v in named.items()})
    np.savez(args.parity_out, **arrays)
    print(json.dumps({'loss': float(arrays['loss']), 'loss64': float(arrays['loss64']), **info}))
    return

  opt = torch.optim.Adam(maml.parameters(), META_LR)
  times = []
  for _ in range(args.warmup + args.iters):
    t0 = time.perf_counter()
    opt.zero_grad()
    meta_step(maml, tasks, args.steps, loss_fn)
    opt.step()
    times.append(time.perf_counter() - t0)
  seconds = statistics.median(times[args.warmup:])
  print(json.dumps({'seconds': seconds, 'steps_per_s': 1 / seconds,
                    'times': times[args.warmup:], 'peak_rss_mb': peak_rss_mb(), **info}))


if __name__ == '__main__':
  main()
