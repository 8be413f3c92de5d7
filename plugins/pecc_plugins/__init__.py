"""PECC's builtin plugins, installed as the ``pecc_plugins`` package.

Each module here is registered through the ``pecc`` entry-point group of
this project's ``pyproject.toml``, exactly as a vendor's package would be.
"""
