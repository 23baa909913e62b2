"""`python -m lsp.cli`: the same as the `fillgap` command."""

import sys

from lsp.cli import main

sys.exit(main())
