"""`python -m images`: see images/build.py."""

import sys

from images.build import main

sys.exit(main())
