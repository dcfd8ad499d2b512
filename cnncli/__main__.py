from cnncli.commands import main

main()
