"""The ``mosaic`` command line. Each stage has its own module here; this one only assembles them.

Commands are thin: they parse arguments, call the library and print JSON or write files.
"""
from __future__ import annotations

import click


class MosaicGroup(click.Group):
    """Bad input (a scene, params.yaml, predictions, a checkpoint: mosaic_pipeline.errors.InputError) or a
    full disk (OutputError) is one line naming the file and field, exit status 2, never a traceback
    (docs/bad_input.md)."""

    def invoke(self, ctx: click.Context):
        from mosaic_pipeline.errors import InputError, OutputError

        try:
            return super().invoke(ctx)
        except (InputError, OutputError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=MosaicGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mosaic")
def main() -> None:
    """SpatialMosaic, reproducible: scenes -> visibility -> views -> QA -> model -> scores."""


def _register() -> None:
    # One line per stage module; each module exposes the click command(s) it adds.
    from . import audit, experiment, model, pipeline, qa, repro, review, scenes, validate, visibility

    main.add_command(scenes.scenes)
    main.add_command(pipeline.run)
    main.add_command(pipeline.ui)
    main.add_command(pipeline.worker)
    main.add_command(review.mlflow_ui)
    main.add_command(review.review_server)
    main.add_command(validate.validate)
    main.add_command(visibility.visibility)
    main.add_command(visibility.views)
    main.add_command(qa.qa)
    main.add_command(audit.audit)
    main.add_command(experiment.experiment)
    model.register(main)  # train, evaluate, score
    for command in repro.COMMANDS:  # reproduce, runs, dvc-remote, dvc-lock-check, plot
        main.add_command(command)


_register()
