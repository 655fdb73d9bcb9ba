"""Who may register and under which names; the public routes' human check and rate limits."""
