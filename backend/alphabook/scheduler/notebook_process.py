"""The process that executes one run's notebook with papermill, started by the scheduler as the run's owner.

It is its own process (and process group) so that the scheduler can run it under the owner's Unix account,
stop it at the job's timeout or on cancel by killing the whole group (papermill, the kernel launcher and the
kernel), and survive whatever the notebook does. papermill injects the parameters after the cell tagged
``parameters`` and saves the output notebook after every cell, so a run that is killed still leaves what it did.
Exit status: 0 when every cell ran, 1 when a cell raised (the output notebook says which), 2 for anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alphabook.scheduler.notebook_process")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--parameters", default="{}", help="JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # papermill logs each cell's output: the run log

    import papermill
    from papermill.exceptions import PapermillExecutionError

    # Our kernels live in their own network namespace: papermill must reach them over ipc sockets. Other kernels
    # (the platform's python3) skip that import, which costs a third of a second of a short run.
    manager = {}
    if args.kernel.startswith("alphabook-"):
        from alphabook.sandbox.kernelspecs import IpcKernelManager

        manager = {"kernel_manager_class": IpcKernelManager}
    try:
        papermill.execute_notebook(args.input, args.output, parameters=json.loads(args.parameters),
                                   kernel_name=args.kernel, cwd=args.cwd, progress_bar=False, log_output=True,
                                   request_save_on_cell_execute=True, **manager)
    except PapermillExecutionError as error:
        print(f"cell {error.exec_count} raised {error.ename}: {error.evalue}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
