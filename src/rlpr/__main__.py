from rlpr.cli import run

run()
