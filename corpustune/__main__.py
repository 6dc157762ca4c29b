from corpustune.cli import main

main()
