"""`python -m cnncli` and the `cnncli` script.

A static command (a summary, flops, check) makes some 100,000 short-lived objects in 40 ms,
and Python's garbage collector, which runs after every 700 new ones, walks the young
ones each time and every object now and then: about 5 ms of a worked-out summary of
ResNet-50, measured on 2 cores. Reference counting frees what a command drops; what the
collector would add is cycles, a few kB in a process that ends in milliseconds. So the
collector starts off, and the CLI turns it back on for every command that runs for long
(every one but `cnncli.commands.STATIC_COMMANDS`).
"""

import gc


def run() -> None:
    gc.disable()
    from cnncli.commands import main

    main()


if __name__ == "__main__":
    run()
