"""The parts of the `make run` supervisor (scripts/run.py): its child processes, the banner it
prints and the --smoke checks. Standard library only."""
