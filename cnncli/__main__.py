"""`python -m cnncli` and the `cnncli` script.

A static command makes tens of thousands of objects in a few tens of milliseconds, and
Python's garbage collector walks the young ones after every 700 new: a worked-out summary
of ResNet-50 runs it 47 times, finds 449 objects in cycles, and spends about 5 ms of the
command's 70 to 80 on it (measured on 2 cores, the process with and without `gc.disable()`).
Reference counting frees everything else a command drops, and the process ends in
milliseconds. So the collector starts off, and the CLI turns it back on for every command
that can run for long (every one but `cnncli.commands.STATIC_COMMANDS`).
"""

import gc


def run() -> None:
    gc.disable()
    from cnncli.commands import main

    main()


if __name__ == "__main__":
    run()
