from wlk_cli.cli import run

run()
