"""``python -m iiswsgi``: the wfastcgi-style launch used in web.config."""

import sys

from .hosting.launch import main

sys.exit(main())
