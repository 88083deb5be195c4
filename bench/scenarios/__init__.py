"""The benchmark scenarios, one module per kind of cost."""
