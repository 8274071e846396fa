"""A multi-process run (``metaft run --distributed``): two processes on this machine, one CPU
device each, joined by ``jax.distributed`` over gloo, against one process with two devices."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from metaft import cli, outer, runner
from metaft.errors import UserError

SPEC = 'sine_maml:smoke'
SETTINGS = {'meta_batch': '24', 'num_devices': '0'}  # 12 tasks per device


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _launch(workdir, num_processes=2, **settings):
  port = _free_port()
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=1',
         'JAX_PLATFORMS': 'cpu'}
  command = [sys.executable, '-m', 'metaft.cli', 'run', SPEC, '--workdir', str(workdir),
             '--quiet', '--distributed', '--coordinator', f'localhost:{port}',
             '--num-processes', str(num_processes),
             *(f'--config.{k}={v}' for k, v in {**SETTINGS, **settings}.items())]
  procs = [subprocess.Popen(command + ['--process-id', str(i)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
           for i in range(num_processes)]
  try:
    outputs = [p.communicate(timeout=600) for p in procs]
  finally:
    for p in procs:
      p.kill()
  for p, (out, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  return [out for out, _ in outputs]


def test_two_processes_train_and_resume_as_one_process_with_two_devices(tmp_path):
  _launch(tmp_path / 'dist', train_steps=100)  # stopped half way, then resumed:
  outs = _launch(tmp_path / 'dist')
  assert '| learner |' in outs[0] and '| learner |' not in outs[1]  # process 0 reports
  one = runner.run(SPEC, str(tmp_path / 'one'), {**SETTINGS, 'num_devices': '2'},
                   progress=False)
  two = json.loads((tmp_path / 'dist' / 'results.json').read_text())
  assert [r['adapt_steps'] for r in two] == [r['adapt_steps'] for r in one]
  np.testing.assert_allclose([r['mean'] for r in two], [r['mean'] for r in one], rtol=1e-4)
  lines = (tmp_path / 'dist' / 'metrics.jsonl').read_text().splitlines()
  steps = [json.loads(l)['step'] for l in lines]
  assert steps == list(range(50, 201, 50))  # written once, not once per process
  losses = [json.loads(l)['loss'] for l in lines]
  want = [json.loads(l)['loss'] for l in (tmp_path / 'one' / 'metrics.jsonl').read_text()
          .splitlines()]
  np.testing.assert_allclose(losses, want, rtol=1e-4)
  assert sorted(p.name for p in (tmp_path / 'dist' / 'checkpoints').iterdir()) == ['100', '200']


def test_a_partial_cluster_description_is_refused():
  with pytest.raises(UserError, match='needs all of --coordinator HOST:PORT, --num-processes'):
    outer.initialize_distributed('localhost:1234')


def test_cli_refuses_cluster_options_without_distributed(capsys):
  assert cli.main(['run', SPEC, '--process-id', '1']) == 2
  assert '--process-id go with --distributed' in capsys.readouterr().err


def test_a_fine_tuning_job_refuses_to_run_over_several_processes(monkeypatch, tmp_path):
  monkeypatch.setattr(runner.jax, 'process_count', lambda: 2)
  with pytest.raises(UserError, match='a fine-tuning job runs in one process'):
    runner.run('finetune', str(tmp_path))
