__version__ = "0.1.0"

# `ecgbench.Run` and `ecgbench.demo_run` without importing torch at `import ecgbench` (see nbs/65_runs.ipynb).
def __getattr__(name: str):
    if name in ("Run", "demo_run", "synthetic_run"):
        from ecgbench import runs
        return getattr(runs, name)
    raise AttributeError(f"module 'ecgbench' has no attribute {name!r}")
