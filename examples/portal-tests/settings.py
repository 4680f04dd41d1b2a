"""The portal project's own settings module, as every Django project has one.

It sits at the top of the project, first on the path: the test kit must load
beside it without ever mistaking it for a module of its own.
"""

PORTAL_NAME = "Example partner portal"
DEBUG = True
