"""``python -m iiswsgi``: the wfastcgi-style launch used in web.config."""

import sys

from .hosting import main

sys.exit(main())
