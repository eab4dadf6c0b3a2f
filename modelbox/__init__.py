"""ModelBox: a metadata service for ML teams.

`import modelbox` is the light client side; the service lives in `modelbox.server` and needs
the `server` extra (`pip install 'modelbox[server]'`).
"""

__version__ = "0.1.0"
