"""``python -m mosaic_model.experiment``: the experiment command without the orchestration layer (a GPU machine
that has neither Dagster nor the ``mosaic`` command: the data step must be done, its work folder carried there)."""
from .command import report_command, run_command
from .runs import cli

cli.add_command(run_command(None))
cli.add_command(report_command)
cli()
