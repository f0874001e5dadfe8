from aeflow.cli import main

main()
