"""Experiment configs: Python files with ``get_config(arg)``, and command-line overrides."""

import ast
import difflib
import importlib.util
import pathlib
import sys

import ml_collections

from metaft.errors import UserError  # noqa: F401  (re-exported)

EXPERIMENTS_DIR = pathlib.Path(__file__).resolve().parent.parent / 'experiments'


def available_experiments() -> list[str]:
  """Names of the experiment files shipped in ``experiments/``."""
  return sorted(p.stem for p in EXPERIMENTS_DIR.glob('*.py') if not p.stem.startswith('_'))


def experiment_title(name: str) -> str:
  """The first line of experiment ``name``'s docstring (read without importing it)."""
  doc = ast.get_docstring(ast.parse(find_experiment(name).read_text())) or ''
  return doc.partition('\n')[0]


def find_experiment(name: str) -> pathlib.Path:
  """The file of experiment ``name`` (a name in ``experiments/`` or a path to a .py file)."""
  path = pathlib.Path(name)
  if path.suffix == '.py':
    if path.is_file():
      return path.resolve()
    raise UserError(f'experiment file {name} does not exist.')
  candidate = EXPERIMENTS_DIR / f'{name}.py'
  if candidate.is_file():
    return candidate
  known = available_experiments()
  close = difflib.get_close_matches(name, known, n=3)
  hint = f' Did you mean {", ".join(close)}?' if close else ''
  raise UserError(
      f'unknown experiment {name!r}.{hint} Known experiments: {", ".join(known)} '
      '(or give a path to a .py file with get_config).')


def load_module(path: pathlib.Path):
  spec = importlib.util.spec_from_file_location(f'metaft_experiment_{path.stem}', path)
  module = importlib.util.module_from_spec(spec)
  # Configs may import shared settings from files beside them (``from sine_maml import ...``).
  sys.path.insert(0, str(path.parent))
  try:
    spec.loader.exec_module(module)
  finally:
    sys.path.remove(str(path.parent))
  if not hasattr(module, 'get_config'):
    raise UserError(f'{path} has no get_config(arg) function.')
  return module


def load_config(spec: str) -> tuple[str, ml_collections.ConfigDict]:
  """Loads ``NAME`` or ``NAME:ARG`` (e.g. ``sine_maml:smoke``); returns (name, config)."""
  name, _, arg = spec.partition(':')
  path = find_experiment(name)
  module = load_module(path)
  try:
    config = module.get_config(arg or None)
  except UserError:
    raise
  except ValueError as e:  # e.g. an unknown variant
    raise UserError(f'experiment {name}: {e}') from None
  return path.stem, config


def parse_value(text: str):
  """A literal (int, float, bool, tuple, None, string in quotes) or else the plain string."""
  lowered = text.lower()
  if lowered in ('true', 'false'):
    return lowered == 'true'
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def _leaf_keys(config, prefix=''):
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from _leaf_keys(value, f'{prefix}{key}.')
    yield f'{prefix}{key}'


def apply_override(config: ml_collections.ConfigDict, dotted: str, text: str) -> None:
  """Sets ``config.<dotted>`` from the string ``text``, keeping the field's type.

  A key the config lacks is refused, except a setting of a component chosen by name (a group
  with a ``name``: ``task``, ``model``, ``learner``, ``outer``, ...): that goes to its factory,
  which names the settings it takes if it does not take this one (e.g.
  ``--config.learner.l2_sp=0.5`` on any MAML experiment)."""
  *parents, leaf = dotted.split('.')
  node = config
  for i, part in enumerate(parents + [leaf]):
    factory_setting = (i == len(parents) and isinstance(node, ml_collections.ConfigDict)
                       and 'name' in node and part not in node)
    if factory_setting:
      node[leaf] = parse_value(text)
      return
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      known = list(_leaf_keys(config))
      close = difflib.get_close_matches(dotted, known, n=3)
      hint = f' Did you mean {", ".join(close)}?' if close else ''
      raise UserError(f'unknown config key {dotted!r}.{hint} Keys: {", ".join(known)}.')
    if i < len(parents):
      node = node[part]
  old = node[leaf]
  value = parse_value(text)
  if isinstance(old, ml_collections.ConfigDict):
    raise UserError(f'config key {dotted!r} is a group; set one of its fields instead.')
  if isinstance(old, bool) or isinstance(value, bool):
    if not (isinstance(old, bool) and isinstance(value, bool)) and old is not None:
      raise UserError(f'config key {dotted!r} wants a {type(old).__name__}, got {text!r}.')
  elif isinstance(old, float) and isinstance(value, int):
    value = float(value)
  elif isinstance(old, tuple) and isinstance(value, (list, int, float)):
    value = tuple(value) if isinstance(value, list) else (value,)
  if old is not None and value is not None and not isinstance(value, type(old)):
    raise UserError(
        f'config key {dotted!r} wants a {type(old).__name__} (now {old!r}), got {text!r}.')
  try:
    node[leaf] = value
  except (TypeError, ValueError) as e:
    raise UserError(f'config key {dotted!r}: {e}') from None


def apply_overrides(config, overrides: dict[str, str]):
  """Applies ``{dotted key: string value}`` overrides in order; returns the config."""
  for key, text in overrides.items():
    apply_override(config, key, text)
  return config
