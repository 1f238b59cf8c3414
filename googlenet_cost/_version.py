"""The version of gcost, in a module of its own: read by setup.cfg, the CLI and lock files
without importing the package's API."""
__version__ = "0.1.0"
