"""``python -m engine.worker``: one worker process (what the supervisor starts)."""

import sys

from engine.worker.main import main

if __name__ == "__main__":  # importing the module (e.g. to check imports) starts nothing
    sys.exit(main())
