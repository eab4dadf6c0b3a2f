"""`modelbox` command line: the client's commands, plus `serve` (the API) and
`export-schema` (the SDL).

The server and its dependencies are imported only by the commands that need them, so the
command line loads with the light client's dependencies alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from modelbox.cli.access import login, sync_command, tokens
from modelbox.cli.artifacts import artifacts
from modelbox.cli.experiments import experiments
from modelbox.cli.live import events, metrics
from modelbox.cli.models import models, versions
from modelbox.cli.policies import policies
from modelbox.cli.server import export_schema, serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """ModelBox: experiments, models, artifacts and metrics from the command line.

    The server and token come from MODELBOX_URL and MODELBOX_TOKEN, else from
    `modelbox login`."""


for command in (serve, export_schema, login, experiments, models, versions, artifacts):
    cli.add_command(command)
for command in (metrics, events, tokens, policies):
    cli.add_command(command)
cli.add_command(sync_command, "sync")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="modelbox",
            standalone_mode=False,
        )
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    return result if isinstance(result, int) else 0
