"""``python -m mosaic_cli``: the ``mosaic`` command from the code of the current directory.

DVC stages call it this way, so that a checkout (a reproduce worktree) runs its own code rather
than the checkout the environment was installed from.
"""
from . import main

main(prog_name="mosaic")
