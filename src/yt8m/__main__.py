from yt8m.cli import main

main()
