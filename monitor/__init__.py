"""monitor: watches Russian-language news for reports of cooperation."""

__version__ = "0.1.0"

import os as _os

# One BLAS/OpenMP thread per process: monitor parallelises with worker processes, and
# numpy's thread pools would only oversubscribe the cores (they are sized when numpy is
# first imported, so this must run before anything imports it).
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_name, "1")
