from seismo.cli import main

main()
