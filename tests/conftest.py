"""Strict JAX for every test, four fake CPU devices so sharding code is exercised, and one
persistent compilation cache shared by the test workers of a run."""

import atexit
import os
import shutil
import tempfile

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '')
                           + ' --xla_force_host_platform_device_count=4').strip()

import jax  # noqa: E402  (after XLA_FLAGS)

jax.config.update('jax_numpy_rank_promotion', 'raise')

# Much of a smoke run is XLA compiling programs that other tests compile too (the pretraining
# smoke run is the teacher of two distillation smoke runs; experiments share evaluation
# programs). The first process (pytest, or its xdist controller) makes the folder and removes
# it at exit; the workers it starts inherit the variable. Programs that compile in under a
# second are not cached (writing them costs more than it saves). A size limit makes JAX lock
# the folder (with `filelock`), so no worker reads an entry another is still writing.
# METAFT_TEST_XLA_CACHE=off compiles everything afresh.
CACHE = os.environ.setdefault('METAFT_TEST_XLA_CACHE', '')
if not CACHE:
  CACHE = os.environ['METAFT_TEST_XLA_CACHE'] = tempfile.mkdtemp(prefix='metaft-test-xla-')
  atexit.register(shutil.rmtree, CACHE, ignore_errors=True)
if CACHE != 'off':
  jax.config.update('jax_compilation_cache_dir', CACHE)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 1.0)
  jax.config.update('jax_compilation_cache_max_size', 4 << 30)
