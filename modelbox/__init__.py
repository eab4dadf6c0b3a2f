"""ModelBox: a metadata service for ML teams.

`import modelbox` is the light client: `modelbox.init(...)` and `run.log(...)` in a training
script, `modelbox.Client()` for the registry. The service lives in `modelbox.server` and
needs the `server` extra (`pip install 'modelbox[server]'`).
"""

from modelbox.client import *  # noqa: F403
from modelbox.client import __all__  # noqa: F401

__version__ = "0.1.0"
