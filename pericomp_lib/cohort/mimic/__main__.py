"""python -m pericomp_lib.cohort.mimic --mimic-dir DIR --out-dir runs/mimic"""

import sys

from .cohort_report import cli

sys.exit(cli(sys.argv[1:]))
