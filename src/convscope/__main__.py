"""`python -m convscope` is the `convscope` command."""
import sys

from .cli import main

sys.exit(main())
