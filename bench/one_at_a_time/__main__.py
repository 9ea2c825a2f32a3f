"""``python -m bench.one_at_a_time [flags]``: the suite with only this section.

The same as ``python -m bench --only single [flags]``: one code path, so the section
measured alone is the section measured in the suite.
"""

import sys

from bench.suite import main

raise SystemExit(main(["--only", "single", *sys.argv[1:]]))
