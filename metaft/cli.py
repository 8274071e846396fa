"""The command line: ``metaft run EXPERIMENT [--workdir DIR] [--config.KEY=VALUE ...]``."""

import argparse
import sys

from metaft.errors import UserError

USAGE = """metaft run EXPERIMENT[:VARIANT] [--workdir DIR] [--config.KEY=VALUE ...] [--quiet]
           [--distributed [--coordinator HOST:PORT --num-processes N --process-id I]]
       metaft list"""


def parse(argv):
  parser = argparse.ArgumentParser(prog='metaft', usage=USAGE, description=(
      'Run a meta-learning experiment from experiments/NAME.py (or a path to a config file).'))
  sub = parser.add_subparsers(dest='command', required=True)
  run = sub.add_parser('run', help='train, evaluate and write results')
  run.add_argument('experiment', help='NAME, NAME:VARIANT (e.g. sine_maml:smoke) or a path')
  run.add_argument('--workdir', help='where checkpoints and results go (default runs/NAME)')
  run.add_argument('--quiet', action='store_true', help='no progress bar')
  run.add_argument('--distributed', action='store_true', help=(
      'one process of a multi-process run (jax.distributed): start the same command on every '
      'host with --config.num_devices=0; the cluster is detected on Cloud TPU, Slurm and Open '
      'MPI, elsewhere give the next three options'))
  run.add_argument('--coordinator', help='HOST:PORT of process 0, with --distributed')
  run.add_argument('--num-processes', type=int, help='how many processes, with --distributed')
  run.add_argument('--process-id', type=int, help="this process's index, with --distributed")
  sub.add_parser('list', help='list the experiments, each with its title')
  args, rest = parser.parse_known_args(argv)
  overrides = {}
  for item in rest:
    key, eq, value = item.partition('=')
    if not key.startswith('--config.') or not eq or args.command != 'run':
      raise UserError(f'unrecognised argument {item!r}; overrides look like '
                      '--config.KEY=VALUE (e.g. --config.train_steps=1000).')
    overrides[key[len('--config.'):]] = value
  return args, overrides


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    args, overrides = parse(argv)
    if args.command == 'list':
      from metaft import config
      names = config.available_experiments()
      width = max(map(len, names))
      print('\n'.join(f'{n:<{width}}  {config.experiment_title(n)}' for n in names))
      return 0
    from metaft import outer, runner
    cluster = (args.coordinator, args.num_processes, args.process_id)
    if args.distributed:
      outer.initialize_distributed(*cluster)
    elif any(v is not None for v in cluster):
      raise UserError('--coordinator, --num-processes and --process-id go with --distributed.')
    rows = runner.run(args.experiment, args.workdir, overrides, progress=not args.quiet)
    if runner.primary():
      print(runner.markdown_table(rows))
    return 0
  except UserError as e:
    print(f'metaft: error: {e}', file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print('metaft: interrupted; run the same command again to resume from the last '
          'checkpoint.', file=sys.stderr)
    return 130


if __name__ == '__main__':
  sys.exit(main())
