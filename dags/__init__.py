"""The DAG files. A package only so that import-linter can check what they import (pyproject.toml)."""
