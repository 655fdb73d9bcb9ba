"""The account-lifecycle service's shared package (deployed as the SharedLayer).

Packages by domain, each importing only the tiers below it (import-linter, pyproject.toml), from
``core`` and ``storage`` up to ``requests``. What each owns: docs/ARCHITECTURE.md "Code map".
"""
