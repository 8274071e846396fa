"""Peak resident memory of this process, shared by the benchmark scripts of both environments."""

import resource


def peak_rss_mb() -> float:
  """This process's peak resident memory, MiB: ``VmHWM``, not ``ru_maxrss``, which a child
  process inherits from its parent's memory at ``fork``."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) / 1024  # kB
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
