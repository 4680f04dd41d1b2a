"""The portal's HTTP door: the JSON API for portal backends and the pages people open
from a mail. `portal.app:app` is the ASGI app; see portal.app for what each module does."""
