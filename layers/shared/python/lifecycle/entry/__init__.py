"""How requests and schedules enter: the HTTP resolver, the scheduled-handler frame, the sweeps' shape."""
