"""python -m pericomp_lib.sources.mimic --mimic-dir DIR --out-dir runs/mimic"""

import sys

from .cohort import cli

sys.exit(cli(sys.argv[1:]))
